import { Worker, type Processor } from 'bullmq';
import {
  announcePresence,
  assertRedisSafe,
  jobKeyFrom,
  STAGES,
  type QueueName,
  type Runtime,
  type Stage,
  onJobFailed,
  SHUTDOWN,
  stageRunner,
  type StageProcessor,
  RECONCILE_SCHEDULER_ID,
  startReconciler,
  watchRedis,
  type RedisWatch,
} from '@prbot/pipeline';
import { runDoctor, startQueuedForGap } from '@prbot/control';
import { memoryGuard, sandboxProblem, testsShareWorkerUser } from '@prbot/sandbox';
import { secretEnvNames } from '@prbot/config';
import { UnavailableError } from '@prbot/core';
import { type AnswerRecorder } from '@prbot/model';
import type { Policy } from '@prbot/policy';
import { watchQueues, type QueueWatch } from './queue-watch.ts';
import { apply } from './stages/apply.ts';
import { eventsProcessor } from './stages/events.ts';
import { produceProcessor } from './stages/produce.ts';
import { pr } from './stages/pr.ts';
import { propose } from './stages/propose.ts';
import { test } from './stages/test.ts';

const PROCESSORS: { [S in Stage]: StageProcessor<S> } = { propose, apply, test, pr };

export interface WorkerSet {
  workers: Worker[];
  /**
   * Stops taking jobs; aborts running test jobs at once (their process groups are killed and the
   * jobs go back to waiting); lets other active jobs finish within `graceMs`, then aborts them
   * too. Resolves within `graceMs` + FORCE_WAIT_MS (+ the time Redis takes to answer).
   */
  close(graceMs?: number): Promise<void>;
  /** A second signal: abort every active job now and close without waiting for the grace. */
  force(): void;
  /** Watches Redis for a data loss or an evicting policy set at run time (redis-watch.ts). */
  redisWatch: RedisWatch;
  /** Watches each queue for a Worker that stopped consuming, and recreates it (queue-watch.ts). */
  queueWatch: QueueWatch;
}

/** Without an `onGiveUp` (tests), a queue that cannot be recovered ends the process: its supervisor restarts it. */
function defaultGiveUp(rt: Runtime) {
  return (reason: string) => {
    rt.log.fatal({ reason }, 'a queue cannot be kept consuming; exiting for the supervisor to restart this worker');
    process.exit(1);
  };
}

/** After aborting, how long jobs get to return to waiting (tests' process groups die at once). */
export const FORCE_WAIT_MS = 5000;

