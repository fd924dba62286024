import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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

/** Runs the demo as `pnpm demo` does, in `sh` with `setup` first; returns its summary's outcomes by gap. */
async function runDemo(
  name: string,
  setup: string,
  gitconfig?: string,
  args = '',
): Promise<{
  outcomes: Record<string, string>;
  reverseReason: string;
  byRepo: Record<string, Record<string, string>>;
}> {
  const home = path.join(dir, name, 'home');
  await mkdir(home, { recursive: true });
  if (gitconfig) await writeFile(path.join(home, '.gitconfig'), gitconfig);
  const data = path.join(dir, name, 'data', 'demo');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    TZ: 'Pacific/Kiritimati',
    REDIS_URL: redis.url,
    PRBOT_DEMO_DIR: data,
    GIT_CONFIG_NOSYSTEM: '1',
  };
  const r = await execa('sh', ['-c', `${setup} && exec node --import tsx scripts/demo.ts ${args}`], {
    cwd: root,
    env,
    extendEnv: false,
    reject: false,
    all: true,
    timeout: 240_000,
  });
  expect(r.exitCode, r.all).toBe(0);
  const summary = JSON.parse(await readFile(path.join(data, 'summary.json'), 'utf8')) as {
    cycles: { repo?: string; outcome: string; gap_text: string; reason: string }[];
  };
  const byRepo: Record<string, Record<string, string>> = {};
  for (const c of summary.cycles)
    (byRepo[c.repo ?? '?'] ??= {})[c.gap_text.split(' ').slice(0, 3).join(' ')] = c.outcome;
  return {
    byRepo,
    outcomes: Object.fromEntries(summary.cycles.map((c) => [c.gap_text.split(' ').slice(0, 3).join(' '), c.outcome])),
    reverseReason: summary.cycles.find((c) => c.outcome === 'tests_failed')?.reason ?? '',
  };
}

const README_OUTCOMES = {
  'Add a `truncate(text,': 'ok',
  'Add a `reverse(text)`': 'tests_failed',
  'Make sure `capitalize`': 'cycle_noop',
  'Run the test': 'proposal_rejected',
  'Add a `words(text)`': 'apply_failed',
};

/** `pnpm demo` as fresh machines run it; the README promises exactly these outcomes. */
describe('pnpm demo on a fresh machine', () => {
  it('new HOME without git identity, umask 077, no locale, the data under a 0700 directory (as /root is)', async () => {
    // mkdtemp made `dir` 0700: the test uid cannot enter it, so the sandbox check fails there.
    const r = await runDemo('bare', 'umask 077');
    expect(r.outcomes).toEqual(README_OUTCOMES);
    // tests_failed for the planted bug, not for a test run that could not start.
    expect(r.reverseReason).toContain('not ok 1 - reverse reverses characters');
  }, 300_000);

  it("a user's git config that signs every commit (with a gpg that fails), another default branch and hooks", async () => {
    const gitconfig =
      '[commit]\n\tgpgSign = true\n[tag]\n\tgpgSign = true\n[gpg]\n\tprogram = /bin/false\n[init]\n\tdefaultBranch = trunk\n[core]\n\thooksPath = /nonexistent\n';
    const r = await runDemo('gitconfig', 'true', gitconfig);
    expect(r.outcomes).toEqual(README_OUTCOMES);
    expect(r.reverseReason).toContain('not ok 1 - reverse reverses characters');
  }, 300_000);

  it('`pnpm demo --repos 2`: one deployment, two repositories, each with its own five outcomes and PRs', async () => {
    const r = await runDemo('repos', 'true', undefined, '--repos 2');
    expect(r.byRepo).toEqual({ demo: README_OUTCOMES, 'demo-2': README_OUTCOMES });
    const prs = path.join(dir, 'repos', 'data', 'demo', 'prs');
    for (const repo of ['demo', 'demo-2'])
      expect((await readdir(path.join(prs, repo))).filter((f) => f.endsWith('.json'))).toHaveLength(1);
  }, 300_000);

  it('two checkouts running the demo at once on one Redis (a shared team server): each gets its own outcomes', async () => {
    const [a, b] = await Promise.all([runDemo('one', 'true'), runDemo('two', 'true')]);
    expect(a.outcomes).toEqual(README_OUTCOMES);
    expect(b.outcomes).toEqual(README_OUTCOMES);
  }, 300_000);
});
