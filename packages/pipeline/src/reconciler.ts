import { Queue, Worker, type Job } from 'bullmq';
import { CATALOG, STAGES, stageJobId, type Stage } from './queues.ts';
import { cycleRecord, isInfraFailure, type AnyCycleJob, type Outcome } from '@prbot/core';
import { outcomeOf, recordOutcome } from './record-store.ts';
import { refreshGapLocks, releaseGapLocks } from './gap-locks.ts';
import { untilRedisAnswers } from './redis-retry.ts';
import { type RedisClient } from './redis.ts';
import { type Runtime } from './runtime.ts';
import { endCycle, viewOf } from './stage-runner.ts';

export const MAINTENANCE_QUEUE = 'maintenance';
export const RECONCILE_SCHEDULER_ID = 'reconcile';

/** Job states in which a cycle still has someone working on it (or waiting to). */
const LIVE = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

export interface ReconcileReport {
  /** Another worker's pass was running. */
  skipped: boolean;
  locks: number;
  renewed: number;
  /** Locks seen without a live job for the first time (acted on after `orphanGraceMs`). */
  suspects: number;
  ended: { cycleId: string; outcome: Outcome }[];
  resumed: { cycleId: string; stage: Stage }[];
  released: number;
}

/**
 * One reconciler pass over every gap's in-flight lock:
 * - the cycle has an outcome → the lock is stale: released;
 * - a job of the cycle is waiting, active, delayed … → the lock is renewed (it lives as long as
 *   its cycle, so a pr job deferred for days keeps its gap);
 * - no live job and no outcome, seen so for `orphanGraceMs` (two passes, so a hand-over in
 *   progress is never mistaken for a loss) → the cycle is settled by its latest stage job:
 *   completed (its successor was lost) → that job runs again, re-using its saved result;
 *   failed (its outcome was never written) → the stage's exhausted outcome (infra_failed for an
 *   InfraError); no job at all (produce stopped between locking and enqueueing) → infra_failed.
 * Single-flight: one pass at a time across all workers (a Redis lock beside BullMQ's own).
 */
export async function reconcile(rt: Runtime, now = Date.now()): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    skipped: false,
    locks: 0,
    renewed: 0,
    suspects: 0,
    ended: [],
    resumed: [],
    released: 0,
  };
  const token = `${process.pid}-${now}`;
  if (
    !(await rt.redis.set(rt.keys.reconcileLock(), token, 'PX', Math.max(rt.cfg.worker.reconcileEveryMs, 10_000), 'NX'))
  )
    return { ...report, skipped: true };
  try {
    // Every repository's locks, each under its own key layout; one pass, one orphan list.
    // The runtime given serves its own repository as given (as in the stage runner's viewOf).
    const views = [...(await rt.views()).values()].map((v) => (v.repo.name === rt.repo.name ? rt : v));
    const byView = await Promise.all(views.map((v) => scanKeys(v.redis, v.keys.inflightPattern())));
    const locks = byView.flat();
    report.locks = locks.length;
    const orphans = await rt.redis.hgetall(rt.keys.orphans());
    for (const [vi, view] of views.entries()) {
      const mine = byView[vi]!;
      const holders = mine.length ? await rt.redis.mget(mine) : [];
      const live: { gapId: string; cycleId: string }[] = [];
      const gapOf = (key: string) => key.slice(view.keys.inflight('').length);
      for (const [i, key] of mine.entries()) {
        const cycleId = holders[i];
        if (!cycleId) continue;
        const gapId = gapOf(key);
        if (await outcomeOf(rt.redis, view.keys, cycleId)) {
          report.released += await releaseGapLocks(rt.redis, view.keys, [{ gapId, cycleId }]);
          continue;
        }
        const jobs = await Promise.all(STAGES.map((s) => rt.queues[s].getJob(stageJobId(cycleId, s))));
        const states = await Promise.all(jobs.map((j) => (j ? j.getState() : Promise.resolve('unknown'))));
        if (states.some((s) => LIVE.has(s))) {
          live.push({ gapId, cycleId });
          if (orphans[key]) await rt.redis.hdel(rt.keys.orphans(), key);
          continue;
        }
        const [seenCycle, seenAt] = (orphans[key] ?? '').split(' ');
        if (seenCycle !== cycleId) {
          await rt.redis.hset(rt.keys.orphans(), key, `${cycleId} ${now}`);
          report.suspects++;
          continue;
        }
        if (now - Number(seenAt) < rt.cfg.worker.orphanGraceMs) continue;
        await settleOrphan(view, gapId, cycleId, jobs, states, report);
        await rt.redis.hdel(rt.keys.orphans(), key);
      }
      report.renewed += await refreshGapLocks(rt.redis, view.keys, live);
    }
    // Forget suspects whose lock went away by itself.
    const gone = Object.keys(orphans).filter((k) => !locks.includes(k));
    if (gone.length) await rt.redis.hdel(rt.keys.orphans(), ...gone);
    return report;
  } finally {
    if ((await rt.redis.get(rt.keys.reconcileLock())) === token) await rt.redis.del(rt.keys.reconcileLock());
  }
}

