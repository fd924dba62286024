import { execa } from 'execa';
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gapId, newCycleId, type CycleRecord, type ProposeJob } from '@prbot/core';
import { acquireTestUser, runCommand } from '@prbot/sandbox';
import { jobKeyFrom, signJob, stageJobId } from '@prbot/pipeline';
import { createHarness, repoWithGaps, startModelServer, type Harness, type ModelServer } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { startWorkers, waitForOutcomes } from '@prbot/worker';

/**
 * A repository pinning its package manager (`"packageManager": "pnpm@9.15.0"`) while the worker
 * has another pnpm installed: pnpm 10 switches to the pinned version by itself, which without a
 * network hangs until the timeout. The test stage, with the real pnpm in the real sandbox, either
 * fetches it (setup has a network) or turns the switch off with a warning, and says which ran.
 */
const PIN = 'pnpm@9.15.0';
const PACKAGE = JSON.stringify(
  {
    name: 'pm-fixture',
    version: '1.0.0',
    private: true,
    type: 'module',
    packageManager: PIN,
    scripts: { test: 'node --test' },
  },
  null,
  2,
);
const LOCK =
  "lockfileVersion: '9.0'\n\nsettings:\n  autoInstallPeers: true\n  excludeLinksFromLockfile: false\n\nimporters:\n\n  .: {}\n";
const TEST =
  "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\ntest('adds', () => assert.equal(2 + 3, 5));\n";

const open: { h: Harness; server: ModelServer }[] = [];
afterAll(async () => {
  for (const o of open) {
    await o.h.cleanup();
    await o.server.close();
  }
});

async function cycle(network: 'none' | 'setup'): Promise<{ record: CycleRecord; log: string }> {
  const server = await startModelServer(() => ({
    content: JSON.stringify({ summary: 'a test', files: [{ path: 'test/sum.test.js', is_new: true, content: TEST }] }),
  }));
  const repo = await repoWithGaps(['Gap 0']);
  await writeFile(path.join(repo, 'package.json'), PACKAGE);
  await writeFile(path.join(repo, 'pnpm-lock.yaml'), LOCK);
  const h = await createHarness({
    repo,
    // pnpm runs scripts through sh with the tests' PATH: without one, `node` is not found.
    env: { PRBOT_TEST_KEY: 'k', PATH: '/usr/bin:/bin' },
    config: {
      models: {
        providers: { loop: { kind: 'openai', baseUrl: server.baseUrl, keyEnv: 'PRBOT_TEST_KEY' } },
        propose: ['loop/m'],
      },
      tests: {
        setup: [['pnpm', 'install', '--frozen-lockfile']],
        commands: [['pnpm', 'test']],
        timeoutMs: 60_000,
        setupTimeoutMs: 60_000,
        sandbox: 'bwrap',
        network,
      },
      queues: { test: { concurrency: 1, attempts: 1 } },
      forge: { kind: 'local', maxOpen: 100, maxPerHour: 100 },
    },
  });
  open.push({ h, server });
  const workers = startWorkers(h.rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
  try {
    await h.rt.mirror.sync();
    const job: ProposeJob = {
      cycleId: newCycleId(),
      gap: { id: gapId('Gap 0'), text: 'Gap 0', line: 3 },
      baseCommit: await h.rt.mirror.resolve('main'),
      createdAt: Date.now(),
      dryRun: true,
      notes: [],
    };
    await h.rt.queues.propose.add('propose', signJob('propose', job, jobKeyFrom(h.rt.env, h.cfg.jobs.keyEnv)), {
      jobId: stageJobId(job.cycleId, 'propose'),
    });
    const record = (await waitForOutcomes(h.rt, [job.cycleId], 150_000))[0]!;
    const log = (await h.rt.queues.test.getJobLogs(`${job.cycleId}-test`)).logs.join('\n');
    return { record, log };
  } finally {
    await workers.close(2000);
  }
}

describe('a repository pinning its package manager', () => {
  it('setup without a network: the switch is off with a warning, the installed pnpm runs, the tests pass', async () => {
    const { record, log } = await cycle('none');
    expect(record.outcome, record.tests.map((t) => t.tail).join('\n----\n')).toBe('ok');
    expect(record.tests[0]).toMatchObject({ phase: 'setup', argv: ['pnpm', '--version'], ok: true });
    const said =
      /\[prbot\] package manager: pnpm (\d+\.\d+\.\d+) ran; package\.json pins pnpm@9\.15\.0, but setup has no network \(tests\.network "none"\): the version switch is off/;
    expect(record.tests[0]!.tail).toMatch(said);
    expect(said.exec(record.tests[0]!.tail)![1]).not.toBe('9.15.0');
    expect(log).toMatch(said); // the job's log says it too
    expect(record.tests.map((t) => t.argv.join(' '))).toEqual([
      'pnpm --version',
      'pnpm install --frozen-lockfile',
      'pnpm test',
    ]);
  });

  it('setup with a network: the pinned version is fetched, or, where the registry cannot give it (no signature), the installed one runs and the log says why', async () => {
    const { record, log } = await cycle('setup');
    expect(record.outcome, record.reason).toBe('ok');
    const probe = record.tests.filter((t) => t.argv.join(' ') === 'pnpm --version').at(-1)!;
    expect(probe.tail).toMatch(
      /\[prbot\] package manager: pnpm (9\.15\.0 ran; package\.json pins pnpm@9\.15\.0: fetched during setup|\d+\.\d+\.\d+ ran; package\.json pins pnpm@9\.15\.0, which could not be fetched during setup \(.+\): the version switch is off)/,
    );
    if (/could not be fetched/.test(probe.tail)) expect(log).toMatch(/\[prbot\] pnpm@9\.15\.0 could not be fetched: /);
  });

  it('control: the same install with the switch left on and no network never gets to the tests', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'prbot-pm-'));
    await chmod(root, 0o755);
    const [work, home, tmp] = ['work', 'home', 'tmp'].map((d) => path.join(root, d)) as [string, string, string];
    for (const d of [work, home, tmp]) await mkdir(d);
    await writeFile(path.join(work, 'package.json'), PACKAGE);
    await writeFile(path.join(work, 'pnpm-lock.yaml'), LOCK);
    const user = await acquireTestUser('auto');
    try {
      await execa('chown', ['-R', `${user!.uid}:${user!.gid}`, root]);
      const r = await runCommand('setup', ['pnpm', 'install', '--frozen-lockfile'], {
        cwd: work,
        env: { PATH: '/usr/bin:/bin', HOME: '/prbot/home', TMPDIR: '/tmp', CI: 'true' },
        timeoutMs: 8000,
        tailBytes: 4096,
        user,
        sandbox: { workTree: work, home, tmp, network: false, limits: { processes: 512 }, toolDirs: [], hide: [] },
      });
      expect(r.ok).toBe(false);
      expect(r.tail).not.toMatch(/Done in/);
    } finally {
      await user?.release();
      await execa('rm', ['-rf', root]);
    }
  });
});
