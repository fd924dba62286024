import { randomBytes } from 'node:crypto';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { createHarness, freePort, TEST_REDIS_URL, type Harness } from '@prbot/test-support';
import { startHealthServer } from '../src/health-server.ts';
import { watchQueues, type QueueWatch } from '../src/queue-watch.ts';

let h: Harness | undefined;
let watch: QueueWatch | undefined;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  watch?.stop();
  // A Worker cut off from Redis never finishes closing (the reason the watch does not await it).
  const closing = [...(watch?.workers ?? []), ...(watch?.retired ?? [])].map((w) => w.close(true).catch(() => {}));
  await Promise.race([Promise.all(closing), new Promise((r) => setTimeout(r, 2000))]);
  watch = undefined;
  for (const c of cleanups.splice(0)) await c().catch(() => {});
  await h?.cleanup();
  h = undefined;
});

const until = async (cond: () => Promise<boolean> | boolean, ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
};

/**
 * The fault: the Worker's own connections drop and can never come back (their ACL user is
 * switched off and its clients killed), while Redis itself and the process's other connections
 * stay fine — the shape of the blocking connection that never came back after a failover.
 */
async function workerOnItsOwnUser(h: Harness, processed: string[]) {
  const admin = new Redis(TEST_REDIS_URL);
  cleanups.push(async () => admin.quit());
  const user = `qw${randomBytes(4).toString('hex')}`;
  const pass = randomBytes(12).toString('hex');
  await admin.call('ACL', 'SETUSER', user, 'on', `>${pass}`, '~*', '&*', '+@all');
  cleanups.push(async () => admin.call('ACL', 'DELUSER', user));
  const url = new URL(TEST_REDIS_URL);
  const conn = new Redis({
    host: url.hostname,
    port: Number(url.port || 6379),
    username: user,
    password: pass,
    maxRetriesPerRequest: null,
    retryStrategy: () => 200,
  });
  conn.on('error', () => {});
  cleanups.push(async () => conn.disconnect());
  let made = 0;
  const create = (q: 'events', track: { onStart(): void; onEnd(): void }) => {
    // The first Worker runs on the user that will be cut off; a recreated one on the process's own connection.
    const connection = made++ === 0 ? conn : h.rt.redis;
    const w = new Worker(
      q,
      async (job) => {
        track.onStart();
        processed.push(job.id!);
        track.onEnd();
      },
      { connection, prefix: h.cfg.redis.prefix, drainDelay: 1 },
    );
    w.on('error', () => {});
    return w;
  };
  const cut = async () => {
    await admin.call('ACL', 'SETUSER', user, 'off');
    await admin.call('CLIENT', 'KILL', 'USER', user);
  };
  return { create, cut };
}

async function addJobs(h: Harness, n: number) {
  for (let i = 0; i < n; i++) await h.rt.queues.events.add('probe', { i }, { jobId: `probe-${i}` });
}

it('a queue whose Worker lost its connections for good is found not consuming and its Worker recreated; jobs flow again; logged and counted', async () => {
  h = await createHarness();
  const processed: string[] = [];
  const { create, cut } = await workerOnItsOwnUser(h, processed);
  const gaveUp: string[] = [];
  watch = watchQueues(h.rt, {
    queues: ['events'],
    create,
    everyMs: 200,
    stuckAfterMs: 1500,
    maxRecoveries: 3,
    giveUp: (r) => gaveUp.push(r),
  });
  await addJobs(h, 1);
  expect(await until(() => processed.length === 1, 10_000)).toBe(true);

  await cut();
  await h.rt.queues.events.add('probe', { i: 1 }, { jobId: 'probe-after-cut-1' });
  await h.rt.queues.events.add('probe', { i: 2 }, { jobId: 'probe-after-cut-2' });
  expect(await until(() => processed.length === 3, 20_000)).toBe(true);
  const health = watch.health()[0]!;
  expect(health.recoveries).toBe(1);
  expect(health.lastRecovery?.reason).toBe('stuck');
  expect(health.consuming).toBe(true);
  expect(gaveUp).toEqual([]);
  expect(
    await until(async () => (await h!.rt.redis.hget(h!.rt.keys.workerRecoveries(), 'events|stuck')) === '1', 5000),
  ).toBe(true);
}, 40_000);

