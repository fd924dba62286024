// What a worker set reports for the dashboard's alerts: that it is alive (per queue it serves,
// gone at once on a clean close) and every job it finds stalled (a worker that died or froze
// holding it): prbot_workers_alive and prbot_stalled_jobs_total.
import { Worker } from 'bullmq';
import { afterEach, expect, it } from 'vitest';
import { workersAlive } from '@prbot/pipeline';
import { defaultPolicy } from '@prbot/policy';
import { createHarness, type Harness } from '@prbot/test-support';
import { startWorkers, type WorkerSet } from '../src/workers.ts';

let h: Harness | undefined;
let set: WorkerSet | undefined;
afterEach(async () => {
  await set?.close(1000);
  await h?.cleanup();
  h = set = undefined;
});

const until = async (cond: () => Promise<boolean>, ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
};

it('a worker set is counted alive for each queue it serves, and not once it closed', async () => {
  h = await createHarness();
  const rt = h.rt;
  set = startWorkers(rt, defaultPolicy, { queues: ['apply', 'pr'], reconcile: false });
  expect(await until(async () => (await workersAlive(rt.redis, rt.keys, 'apply', Date.now())) === 1, 5000)).toBe(true);
  expect(await workersAlive(rt.redis, rt.keys, 'pr', Date.now())).toBe(1);
  expect(await workersAlive(rt.redis, rt.keys, 'test', Date.now())).toBe(0);
  await set.close(1000);
  set = undefined;
  expect(await workersAlive(rt.redis, rt.keys, 'apply', Date.now())).toBe(0);
});

it('a job whose worker stopped renewing its lock is found stalled by a live worker, and counted per queue', async () => {
  h = await createHarness({ config: { worker: { lockDurationMs: 400, stalledIntervalMs: 300, maxStalledCount: 1 } } });
  const rt = h.rt;
  await rt.queues.apply.add('apply', { bogus: true }, { jobId: 'stall1' });
  // A "dead" worker: takes the job by hand (its lock is never renewed) and goes away.
  const dead = new Worker('apply', null, { connection: rt.redis, prefix: h.prefix, lockDuration: 400, autorun: false });
  const job = await dead.getNextJob('dead-worker-token');
  expect(job?.id).toBe('stall1');
  await dead.close();
  set = startWorkers(rt, defaultPolicy, { queues: ['apply'], reconcile: false });
  expect(await until(async () => Number(await rt.redis.hget(rt.keys.stalled(), 'apply')) === 1, 10_000)).toBe(true);
  expect(await rt.redis.hget(rt.keys.stalled(), 'test')).toBeNull();
});
