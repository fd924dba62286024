import path from 'node:path';
import { PassThrough } from 'node:stream';
import { execa } from 'execa';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import {
  onFault,
  RedisSettingsError,
  stageJobId,
  type Runtime,
  MAINTENANCE_QUEUE,
  RECONCILE_SCHEDULER_ID,
} from '@prbot/pipeline';
import {
  createHarness,
  REPO_ROOT,
  repoWithGaps,
  startModelServer,
  startRedisServer,
  type Harness,
  type ModelServer,
  type RedisServer,
} from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { startWorkers, type WorkerSet, waitForOutcomes } from '@prbot/worker';
import { gapLines, gapNumber, passingAnswer } from './answers.ts';
import { NODE_TSX, recordRow, SECRET_ENV, spawnWorker, until, type WorkerChild } from './support.ts';

/**
 * Redis-wide faults, each on a redis-server of the test's own (never the shared server's config):
 * an evicting maxmemory-policy, OOM exactly at produce's enqueue, and a restart that loses every
 * key (no persistence). Each asserts a named error and nothing dropped without a word.
 */
let h: Harness | undefined;
let server: ModelServer | undefined;
let redis: RedisServer | undefined;
let set: WorkerSet | undefined;
const children: WorkerChild[] = [];
const offs: (() => void)[] = [];
afterEach(async () => {
  for (const off of offs.splice(0)) off();
  for (const c of children.splice(0)) {
    c.child.kill('SIGKILL');
    await c.child.catch(() => {});
  }
  await set?.close(1000).catch(() => {});
  await h?.cleanup().catch(() => {});
  await server?.close();
  await redis?.stop('SIGKILL');
  h = server = redis = set = undefined;
});

async function world(cycles: number, o: { redisArgs?: string[]; logTo?: NodeJS.WritableStream } = {}) {
  redis = await startRedisServer({ args: o.redisArgs ?? [] });
  server = await startModelServer((req) => ({ ...passingAnswer(gapNumber(req)), delayMs: 50 }));
  const repo = await repoWithGaps(gapLines(cycles));
  h = await createHarness({
    repo,
    env: SECRET_ENV,
    logTo: o.logTo,
    config: {
      redis: { url: redis.url },
      models: {
        providers: { loop: { kind: 'openai', baseUrl: server.baseUrl, keyEnv: 'PRBOT_TEST_KEY' } },
        propose: ['loop/m'],
      },
      budget: { callsPerDay: 1000, perCycle: { calls: 20 } },
      policy: { maxGapsPerRun: 100 },
      forge: { kind: 'local', maxOpen: 1000, maxPerHour: 1000 },
      worker: {
        lockDurationMs: 1500,
        stalledIntervalMs: 500,
        maxStalledCount: 5,
        reconcileEveryMs: 1000,
        orphanGraceMs: 3000,
      },
      queues: { propose: { limiter: null }, pr: { limiter: null } },
    },
  });
  return { h, rt: h.rt, redis, server };
}

async function jobCount(rt: Runtime): Promise<number> {
  return (await rt.queues.propose.getJobs(['waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed']))
    .length;
}

async function inflightLocks(rt: Runtime, gapIds: string[]): Promise<number> {
  return (await Promise.all(gapIds.map((g) => rt.redis.exists(rt.keys.inflight(g))))).reduce((a, b) => a + b, 0);
}

it.each(['allkeys-lru', 'volatile-lru', 'allkeys-random'])(
  'maxmemory-policy %s: the worker refuses to start and produce refuses to enqueue, both naming the policy',
  async (policy) => {
    const w = await world(3, { redisArgs: ['--maxmemory-policy', policy] });
    const worker = spawnWorker(w.h.configFile, 'propose,apply,test,pr,events');
    children.push(worker);
    const r = await worker.child;
    const out = worker.output();
    const refused = await produce(w.rt, defaultPolicy).then(
      () => null,
      (e: Error) => e,
    );
    const jobs = await jobCount(w.rt);
    const doc = await execa(
      NODE_TSX[0],
      [
        ...NODE_TSX.slice(1),
        path.join(REPO_ROOT, 'apps', 'producer', 'src', 'cli.ts'),
        'doctor',
        '--config',
        w.h.configFile,
      ],
      { cwd: REPO_ROOT, reject: false, env: { PATH: process.env.PATH! }, extendEnv: false },
    );
    recordRow({
      fault: `Redis with maxmemory-policy ${policy} (evicting) at start`,
      injections: 1,
      inFlight: 0,
      lost: 0,
      duplicates: 0,
      notes: `worker exit ${r.exitCode}; produce: ${refused ? refused.name : 'ENQUEUED'}; ${jobs} propose jobs`,
    });
    expect(r.exitCode).toBe(1);
    expect(out).toContain(`maxmemory-policy ${policy}`);
    expect(out).toContain('noeviction');
    expect(refused).toBeInstanceOf(RedisSettingsError);
    expect(refused!.message).toContain(`maxmemory-policy ${policy}`);
    expect(jobs).toBe(0);
    expect(doc.stdout).toMatch(new RegExp(`FAIL redis: Redis 127\\.0\\.0\\.1:\\d+ runs maxmemory-policy ${policy}`));
    expect(doc.exitCode).toBe(1);
  },
  120_000,
);

