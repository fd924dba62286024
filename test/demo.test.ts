import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { startRedisServer, type RedisServer } from '@prbot/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let dir: string;
let redis: RedisServer;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'prbot-demo-test-'));
  redis = await startRedisServer(); // its own server: the demo clears its key prefix first
});
afterAll(async () => {
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

/**
 * `pnpm demo` as a fresh machine runs it: a new HOME with no git identity or config, umask 077,
 * no locale, another time zone, and the checkout's data under a directory only root can enter
 * (mkdtemp makes it 0700, as /root is). The README promises exactly these outcomes.
 */
describe('pnpm demo on a fresh machine', () => {
  it('ends with the README outcomes: new HOME, no git identity, umask 077, no locale, a 0700 parent', async () => {
    const home = path.join(dir, 'home');
    await mkdir(home);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      TZ: 'Pacific/Kiritimati',
      REDIS_URL: redis.url,
      PRBOT_DEMO_DIR: path.join(dir, 'data', 'demo'),
      GIT_CONFIG_NOSYSTEM: '1',
    };
    const r = await execa('sh', ['-c', 'umask 077 && exec node --import tsx scripts/demo.ts'], { cwd: root, env, extendEnv: false, reject: false, all: true, timeout: 240_000 });
    expect(r.exitCode, r.all).toBe(0);
    const summary = JSON.parse(await readFile(path.join(dir, 'data', 'demo', 'summary.json'), 'utf8')) as { cycles: { outcome: string; gap_text: string }[] };
    const outcomes = Object.fromEntries(summary.cycles.map((c) => [c.gap_text.split(' ').slice(0, 3).join(' '), c.outcome]));
    expect(outcomes).toEqual({
      'Add a `truncate(text,': 'ok',
      'Add a `reverse(text)`': 'tests_failed',
      'Make sure `capitalize`': 'cycle_noop',
      'Run the test': 'proposal_rejected',
      'Add a `words(text)`': 'apply_failed',
    });
    // tests_failed for the planted bug, not for a test run that could not start.
    const reverse = summary.cycles.find((c) => c.outcome === 'tests_failed') as unknown as { reason: string };
    expect(reverse.reason).toContain('not ok 1 - reverse reverses characters');
  }, 300_000);
});
