import { Worker } from 'bullmq';
import { jobKeyFrom, sandboxProblem, secretEnvNames, testsShareWorkerUser, UnavailableError, type AnswerRecorder, type QueueName, type Runtime, type Stage } from '@prbot/core';
import type { Policy } from '@prbot/policy';
import { onJobFailed, stageRunner, type StageProcessor } from './stage.ts';
import { apply } from './stages/apply.ts';
import { eventsProcessor } from './stages/events.ts';
import { produceProcessor } from './stages/produce.ts';
import { pr } from './stages/pr.ts';
import { propose } from './stages/propose.ts';
import { test } from './stages/test.ts';

const PROCESSORS: { [S in Stage]: StageProcessor<S> } = { propose, apply, test, pr };

export interface WorkerSet {
  workers: Worker[];
  /** Lets active jobs finish within `graceMs`, then stops the rest (they are picked up again as stalled). */
  close(graceMs?: number): Promise<void>;
}

export function startWorkers(rt: Runtime, policy: Policy, o: { queues: QueueName[]; concurrency?: number; recorder?: AnswerRecorder }): WorkerSet {
  warnIfTestsCanReadSecrets(rt, o.queues);
  const workers = o.queues.map((q) => {
    const s = rt.cfg.queues[q];
    const processor =
      q === 'events' ? eventsProcessor(rt) : q === 'produce' ? produceProcessor(rt, policy) : stageRunner(q, rt, policy, PROCESSORS[q] as StageProcessor<typeof q>, o.recorder);
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
      onJobFailed(rt, q, job, err).catch((e: Error) => rt.log.error({ err: e.message, queue: q }, 'recording a failed job'));
    });
    w.on('error', (err) => rt.log.error({ err: err.message, queue: q }, 'worker error'));
    return w;
  });
  return {
    workers,
    async close(graceMs = rt.cfg.worker.shutdownGraceMs) {
      const graceful = Promise.all(workers.map((w) => w.close()));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), graceMs)));
      // worker.close() never times out by itself; past the grace, stop without waiting.
      const r = await Promise.race([graceful.then(() => 'done' as const), deadline]);
      clearTimeout(timer);
      if (r === 'late') {
        rt.log.warn({ graceMs }, 'grace period over; closing with jobs still active (they will be retried)');
        await Promise.all(workers.map((w) => w.close(true)));
      }
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
 * Checks at start what a worker cannot do without: the job-signing key, and for the `test`
 * queue a sandbox proven by running a command in it exactly as tests run. Throws one line
 * saying why and how to fix it; the worker then refuses to start.
 */
export async function preflight(rt: Runtime, queues: QueueName[]): Promise<void> {
  if (queues.some((q) => q !== 'events')) jobKeyFrom(rt.env, rt.cfg.jobs.keyEnv);
  if (!queues.includes('test')) return;
  const t = rt.cfg.tests;
  if (t.sandbox === 'off') {
    rt.log.warn('tests.sandbox is OFF: model-written setup and test commands run without a sandbox, with this host\'s network and file system in view; use only for trusted setups (the offline demo)');
    return;
  }
  const problem = await sandboxProblem({ limits: t.limits, toolDirs: t.toolDirs, workdir: rt.workdir });
  if (problem) throw new UnavailableError(`refusing to run the test queue: ${problem}`);
  if (t.network === 'setup') rt.log.warn('tests.network is "setup": setup commands can reach this host\'s network (loopback services included)');
}