export function startWorkers(
  rt: Runtime,
  policy: Policy,
  o: {
    queues: QueueName[];
    concurrency?: number;
    recorder?: AnswerRecorder;
    /** Run the reconciler (default: yes). */ reconcile?: boolean;
    /** A queue that cannot be kept consuming (default: log and exit 1). */ onGiveUp?: (reason: string) => void;
  },
): WorkerSet {
  warnIfTestsCanReadSecrets(rt, o.queues);
  // A cycle's end starts the revise requests queued behind it (issue 29).
  rt.afterCycleEnd ??= (gapId, view) => startQueuedForGap(view, gapId);
  const watch = watchQueues(rt, {
    queues: o.queues,
    everyMs: Math.max(100, Math.min(10_000, Math.floor(rt.cfg.worker.stuckAfterMs / 3))),
    stuckAfterMs: rt.cfg.worker.stuckAfterMs,
    maxRecoveries: rt.cfg.worker.maxRecoveries,
    giveUp: (reason) => (o.onGiveUp ?? defaultGiveUp(rt))(reason),
    create: (q, track) => {
      const s = rt.cfg.queues[q];
      const inner: Processor =
        q === 'events'
          ? eventsProcessor(rt)
          : q === 'produce'
            ? produceProcessor(rt, policy)
            : stageRunner(q, rt, policy, PROCESSORS[q] as StageProcessor<typeof q>, o.recorder);
      const processor: Processor = async (job, token, signal) => {
        track.onStart();
        try {
          return await inner(job, token, signal);
        } finally {
          track.onEnd();
        }
      };
      const w = new Worker(q, processor, {
        connection: rt.redis,
        prefix: rt.cfg.redis.prefix,
        concurrency: o.concurrency ?? s.concurrency,
        // A manual rateLimit() (HTTP 429) only takes effect on a worker with a limiter.
        limiter: s.limiter ?? { max: 1_000_000, duration: 1000 },
        lockDuration: rt.cfg.worker.lockDurationMs,
        stalledInterval: rt.cfg.worker.stalledIntervalMs,
        maxStalledCount: rt.cfg.worker.maxStalledCount,
      });
      w.on('failed', (job, err) => {
        onJobFailed(rt, q, job, err).catch((e: Error) =>
          rt.log.error({ err: e.message, queue: q }, 'recording a failed job'),
        );
      });
      w.on('error', (err) => rt.log.error({ err: err.message, queue: q }, 'worker error'));
      // Counted for the dashboard's prbot_stalled_jobs_total: a stall is a worker that died or froze holding a job.
      w.on(
        'stalled',
        () =>
          void rt.redis
            .hincrby(rt.keys.stalled(), q, 1)
            .catch((e: Error) => rt.log.warn({ err: e.message, queue: q }, 'counting a stalled job')),
      );
      return w;
    },
  });
  const workers = watch.workers;
  const reconciler = !(o.reconcile ?? o.queues.some((q) => (STAGES as readonly string[]).includes(q)))
    ? undefined
    : startReconciler(rt).catch((err: Error) => {
        rt.log.error({ err: err.message }, 'the reconciler did not start');
        return undefined;
      });
  const redisWatch = watchRedis(rt, {
    everyMs: rt.cfg.worker.reconcileEveryMs,
    // The reconciler's schedule lived in the Redis that lost its data.
    onDataLost: async () => {
      const rec = await reconciler;
      if (rec)
        await rec.queue.upsertJobScheduler(
          RECONCILE_SCHEDULER_ID,
          { every: rt.cfg.worker.reconcileEveryMs },
          { name: 'reconcile' },
        );
    },
  });
  const presence = announcePresence(
    rt.redis,
    rt.keys,
    o.queues,
    (e) => rt.log.debug({ err: e.message }, 'worker presence beat'),
    rt.clock,
  );
  let forced: () => void = () => {};
  const forcedNow = new Promise<'forced'>((r) => (forced = () => r('forced')));
  const all = () => [...workers, ...watch.retired];
  const abortAll = () => {
    for (const w of all()) w.cancelAllJobs(SHUTDOWN);
  };
  return {
    workers,
    redisWatch,
    queueWatch: watch,
    force: () => forced(),
    async close(graceMs = rt.cfg.worker.shutdownGraceMs) {
      redisWatch.stop();
      watch.stop();
      const gone = presence.stop();
      const graceful = Promise.all(all().map((w) => w.close()));
      // A test run is re-run from its payload by any worker: stopping it now costs nothing but
      // the time it ran, and waiting for it could outlast any grace.
      workers.forEach((w, i) => o.queues[i] === 'test' && w.cancelAllJobs(SHUTDOWN));
      watch.retired.forEach((w) => w.name === 'test' && w.cancelAllJobs(SHUTDOWN));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), graceMs)));
      // worker.close() never times out by itself; past the grace (or on a second signal), abort.
      const r = await Promise.race([graceful.then(() => 'done' as const), deadline, forcedNow]);
      clearTimeout(timer);
      if (r !== 'done') {
        rt.log.warn({ graceMs, why: r }, 'shutdown: aborting the jobs still active (they go back to waiting)');
        abortAll();
        let t2: NodeJS.Timeout | undefined;
        await Promise.race([graceful, new Promise((res) => (t2 = setTimeout(res, FORCE_WAIT_MS)))]);
        clearTimeout(t2);
        // Whatever still runs ignored its signal; its lock lapses and the stalled check re-runs it.
        // (BullMQ's close(true) after close() returns the first, waiting close: don't await it.)
        const still = all().reduce((n, w) => n + (w.isRunning() ? 1 : 0), 0);
        if (still)
          rt.log.warn({ workers: still }, 'shutdown: leaving jobs that ignored their abort to the stalled-job check');
      }
      const rec = await reconciler;
      if (rec) await Promise.all([rec.worker.close(r !== 'done'), rec.queue.close()]);
      await gone;
    },
  };
}