async function settleOrphan(
  rt: Runtime,
  gapId: string,
  cycleId: string,
  jobs: (Job | undefined)[],
  states: string[],
  report: ReconcileReport,
): Promise<void> {
  const log = rt.log.child({ cycle: cycleId, gap: gapId });
  for (let i = STAGES.length - 1; i >= 0; i--) {
    const job = jobs[i];
    const stage = STAGES[i]!;
    if (!job) continue;
    if (states[i] === 'completed') {
      // Completed without an outcome or a successor: the hand-over was lost (e.g. Redis lost its
      // last second of writes). Running the stage again costs no model call: its result is saved.
      log.warn({ stage }, 'reconciler: the cycle lost its hand-over; running its last stage again');
      await job.retry('completed');
      report.resumed.push({ cycleId, stage });
      return;
    }
    const parsed = CATALOG[stage].schema.safeParse(job.data);
    if (!parsed.success) break;
    const infra = isInfraFailure(job.stacktrace ?? []);
    const outcome: Outcome = infra ? 'infra_failed' : CATALOG[stage].exhausted;
    const view = await viewOf(rt, parsed.data as AnyCycleJob);
    const rec = await endCycle(
      typeof view === 'string' ? rt : view,
      stage,
      parsed.data as AnyCycleJob,
      outcome,
      `reconciler: the ${stage} job ${states[i]} (${job.failedReason ?? 'no reason given'}) and no outcome was recorded`,
    );
    report.ended.push({ cycleId, outcome: rec.outcome });
    return;
  }
  // No job at all: the cycle never started (or its jobs were removed). Nothing was spent on it.
  const at = new Date(rt.clock()).toISOString();
  const record = cycleRecord({
    cycle_id: cycleId,
    repo: rt.repo.name,
    gap_id: gapId,
    outcome: 'infra_failed',
    reason:
      'reconciler: the gap was locked for this cycle but no job of it exists (produce stopped before enqueueing, or its jobs were removed)',
    stage: 'produce',
    started_at: at,
    ended_at: at,
    dry_run: rt.cfg.dryRun,
  });
  await untilRedisAnswers(() => recordOutcome(rt.records, record), {
    what: `the outcome of ${cycleId}`,
    log,
    maxMs: rt.cfg.worker.redisRetryMs,
  });
  log.warn('reconciler: ended a cycle that had a gap lock and no job');
  await rt.afterCycleEnd?.(gapId, rt);
  report.ended.push({ cycleId, outcome: 'infra_failed' });
}

async function scanKeys(redis: RedisClient, pattern: string): Promise<string[]> {
  // A Redis Cluster scans each master; prbot's keys share a hash tag, but SCAN is per node.
  const nodes: RedisClient[] = 'nodes' in redis && typeof redis.nodes === 'function' ? redis.nodes('master') : [redis];
  const out: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      out.push(...found);
      cursor = next;
    } while (cursor !== '0');
  }
  return [...new Set(out)];
}

/**
 * The reconciler as a BullMQ job scheduler on its own `maintenance` queue: every worker process
 * upserts the same scheduler (idempotent) and runs a concurrency-1 worker for it; the scheduler
 * keeps one job per tick, and `reconcile` takes a Redis lock, so passes never overlap.
 */
export async function startReconciler(rt: Runtime): Promise<{ worker: Worker; queue: Queue }> {
  const queue = new Queue(MAINTENANCE_QUEUE, {
    connection: rt.redis,
    prefix: rt.cfg.redis.prefix,
    defaultJobOptions: { removeOnComplete: { age: 3600, count: 100 }, removeOnFail: { age: 86400, count: 100 } },
  });
  queue.on('error', (err) => rt.log.debug({ err: err.message }, 'maintenance queue connection error'));
  const worker = new Worker(
    MAINTENANCE_QUEUE,
    async () => {
      const r = await reconcile(rt);
      if (r.ended.length || r.resumed.length || r.released) rt.log.info({ ...r }, 'reconciler pass');
      return r;
    },
    { connection: rt.redis, prefix: rt.cfg.redis.prefix, concurrency: 1 },
  );
  worker.on('error', (err) => rt.log.debug({ err: err.message }, 'reconciler worker error'));
  await untilRedisAnswers(
    () =>
      queue.upsertJobScheduler(
        RECONCILE_SCHEDULER_ID,
        { every: rt.cfg.worker.reconcileEveryMs },
        { name: 'reconcile' },
      ),
    {
      what: 'the reconciler schedule',
      log: rt.log,
    },
  );
  return { worker, queue };
}