it('positive control: the same fault without the watch leaves the jobs waiting', async () => {
  h = await createHarness();
  const processed: string[] = [];
  const { create, cut } = await workerOnItsOwnUser(h, processed);
  // The watch with a bound no test reaches: the fault is the same, only the recovery is off.
  watch = watchQueues(h.rt, {
    queues: ['events'],
    create,
    everyMs: 200,
    stuckAfterMs: 3_600_000,
    maxRecoveries: 3,
    giveUp: () => {},
  });
  await addJobs(h, 1);
  expect(await until(() => processed.length === 1, 10_000)).toBe(true);
  await cut();
  await h.rt.queues.events.add('probe', { i: 1 }, { jobId: 'probe-after-cut-1' });
  // Three times the bound the first test recovers within.
  await new Promise((r) => setTimeout(r, 6000));
  expect(processed.length).toBe(1);
  expect((await h.rt.queues.events.getJobCounts('waiting')).waiting).toBe(1);
  expect(watch.workers[0]!.isRunning()).toBe(true); // running, yet consuming nothing: the silent kind
}, 40_000);

it('a Worker whose loop ended (closed by something else than shutdown) is recreated; past maxRecoveries the watch gives up; the health endpoints say so', async () => {
  h = await createHarness();
  const processed: string[] = [];
  const gaveUp: string[] = [];
  let made = 0;
  const create = (q: 'events', track: { onStart(): void; onEnd(): void }) => {
    made++;
    const w = new Worker(
      q,
      async (job) => {
        track.onStart();
        processed.push(job.id!);
        track.onEnd();
      },
      { connection: h!.rt.redis, prefix: h!.cfg.redis.prefix, drainDelay: 1 },
    );
    w.on('error', () => {});
    return w;
  };
  watch = watchQueues(h.rt, {
    queues: ['events'],
    create,
    everyMs: 100,
    stuckAfterMs: 60_000,
    maxRecoveries: 1,
    giveUp: (r) => gaveUp.push(r),
  });
  let stopping = false;
  const server = await startHealthServer(
    {
      redis: h.rt.redis,
      workers: () => watch!.workers,
      queues: () => watch!.health(),
      started: () => true,
      stopping: () => stopping,
    },
    { host: '127.0.0.1', port: await freePort() },
  );
  cleanups.push(() => server.close());
  const get = async (p: string) => {
    const r = await fetch(`http://127.0.0.1:${server.port}${p}`);
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  expect(await until(() => watch!.workers[0]!.isRunning(), 5000)).toBe(true);
  expect((await get('/healthz')).status).toBe(200);
  expect((await get('/readyz')).status).toBe(200);

  await watch.workers[0]!.close();
  expect(await until(() => made === 2, 5000)).toBe(true);
  await addJobs(h, 2);
  expect(await until(() => processed.length === 2, 10_000)).toBe(true);
  expect(watch.health()[0]!.lastRecovery?.reason).toBe('not-running');
  expect((await get('/healthz')).status).toBe(200);

  // A second loss inside ten minutes, with maxRecoveries 1: the process is to exit.
  await watch.workers[0]!.close();
  expect(await until(() => gaveUp.length === 1, 5000)).toBe(true);
  expect(gaveUp[0]).toMatch(/queue events stopped consuming 2 times/);
  const hz = await get('/healthz');
  expect(hz.status).toBe(503);
  expect(String(hz.body.problems)).toMatch(/queue events is not consuming/);
  stopping = true;
  expect((await get('/readyz')).status).toBe(503);
}, 40_000);

it('a process whose own Redis connection ended for good gives up (the supervisor restarts it): no Worker can be made on it', async () => {
  h = await createHarness();
  const rt = h.runtime();
  const gaveUp: string[] = [];
  const create = (q: 'events') => {
    const w = new Worker(q, async () => {}, { connection: rt.redis, prefix: h!.cfg.redis.prefix, drainDelay: 1 });
    w.on('error', () => {});
    return w;
  };
  watch = watchQueues(rt, {
    queues: ['events'],
    create,
    everyMs: 200,
    stuckAfterMs: 1500,
    maxRecoveries: 3,
    giveUp: (r) => gaveUp.push(r),
  });
  await new Promise((r) => setTimeout(r, 500));
  expect(gaveUp).toEqual([]);
  rt.redis.disconnect(false); // status "end": ioredis will not reconnect it
  expect(await until(() => gaveUp.length === 1, 8000)).toBe(true);
  expect(gaveUp[0]).toMatch(/Redis connection of this process ended/);
}, 30_000);