/** Test commands of the worker's own user can read its environment via /proc/<pid>/environ. */
function warnIfTestsCanReadSecrets(rt: Runtime, queues: QueueName[]): void {
  if (!queues.includes('test') || !testsShareWorkerUser(rt.cfg.tests.runAs)) return;
  const names = secretEnvNames(rt.cfg).filter((n) => process.env[n]);
  if (names.length === 0) return;
  rt.log.warn(
    { secrets: names },
    'this worker runs tests as its own user and holds secrets in its environment, which test code could read from /proc; run test workers without those variables (--queues test needs none), or as root so tests run as nobody',
  );
}

/**
 * Checks at start what a worker cannot do without: a Redis that never evicts keys, the job-signing key, and for the `test`
 * queue a sandbox proven by running a command in it exactly as tests run. Throws one line
 * saying why and how to fix it; the worker then refuses to start.
 */
export async function preflight(rt: Runtime, queues: QueueName[]): Promise<void> {
  // An evicting Redis drops jobs and locks without an error: refuse before taking any job.
  await assertRedisSafe(rt.redis, rt.log);
  if (queues.some((q) => q !== 'events')) jobKeyFrom(rt.env, rt.cfg.jobs.keyEnv);
  if (queues.includes('pr')) await forgePreflight(rt);
  if (!queues.includes('test')) return;
  const t = rt.cfg.tests;
  if (t.sandbox === 'off') {
    rt.log.warn(
      "tests.sandbox is OFF: model-written setup and test commands run without a sandbox, with this host's network and file system in view; use only for trusted setups (the offline demo)",
    );
    return;
  }
  const problem = await sandboxProblem({ limits: t.limits, toolDirs: t.toolDirs, workdir: rt.workdir });
  if (problem) throw new UnavailableError(`refusing to run the test queue: ${problem}`);
  rt.log.info(
    `tests.limits.memoryMb (${t.limits.memoryMb} MiB per run) is held by ${(await memoryGuard(t.limits.memoryVia)).note}`,
  );
  if (t.network === 'setup')
    rt.log.warn('tests.network is "setup": setup commands can reach this host\'s network (loopback services included)');
}

/**
 * The pr queue asks the forge at start what `prbot doctor` asks (token, scopes and permissions,
 * archived, push access, base branch): a token that cannot open a PR or push a branch refuses
 * the worker, naming what is missing, before any cycle pays the model for a PR that must fail.
 * Labels are best effort (a PR opens without them) and a forge that cannot be reached now says
 * nothing about the token: both only warn.
 */
async function forgePreflight(rt: Runtime): Promise<void> {
  if (rt.cfg.forge.kind === 'local') return;
  const report = await runDoctor(rt.cfg, rt.env, rt.log);
  const blocking = report.checks.filter((c) => c.status === 'fail' && !c.transient && c.name !== 'labels');
  for (const c of report.checks.filter((x) => x.status !== 'ok' && !blocking.includes(x)))
    rt.log.warn({ check: c.name, fix: c.fix }, `forge check ${c.name}: ${c.detail}`);
  if (blocking.length) {
    throw new UnavailableError(
      `refusing to run the pr queue: ${report.forge} would refuse every PR: ${blocking.map((c) => `${c.name}: ${c.detail}${c.fix ? ` (fix: ${c.fix})` : ''}`).join('; ')}`,
    );
  }
}