it('maxmemory-policy switched to allkeys-lru (CONFIG SET) while workers run: each check logs an error naming it', async () => {
  let log = '';
  const sink = new PassThrough();
  sink.on('data', (c) => (log += String(c)));
  const w = await world(1, { logTo: sink });
  set = startWorkers(w.rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
  await set.redisWatch.ready;
  const admin = new Redis(w.redis.url);
  await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
  await admin.quit();
  await set.redisWatch.check();
  expect(log).toMatch(/runs maxmemory-policy allkeys-lru.*set maxmemory-policy noeviction/);
}, 120_000);

/** Redis refuses every write from now on (noeviction, maxmemory below what is used). */
async function oomNow(url: string): Promise<() => Promise<void>> {
  const admin = new Redis(url);
  await admin.config('SET', 'maxmemory', '1');
  const refused = await admin.set('oom-probe', 'x').then(
    () => false,
    (e: Error) => /OOM/.test(e.message),
  );
  expect(refused).toBe(true);
  return async () => {
    await admin.config('SET', 'maxmemory', '0');
    await admin.quit();
  };
}

it.each(['the gap locks', 'the propose jobs (addBulk)'] as const)(
  'OOM at produce: %s refused → every picked gap reported not_enqueued, no lock left; the next produce enqueues each once',
  async (at) => {
    const CYCLES = 4;
    const w = await world(CYCLES);
    const q = w.rt.queues.propose;
    let lift: (() => Promise<void>) | undefined;
    const origBulk = q.addBulk.bind(q);
    if (at === 'the propose jobs (addBulk)') {
      q.addBulk = (async (jobs: Parameters<typeof origBulk>[0]) => {
        lift ??= await oomNow(w.redis.url);
        return origBulk(jobs);
      }) as typeof q.addBulk;
    } else {
      // Everything produce reads before the locks is read-only; the first write is the lock script.
      lift = await oomNow(w.redis.url);
    }
    const report = await produce(w.rt, defaultPolicy, { redisWaitMs: 1500 }).catch((e: Error) => e);
    await lift?.();
    q.addBulk = origBulk;
    const lines = report instanceof Error ? [] : report.lines;
    const gapIds = lines.map((l) => l.gap.id);
    const left = await inflightLocks(w.rt, gapIds);
    const jobs = await jobCount(w.rt);
    // Redis writes again: the same gaps are enqueued now, and each cycle ends once.
    const again = await produce(w.rt, defaultPolicy);
    const ids = again.lines.filter((l) => l.action === 'enqueued').map((l) => l.cycleId!);
    set = startWorkers(w.rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
    const records = await waitForOutcomes(w.rt, ids, 120_000);
    recordRow({
      fault: `Redis OOM at produce's enqueue (${at})`,
      injections: 1,
      inFlight: CYCLES,
      lost: CYCLES - records.filter((r) => r?.outcome === 'ok').length,
      duplicates: Math.max(0, (await jobCount(w.rt)) - CYCLES),
      notes: `produce: ${report instanceof Error ? `threw ${report.message.slice(0, 80)}` : `${lines.filter((l) => l.action === 'not_enqueued').length} reported not_enqueued, ${report.reason}`}; ${left} locks left, ${jobs} jobs; next produce: ${ids.length} enqueued, outcomes ${records.map((r) => r?.outcome).join(',')}`,
    });
    expect(report).not.toBeInstanceOf(Error);
    expect(lines.map((l) => l.action)).toEqual(Array(CYCLES).fill('not_enqueued'));
    for (const l of lines) expect(l.why).toMatch(/Redis refused .*OOM/);
    expect((report as { notEnqueued?: number }).notEnqueued).toBe(CYCLES);
    expect(left).toBe(0);
    expect(jobs).toBe(0);
    expect(ids).toHaveLength(CYCLES);
    expect(records.map((r) => r?.outcome)).toEqual(Array(CYCLES).fill('ok'));
  },
  200_000,
);

it('OOM at addBulk that lifts within the wait: produce waits it out and enqueues each gap once', async () => {
  const CYCLES = 3;
  const w = await world(CYCLES);
  const q = w.rt.queues.propose;
  const origBulk = q.addBulk.bind(q);
  let lifted: Promise<void> | undefined;
  q.addBulk = (async (jobs: Parameters<typeof origBulk>[0]) => {
    if (!lifted) {
      const lift = await oomNow(w.redis.url);
      lifted = new Promise((r) => setTimeout(r, 1500)).then(lift);
    }
    return origBulk(jobs);
  }) as typeof q.addBulk;
  const report = await produce(w.rt, defaultPolicy, { redisWaitMs: 30_000 });
  await lifted;
  expect(report.lines.map((l) => l.action)).toEqual(Array(CYCLES).fill('enqueued'));
  expect(await jobCount(w.rt)).toBe(CYCLES);
}, 120_000);

it('Redis restarted without persistence mid-run (every key lost): the workers log RedisDataLostError and restore the reconciler schedule', async () => {
  let log = '';
  const sink = new PassThrough();
  sink.on('data', (c) => (log += String(c)));
  const w = await world(3, { logTo: sink });
  const report = await produce(w.rt, defaultPolicy);
  const ids = report.lines.map((l) => l.cycleId!);
  let restarted: Promise<void> | undefined;
  offs.push(
    onFault('stage-start', async (info) => {
      if (info.stage !== 'apply' || restarted) return;
      restarted = (async () => {
        const port = redis!.port;
        await redis!.stop('SIGKILL');
        redis = await startRedisServer({ port });
      })();
      await restarted;
    }),
  );
  set = startWorkers(w.rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
  await set.redisWatch.ready;
  expect(await until(async () => restarted !== undefined, 60_000)).toBe(true);
  await restarted;
  const named = await until(
    async () => {
      await set!.redisWatch.check();
      return /RedisDataLostError/.test(log) && /Redis lost prbot's data/.test(log);
    },
    60_000,
    200,
  );
  const maint = new Queue(MAINTENANCE_QUEUE, { connection: w.rt.redis, prefix: w.rt.cfg.redis.prefix });
  const scheduled = await until(
    async () => (await maint.getJobScheduler(RECONCILE_SCHEDULER_ID)) !== undefined,
    30_000,
    200,
  );
  await maint.close();
  const outcomes = await Promise.all(ids.map((id) => w.rt.redis.get(w.rt.keys.outcome(id))));
  const jobsLeft = (
    await Promise.all(
      ids.map((id) =>
        Promise.all((['propose', 'apply', 'test', 'pr'] as const).map((s) => w.rt.queues[s].getJob(stageJobId(id, s)))),
      ),
    )
  )
    .flat()
    .filter(Boolean).length;
  const wiped = outcomes.filter((x) => !x).length;
  recordRow({
    fault: 'Redis SIGKILL + restart WITHOUT persistence (every key lost) while a cycle is in apply',
    injections: 1,
    inFlight: ids.length,
    // Lost silently: cycles wiped with no named error covering them.
    lost: named ? 0 : wiped,
    duplicates: 0,
    notes: `${wiped} of ${ids.length} cycles without an outcome in Redis afterwards, all covered by the RedisDataLostError logged (${named}); reconciler schedule restored: ${scheduled}; ${jobsLeft} stage jobs of those cycles left in Redis`,
  });
  expect(named).toBe(true);
  expect(scheduled).toBe(true);
}, 200_000);

it('positive control: maxmemory-policy allkeys-random with the policy check off (PRBOT_FAULT=no-policy-check) → keys evicted, cycles lost without an error', async () => {
  process.env.PRBOT_FAULT = 'no-policy-check';
  offs.push(() => delete process.env.PRBOT_FAULT);
  const CYCLES = 6;
  const w = await world(CYCLES, { redisArgs: ['--maxmemory-policy', 'allkeys-random'] });
  const worker = spawnWorker(w.h.configFile, 'events', { ...SECRET_ENV, PRBOT_FAULT: 'no-policy-check' });
  children.push(worker);
  const report = await produce(w.rt, defaultPolicy);
  const ids = report.lines.filter((l) => l.action === 'enqueued').map((l) => l.cycleId!);
  // Memory full from here on: every write evicts a random key (a job, a lock, a marker).
  const admin = new Redis(w.redis.url);
  const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
  await admin.config('SET', 'maxmemory', String(used));
  set = startWorkers(w.rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
  const records = await waitForOutcomes(w.rt, ids, 40_000).catch(() =>
    Promise.all(ids.map((id) => w.rt.redis.get(w.rt.keys.outcome(id)))),
  );
  const evicted = Number(/evicted_keys:(\d+)/.exec(await admin.info('stats'))![1]);
  // Memory free again, so the workers can close (closing writes to Redis too).
  await admin.config('SET', 'maxmemory', '0');
  await admin.quit();
  const ended = records.filter(Boolean).length;
  console.info(
    `control no-policy-check: worker still running ${worker.child.exitCode === null}; produce enqueued ${ids.length}; ${evicted} keys evicted; ${CYCLES - ended} of ${CYCLES} cycles without an outcome after 40 s`,
  );
  // The start check passed: the worker runs (the defended one exits 1 at once).
  expect(worker.child.exitCode).toBeNull();
  expect(ids).toHaveLength(CYCLES);
  expect(evicted).toBeGreaterThan(0);
  expect(ended).toBeLessThan(CYCLES);
}, 200_000);

it('positive control: Redis restarted without persistence with the epoch check off (PRBOT_FAULT=no-data-epoch) → cycles wiped, nothing named', async () => {
  process.env.PRBOT_FAULT = 'no-data-epoch';
  offs.push(() => delete process.env.PRBOT_FAULT);
  let log = '';
  const sink = new PassThrough();
  sink.on('data', (c) => (log += String(c)));
  const w = await world(3, { logTo: sink });
  const ids = (await produce(w.rt, defaultPolicy)).lines.map((l) => l.cycleId!);
  let restarted: Promise<void> | undefined;
  offs.push(
    onFault('stage-start', async (info) => {
      if (info.stage !== 'apply' || restarted) return;
      restarted = (async () => {
        const port = redis!.port;
        await redis!.stop('SIGKILL');
        redis = await startRedisServer({ port });
      })();
      await restarted;
    }),
  );
  set = startWorkers(w.rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
  await set.redisWatch.ready;
  expect(await until(async () => restarted !== undefined, 60_000)).toBe(true);
  await restarted;
  // As many checks as the defended run needs to name the loss, and more.
  for (let i = 0; i < 10; i++) {
    await set.redisWatch.check();
    await new Promise((r) => setTimeout(r, 300));
  }
  const maint = new Queue(MAINTENANCE_QUEUE, { connection: w.rt.redis, prefix: w.rt.cfg.redis.prefix });
  const scheduled = (await maint.getJobScheduler(RECONCILE_SCHEDULER_ID)) !== undefined;
  await maint.close();
  const outcomes = await Promise.all(ids.map((id) => w.rt.redis.get(w.rt.keys.outcome(id))));
  const wiped = outcomes.filter((x) => !x).length;
  const named = /RedisDataLostError|Redis lost prbot's data/.test(log);
  console.info(
    `control no-data-epoch: ${wiped} of ${ids.length} cycles wiped; RedisDataLostError logged: ${named}; reconciler schedule restored: ${scheduled}`,
  );
  expect(wiped).toBeGreaterThan(0);
  expect(named).toBe(false);
  expect(scheduled).toBe(false);
}, 200_000);

it('positive control: OOM at addBulk with the locks of absent jobs kept (PRBOT_FAULT=no-lock-giveback) → gaps held by cycles without a job', async () => {
  process.env.PRBOT_FAULT = 'no-lock-giveback';
  offs.push(() => delete process.env.PRBOT_FAULT);
  const CYCLES = 4;
  const w = await world(CYCLES);
  const q = w.rt.queues.propose;
  let lift: (() => Promise<void>) | undefined;
  const origBulk = q.addBulk.bind(q);
  q.addBulk = (async (jobs: Parameters<typeof origBulk>[0]) => {
    lift ??= await oomNow(w.redis.url);
    return origBulk(jobs);
  }) as typeof q.addBulk;
  const report = await produce(w.rt, defaultPolicy, { redisWaitMs: 1500 });
  await lift?.();
  q.addBulk = origBulk;
  const gapIds = report.lines.map((l) => l.gap.id);
  const left = await inflightLocks(w.rt, gapIds);
  const jobs = await jobCount(w.rt);
  const again = await produce(w.rt, defaultPolicy);
  const enqueued = again.lines.filter((l) => l.action === 'enqueued').length;
  const held = again.lines.filter((l) => l.action === 'in_flight').length;
  console.info(
    `control no-lock-giveback: ${left} locks left, ${jobs} jobs; next produce: ${enqueued} enqueued, ${held} reported in_flight (held by cycles that have no job)`,
  );
  expect(report.lines.map((l) => l.action)).toEqual(Array(CYCLES).fill('not_enqueued'));
  expect(jobs).toBe(0);
  expect(left).toBe(CYCLES);
  expect(enqueued).toBe(0);
}, 200_000);
