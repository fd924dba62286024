import { execa } from 'execa';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAll, DEMO_REPO, makeUpstream, REPO_ROOT, TEST_REDIS_URL } from '@prbot/test-support';

// Every `--json` command of the real CLI, in a situation that logs a warning (a PRD line over the
// line cap: produce warns about it), parsed with JSON.parse from stdout alone: `| jq` must work.
let dir: string;
let config: string;
const prefix = `{prbot-json-${process.pid}}`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-json-'));
  const { checkout, bare } = await makeUpstream(DEMO_REPO, path.join(dir, 'repo'));
  await appendFile(path.join(checkout, 'docs/PRD.md'), `\n- [ ] ${'a very long line '.repeat(200)} [bot-eligible]\n`);
  await commitAll(checkout, 'a PRD line over the cap', true);
  config = path.join(dir, 'prbot.config.json');
  await writeFile(
    config,
    JSON.stringify({
      repo: { url: bare },
      redis: { url: TEST_REDIS_URL, prefix },
      workdir: path.join(dir, 'work'),
      records: { dir: path.join(dir, 'records') },
      models: { providers: { l: { kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1' } }, propose: ['l/m'] },
      forge: { kind: 'local' },
    }),
  );
});

afterAll(async () => {
  await execa('redis-cli', ['-u', TEST_REDIS_URL, '--scan', '--pattern', `${prefix}*`]).then(async (r) => {
    const keys = r.stdout.split('\n').filter(Boolean);
    if (keys.length) await execa('redis-cli', ['-u', TEST_REDIS_URL, 'del', ...keys]);
  });
  await rm(dir, { recursive: true, force: true });
});

async function cli(...args: string[]) {
  // A terminal-free run, as in a pipe: `prbot produce --json | jq`.
  return execa(
    'node',
    ['--import', 'tsx', path.join(REPO_ROOT, 'apps/producer/src/cli.ts'), ...args, '--config', config],
    {
      cwd: REPO_ROOT,
      reject: false,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PRBOT_JOB_KEY: 'k'.repeat(64) },
      extendEnv: false,
    },
  );
}

describe('--json writes only JSON to stdout; logs go to stderr', () => {
  it('produce --dry-run --json with a PRD warning: stdout parses, the warning is on stderr', async () => {
    const r = await cli('produce', '--dry-run', '--json');
    expect(r.stderr).toMatch(/over the cap of 2000: skipped/); // the warning happened …
    expect(r.stdout).not.toMatch(/over the cap/); // … and not on stdout
    const report = JSON.parse(r.stdout) as { lines: unknown[] };
    expect(report.lines.length).toBeGreaterThan(0);
  });

  it('status, pause, resume, produce --every/--unschedule, doctor --json: stdout is one JSON document each', async () => {
    // In parallel: each is a process start (tsx), most of this file's time.
    const runs = [
      ['status'],
      ['pause', 'propose'],
      ['resume', 'propose'],
      ['produce', '--every', '1h'],
      ['produce', '--unschedule'],
      ['doctor'],
    ];
    const results = await Promise.all(runs.map((args) => cli(...args, '--json')));
    for (const [i, r] of results.entries())
      expect(
        () => JSON.parse(r.stdout),
        `stdout of ${runs[i]!.join(' ')}: ${r.stdout}\nstderr: ${r.stderr}`,
      ).not.toThrow();
  });
});
