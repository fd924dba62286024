import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { utcDay } from '@prbot/core';
import { stageRunnerDefences } from '@prbot/pipeline';
import { createHarness, startModelServer, type Harness, type ModelServer, repoWithGaps } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { startWorkers, waitForOutcomes } from '@prbot/worker';
import { recordRow } from './support.ts';

/**
 * The slots live on a 6 MiB tmpfs and the test fills it: the machine failed, not the change.
 * The test stage throws InfraError naming the disk (retried, then infra_failed), never a
 * tests_failed of the change's own making.
 */
let h: Harness;
let server: ModelServer;
let slots: string;

beforeAll(async () => {
  server = await startModelServer(() => ({
    content: JSON.stringify({
      summary: 'fills the disk',
      files: [
        {
          path: 'fill.cjs',
          is_new: true,
          content: "require('fs').writeFileSync('fill.bin', Buffer.alloc(64 << 20, 1));\n",
        },
      ],
    }),
  }));
  const repo = await repoWithGaps(['Gap 0 fills the disk']);
  h = await createHarness({
    repo,
    env: { PRBOT_TEST_KEY: 'k' },
    config: {
      models: {
        providers: { loop: { kind: 'openai', baseUrl: server.baseUrl, keyEnv: 'PRBOT_TEST_KEY' } },
        propose: ['loop/m'],
      },
      tests: { commands: [['node', 'fill.cjs']], timeoutMs: 30_000 },
      queues: { test: { concurrency: 1, attempts: 2 } },
    },
  });
  slots = path.join(h.rt.workdir, 'slots');
  await mkdir(slots, { recursive: true });
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=6m,mode=755', 'prbot-enospc', slots]);
});

afterAll(async () => {
  await execa('umount', ['-l', slots]).catch(() => {});
  await h?.cleanup();
  await server?.close();
});

it('a full disk under the slots is an infrastructure failure that names the disk, not tests_failed', async () => {
  const workers = startWorkers(h.rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
  try {
    const ids = (await produce(h.rt, defaultPolicy)).lines.map((l) => l.cycleId!);
    const [rec] = await waitForOutcomes(h.rt, ids, 120_000);
    const job = await h.rt.queues.test.getJob(`${rec!.cycle_id}-test`);
    // What the stage threw: InfraError, naming the file system that is full.
    expect(job?.failedReason).toMatch(/disk full: the file system of .*slots.* has \d+ KiB free/);
    expect(rec!.reason).toMatch(/disk full/);
    // Never the tests' verdict: the machine failed, so the cycle is infra_failed after its retries.
    expect(rec).toMatchObject({
      outcome: 'infra_failed',
      reason: expect.stringMatching(/^test gave up after its retries: disk full/),
    });
    // Counted, not assumed: a cycle without an outcome is lost; a second outcome (day stats, gap
    // history), a second event or a PR for a cycle that failed is a duplicate.
    const lost =
      ids.length -
      (await Promise.all(ids.map((id) => h.rt.redis.exists(h.rt.keys.outcome(id))))).reduce((a, n) => a + n, 0);
    const stats = await h.rt.redis.hgetall(h.rt.keys.stats(utcDay(Date.now())));
    const statTotal = Object.values(stats).reduce((a, b) => a + Number(b), 0);
    const history = await h.rt.redis.llen(h.rt.keys.history(rec!.gap_id!));
    const events = (await h.rt.queues.events.getJobs(['completed', 'waiting', 'active', 'delayed', 'failed'])).length;
    const prs = (await readdir(path.join(h.dir, 'prs')).catch(() => [] as string[])).length;
    const duplicates =
      Math.max(0, statTotal - ids.length) + Math.max(0, history - 1) + Math.max(0, events - ids.length) + prs;
    expect(stats).toEqual({ infra_failed: '1' });
    expect(lost).toBe(0);
    expect(duplicates).toBe(0);
    recordRow({
      fault: 'ENOSPC: slots on a 6 MiB tmpfs filled by the test',
      injections: 1,
      inFlight: ids.length,
      lost,
      duplicates,
      notes: `outcome ${rec!.outcome} (day stats ${JSON.stringify(stats)}): ${rec!.reason.slice(0, 120)}`,
    });
  } finally {
    await workers.close(2000);
  }
});

it('positive control: with the InfraError mapping off (stageRunnerDefences.infraOutcome), the same full disk ends the cycle tests_failed', async () => {
  // The same gap again, on the same full tmpfs (the first cycle left its slot's files there).
  const workers = startWorkers(h.rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
  stageRunnerDefences.infraOutcome = false;
  try {
    const ids = (await produce(h.rt, defaultPolicy)).lines.map((l) => l.cycleId!).filter(Boolean);
    expect(ids).toHaveLength(1);
    const [rec] = await waitForOutcomes(h.rt, ids, 120_000);
    console.log(`InfraError mapping off: ${rec!.outcome}: ${rec!.reason.slice(0, 120)}`);
    // The control: the machine's full disk blamed on the change.
    expect(rec!.reason).toMatch(/disk full/);
    expect(rec!.outcome).toBe('tests_failed');
  } finally {
    stageRunnerDefences.infraOutcome = true;
    await workers.close(2000);
  }
});
