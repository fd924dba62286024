import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { QueueEvents, Worker, type Queue, type Job } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { stageJobId, stageRunner } from '@prbot/pipeline';
import { utcDay } from '@prbot/core';
import { createHarness, REPO_ROOT, type Harness, repoWithGaps } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { startWorkers } from '../../src/workers.ts';
import { apply } from '../../src/stages/apply.ts';
import { waitForOutcomes } from '../helpers.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const TSX = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const cli = (harness: Harness, ...args: string[]) =>
  execa(TSX, [path.join(REPO_ROOT, 'apps', 'producer', 'src', 'cli.ts'), ...args], {
    env: { PATH: process.env.PATH!, PRBOT_CONFIG: harness.configFile, PRBOT_JOB_KEY: process.env.PRBOT_JOB_KEY! },
    extendEnv: false,
    reject: false,
  });

describe('durability', () => {
  it('an apply that fails after handing over completes: the cycle belongs to test, nothing is enqueued or recorded twice', async () => {
    const repo = await repoWithGaps(['Add a `truncate(text, max)` helper']);
    h = await createHarness({ repo, config: { queues: { apply: { attempts: 1 } } } });
    const rt = h.rt;
    let crashes = 0;
    const crashingApply = stageRunner('apply', rt, defaultPolicy, async (ctx) => {
      await apply(ctx);
      crashes++;
      throw new Error('simulated failure right after the hand-over, on the last attempt');
    });
    const applyWorker = new Worker('apply', crashingApply, { connection: rt.redis, prefix: rt.cfg.redis.prefix });
    const others = startWorkers(rt, defaultPolicy, { queues: ['propose', 'test', 'pr', 'events'] });
    try {
      const report = await produce(rt, defaultPolicy);
      const id = report.lines[0]!.cycleId!;
      const [record] = await waitForOutcomes(rt, [id]);
      // Before: the last attempt recorded apply_failed while the pr stage opened the PR anyway.
      expect(record!.outcome).toBe('ok');
      expect(crashes).toBe(1);
      const applyJob = await rt.queues.apply.getJob(stageJobId(id, 'apply'));
      expect(await applyJob!.getState()).toBe('completed');
      const testJobs = (await rt.queues.test.getJobs()).filter((j) => j.data.cycleId === id);
      expect(testJobs).toHaveLength(1);
      expect(await readdir(path.join(h.dir, 'prs'))).toHaveLength(1);
      expect(await rt.redis.hget(rt.keys.stats(utcDay(Date.now())), 'ok')).toBe('1');
      expect(await rt.redis.hget(rt.keys.stats(utcDay(Date.now())), 'apply_failed')).toBeNull();
    } finally {
      await applyWorker.close();
      await others.close(2000);
    }
  });

  it('a stage job whose cycle has ended does nothing and says so in its log; one whose successor exists does nothing either', async () => {
    const repo = await repoWithGaps(['Add a `truncate(text, max)` helper']);
    h = await createHarness({ repo });
    const rt = h.rt;
    const workers = startWorkers(rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
    try {
      const id = (await produce(rt, defaultPolicy)).lines[0]!.cycleId!;
      const [record] = await waitForOutcomes(rt, [id]);
      expect(record!.outcome).toBe('ok');
      const events = new QueueEvents('test', { connection: rt.redis, prefix: rt.cfg.redis.prefix });
      try {
        // A crash after the record and before the ack: the same job runs again.
        const testJob = (await rt.queues.test.getJob(stageJobId(id, 'test')))!;
        await events.waitUntilReady(); // reading events before the retry, so its completion is seen
        await testJob.retry('completed');
        const again = await testJob.waitUntilFinished(events, 30_000);
        expect(again).toMatchObject({ skipped: 'cycle ended', outcome: 'ok' });
        expect((await rt.queues.test.getJobLogs(testJob.id!)).logs.at(-1)).toBe(
          `cycle ${id} already ended (ok); nothing to do`,
        );
        // The outcome stands once; nothing else ran.
        expect(await rt.redis.hget(rt.keys.stats(utcDay(Date.now())), 'ok')).toBe('1');
        // The record is written inside the pr job, just before it completes.
        for (let i = 0; i < 100 && (await rt.queues.pr.getJobState(stageJobId(id, 'pr'))) === 'active'; i++)
          await new Promise((r) => setTimeout(r, 100));
        expect(await rt.queues.pr.getJobState(stageJobId(id, 'pr'))).toBe('completed');
        expect(await readdir(path.join(h.dir, 'prs'))).toHaveLength(1);
      } finally {
        await events.close();
      }
    } finally {
      await workers.close(2000);
    }
  });

  it('pnpm produce run twice while cycles are in flight enqueues each gap once', async () => {
    h = await createHarness();
    const first = await cli(h, 'produce');
    expect(first.exitCode).toBe(0);
    expect(first.stdout.match(/^enqueued/gm)).toHaveLength(5);
    const second = await cli(h, 'produce');
    expect(second.exitCode).toBe(0);
    expect(second.stdout).not.toMatch(/^enqueued/m);
    expect(second.stdout.match(/^in_flight/gm)).toHaveLength(5);
    expect(await h.rt.queues.propose.count()).toBe(5);
  });

  it('pnpm pause test holds test jobs while the other queues run on; pnpm resume test lets them go', async () => {
    const repo = await repoWithGaps(['Add a `truncate(text, max)` helper']);
    h = await createHarness({ repo });
    const paused = await cli(h, 'pause', 'test');
    expect(paused.stdout.trim()).toBe('test: paused');
    expect(await h.rt.queues.test.isPaused()).toBe(true);
    expect(await h.rt.queues.propose.isPaused()).toBe(false);
    const workers = startWorkers(h.rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
    try {
      const id = (await produce(h.rt, defaultPolicy)).lines[0]!.cycleId!;
      const testJobId = stageJobId(id, 'test');
      // apply adds the test job before it completes itself: wait for apply's completion event.
      const applyEvents = new QueueEvents('apply', { connection: h.rt.redis, prefix: h.rt.cfg.redis.prefix });
      try {
        await applyEvents.waitUntilReady();
        const applyJob = await waitForJob(h.rt.queues.apply, stageJobId(id, 'apply'));
        await applyJob.waitUntilFinished(applyEvents, 15_000);
      } finally {
        await applyEvents.close();
      }
      // propose and apply ran while test is paused; the test job waits (the test worker is idle).
      expect(await h.rt.queues.apply.getJobState(stageJobId(id, 'apply'))).toBe('completed');
      // Back in line: `prioritized` for a cycle with a rank (fair shares), `waiting` for one without.
      expect(['waiting', 'prioritized']).toContain(await h.rt.queues.test.getJobState(testJobId));
      const st = await cli(h, 'status');
      expect(st.stdout).toMatch(/^test\s+paused\s+1\s/m);
      const resumed = await cli(h, 'resume', 'test');
      expect(resumed.stdout.trim()).toBe('test: resumed');
      const [record] = await waitForOutcomes(h.rt, [id]);
      expect(record!.outcome).toBe('ok');
    } finally {
      await workers.close(2000);
    }
  });

  // README: "pnpm pause test / pnpm resume test # stop and start a queue (default: all four)";
  // OPERATIONS.md: "pnpm pause (all four stages) … later pnpm resume". events and produce run on.
  it('pnpm pause with no queue pauses the four stages only; pnpm status shows it; pnpm resume lets them go', async () => {
    h = await createHarness();
    const paused = await cli(h, 'pause');
    expect(paused.stdout.trim().split('\n')).toEqual([
      'propose: paused',
      'apply: paused',
      'test: paused',
      'pr: paused',
    ]);
    const state = async () =>
      Object.fromEntries(
        await Promise.all(
          (['propose', 'apply', 'test', 'pr', 'events', 'produce'] as const).map(
            async (q) => [q, await h!.rt.queues[q].isPaused()] as const,
          ),
        ),
      );
    expect(await state()).toEqual({ propose: true, apply: true, test: true, pr: true, events: false, produce: false });
    const st = await cli(h, 'status');
    for (const q of ['propose', 'apply', 'test', 'pr'])
      expect(st.stdout).toMatch(new RegExp(`^${q}\\s+paused\\s`, 'm'));
    expect(st.stdout).not.toMatch(/^events\s+paused\s/m);
    await cli(h, 'resume');
    expect(Object.values(await state()).every((p) => p === false)).toBe(true);
  });

  it('an unknown queue name is refused before anything changes', async () => {
    h = await createHarness();
    const r = await cli(h, 'pause', 'test', 'tset');
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/unknown queue "tset"; known queues: propose, apply, test, pr, events, produce/);
    expect(await h.rt.queues.test.isPaused()).toBe(false);
  });

  it('a bad config refuses to start, naming the file and the field', async () => {
    h = await createHarness();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(
      h.configFile,
      JSON.stringify({
        repo: { url: h.bare },
        models: { providers: {}, propose: ['x/y'] },
        budget: { callsPerDay: 0 },
      }),
    );
    const r = await cli(h, 'status');
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(h.configFile);
    expect(r.stderr).toMatch(/budget\.callsPerDay/);
    expect(r.stderr).toMatch(/models\.propose\.0: unknown provider "x"/);
  });
});

/** The job once it exists (it is added by another process; no event announces a custom id). */
async function waitForJob(q: Queue, id: string): Promise<Job> {
  const events = new QueueEvents(q.name, { connection: q.opts.connection, prefix: q.opts.prefix });
  try {
    await events.waitUntilReady();
    const added = new Promise<void>((resolve) => events.on('added', ({ jobId }) => jobId === id && resolve()));
    if (!(await q.getJob(id))) await added;
    return (await q.getJob(id))!;
  } finally {
    await events.close();
  }
}
