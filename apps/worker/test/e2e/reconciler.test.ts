import { QueueEvents, Worker } from 'bullmq';
import { afterEach, expect, it } from 'vitest';
import { acquireGapLocks, getRecord, outcomeOf, stageJobId, reconcile } from '@prbot/pipeline';
import { newCycleId } from '@prbot/core';
import { createHarness, type Harness, repoWithGaps } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { startWorkers } from '../../src/workers.ts';
import { waitForOutcomes } from '../helpers.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

it('a gap lock with no job and no outcome (produce crashed before enqueueing) is ended infra_failed after two passes, and the gap is free', async () => {
  h = await createHarness({ config: { worker: { orphanGraceMs: 1000 } } });
  const rt = h.rt;
  const cycleId = newCycleId();
  await acquireGapLocks(rt.redis, rt.keys, [{ gapId: 'gap0001', cycleId }]);
  const t0 = Date.now();
  const first = await reconcile(rt, t0);
  expect(first.suspects).toBe(1);
  expect(await outcomeOf(rt.redis, rt.keys, cycleId)).toBeNull(); // one pass never acts: a hand-over may be in progress
  const second = await reconcile(rt, t0 + 1500);
  expect(second.ended).toEqual([{ cycleId, outcome: 'infra_failed' }]);
  expect(await outcomeOf(rt.redis, rt.keys, cycleId)).toBe('infra_failed');
  expect((await getRecord(rt.redis, rt.keys, cycleId))!.reason).toMatch(/no job of it exists/);
  expect(await rt.redis.exists(rt.keys.inflight('gap0001'))).toBe(0);
});

it('a cycle whose last job failed without recording is ended with the stage outcome; a cycle with a live job has its lock renewed', async () => {
  const repo = await repoWithGaps(['Add a `truncate(text, max)` helper']);
  h = await createHarness({ repo, config: { worker: { orphanGraceMs: 1000 }, queues: { propose: { attempts: 1 } } } });
  const rt = h.rt;
  const a = (await produce(rt, defaultPolicy)).lines[0]!;
  // a: its propose job fails with no outcome written (a worker that died while recording).
  const failing = new Worker(
    'propose',
    async () => {
      throw new Error('worker lost Redis while recording');
    },
    { connection: rt.redis, prefix: rt.cfg.redis.prefix },
  );
  const events = new QueueEvents('propose', { connection: rt.redis, prefix: rt.cfg.redis.prefix });
  await events.waitUntilReady();
  const job = (await rt.queues.propose.getJob(stageJobId(a.cycleId!, 'propose')))!;
  await expect(job.waitUntilFinished(events, 30_000)).rejects.toThrow(/lost Redis/);
  await Promise.all([failing.close(), events.close()]);
  expect(await outcomeOf(rt.redis, rt.keys, a.cycleId!)).toBeNull();
  // b: a live (delayed) job; its lock has a short TTL left.
  const b = newCycleId();
  await rt.redis.set(rt.keys.inflight('gapb'), b, 'EX', 60);
  await rt.queues.pr.add('pr', { cycleId: b }, { jobId: stageJobId(b, 'pr'), delay: 3_600_000 });

  const t0 = Date.now();
  await reconcile(rt, t0);
  const r = await reconcile(rt, t0 + 1500);
  expect(r.ended).toEqual([{ cycleId: a.cycleId, outcome: 'model_failed' }]);
  expect((await getRecord(rt.redis, rt.keys, a.cycleId!))!.reason).toMatch(
    /^reconciler: the propose job failed \(worker lost Redis/,
  );
  expect(await rt.redis.exists(rt.keys.inflight(a.gap.id))).toBe(0);
  expect(await outcomeOf(rt.redis, rt.keys, b)).toBeNull();
  expect(r.renewed).toBe(1);
  expect(await rt.redis.ttl(rt.keys.inflight('gapb'))).toBeGreaterThan(3600);
});

it('the reconciler runs as a job scheduler from startWorkers', async () => {
  h = await createHarness({ config: { worker: { reconcileEveryMs: 1000, orphanGraceMs: 1000 } } });
  const rt = h.rt;
  const cycleId = newCycleId();
  await acquireGapLocks(rt.redis, rt.keys, [{ gapId: 'gapx', cycleId }]);
  const workers = startWorkers(rt, defaultPolicy, { queues: ['apply'] });
  try {
    const [rec] = await waitForOutcomes(rt, [cycleId], 20_000);
    expect(rec!.outcome).toBe('infra_failed');
  } finally {
    await workers.close(1000);
  }
});
