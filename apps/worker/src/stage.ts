import { DelayedError, RateLimitError, type Job } from 'bullmq';
import {
  CATALOG,
  CycleEnded,
  cycleRecord,
  jobKeyFrom,
  jobSignatureRefusal,
  signJob,
  type CycleDetails,
  RateLimited,
  observeStageDuration,
  recordOutcome,
  redactDeep,
  redactError,
  redactText,
  releasePrSlot,
  stageJobId,
  type AnswerRecorder,
  type AnyCycleJob,
  type CycleRecord,
  type JobData,
  type Logger,
  type Outcome,
  type QueueName,
  type Runtime,
  type Stage,
} from '@prbot/core';
import type { Policy } from '@prbot/policy';

/** Ends the job for now and runs it again at `at` (budget reset, a PR limit). Not an attempt. */
export class DeferUntil extends Error {
  override readonly name = 'DeferUntil';
  constructor(
    readonly at: number,
    reason: string,
  ) {
    super(reason);
  }
}

export interface StageContext<S extends Stage> {
  rt: Runtime;
  policy: Policy;
  job: Job;
  data: JobData<S>;
  log: Logger;
  signal?: AbortSignal;
  /** Set in record mode: real model answers go into a cassette. */
  recorder?: AnswerRecorder;
  /** Progress (0-100) and a job log line, so a job opened in Bull Board tells its story. */
  step(percent: number, line: string): Promise<void>;
  /** Adds the next stage's job; its id makes a repeated hand-over a no-op. */
  handOver<N extends Stage>(next: N, data: JobData<N>): Promise<void>;
}

export type StageProcessor<S extends Stage> = (ctx: StageContext<S>) => Promise<void>;

/**
 * Runs one stage job and maps what happens to BullMQ and to the cycle's outcome:
 * - CycleEnded            → record that outcome; the job completes;
 * - RateLimited           → rate-limit the whole queue; the job waits (not an attempt);
 * - DeferUntil            → move to delayed until then (not an attempt);
 * - anything else         → retry with backoff; on the last attempt record the stage's
 *                           "exhausted" outcome first, so no cycle ends silently.
 */
export function stageRunner<S extends Stage>(stage: S, rt: Runtime, policy: Policy, processor: StageProcessor<S>, recorder?: AnswerRecorder) {
  const jobKey = jobKeyFrom(rt.env, rt.cfg.jobs.keyEnv); // missing → the worker refuses to start
  return async (job: Job, token?: string, signal?: AbortSignal): Promise<void> => {
    const parsed = CATALOG[stage].schema.safeParse(job.data);
    if (!parsed.success) {
      rt.log.error({ job: job.id, stage, issues: parsed.error.issues.slice(0, 3) }, 'job payload does not match its schema');
      throw new Error(`payload of ${stage} job ${job.id} is invalid: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
    }
    const forged = jobSignatureRefusal(stage, job.data, jobKey);
    if (forged) return refuseForged(rt, stage, job, parsed.data as AnyCycleJob, forged);
    const data = parsed.data as JobData<S>;
    const cycle = data as AnyCycleJob;
    const log = rt.log.child({ cycle: cycle.cycleId, gap: cycle.gap.id, stage });
    const ctx: StageContext<S> = {
      rt,
      policy,
      job,
      data,
      log,
      signal,
      recorder,
      step: async (percent, line) => {
        log.info(line);
        await Promise.all([job.updateProgress(percent), job.log(redactText(line))]);
      },
      handOver: async (next, nextData) => {
        await rt.queues[next].add(next, signJob(next, redactDeep(nextData), jobKey), { jobId: stageJobId(cycle.cycleId, next) });
      },
    };
    const started = Date.now();
    const observe = () => observeStageDuration(rt.redis, rt.keys, stage, (Date.now() - started) / 1000);
    try {
      await processor(ctx);
      await observe();
    } catch (caught) {
      // BullMQ stores a thrown error's message and stack in Redis: no known secret goes with it.
      const err = redactError(caught);
      if (err instanceof CycleEnded) {
        await endCycle(rt, stage, cycle, err.outcome, err.reason, err.details);
        await job.log(redactText(`ended: ${err.outcome}: ${err.reason}`));
        await observe();
        return;
      }
      if (err instanceof RateLimited) {
        log.warn({ waitMs: err.waitMs }, err.message);
        await rt.queues[stage].rateLimit(err.waitMs);
        throw new RateLimitError();
      }
      if (err instanceof DeferUntil) {
        log.info({ until: new Date(err.at).toISOString() }, `deferred: ${err.message}`);
        await job.log(redactText(`deferred until ${new Date(err.at).toISOString()}: ${err.message}`));
        await job.moveToDelayed(err.at, token);
        throw new DelayedError();
      }
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      log.warn({ err: (err as Error).message, attempt: job.attemptsMade + 1, last }, 'stage failed');
      if (last) await endExhausted(rt, stage, cycle, (err as Error).message);
      throw err;
    }
  };
}

/**
 * A job whose signature does not verify was not handed over by a worker (or was altered in
 * Redis): nothing of it runs. Its cycle ends with the stage's exhausted outcome and a reason
 * starting "job signature invalid", unless that cycle already ended (a forged job reusing a
 * real cycle id must not overwrite the real outcome: recordOutcome keeps the first).
 */
async function refuseForged(rt: Runtime, stage: Stage, job: Job, cycle: AnyCycleJob, why: string): Promise<void> {
  rt.log.error({ job: job.id, stage, cycle: cycle.cycleId }, why);
  await job.log(`refused: ${why}`).catch(() => {});
  await endCycle(rt, stage, cycle, CATALOG[stage].exhausted, `${why}; the job was not run`);
}

/** For jobs that fail outside the processor (stalled too often): record the exhausted outcome. */
export async function onJobFailed(rt: Runtime, queue: QueueName, job: Job | undefined, err: Error): Promise<void> {
  if (!job || queue === 'events') return;
  const exhausted = job.attemptsMade >= (job.opts.attempts ?? 1) || /stalled/i.test(err.message);
  if (!exhausted) return;
  const parsed = CATALOG[queue].schema.safeParse(job.data);
  if (!parsed.success) return;
  await endExhausted(rt, queue as Stage, parsed.data as AnyCycleJob, err.message);
}

async function endExhausted(rt: Runtime, stage: Stage, cycle: AnyCycleJob, message: string): Promise<void> {
  const outcome = CATALOG[stage].exhausted;
  await endCycle(rt, stage, cycle, outcome, `${stage} gave up after its retries: ${message}`);
}

export async function endCycle(
  rt: Runtime,
  stage: Stage,
  c: AnyCycleJob,
  outcome: Outcome,
  reason: string,
  details: CycleDetails = {},
): Promise<CycleRecord> {
  const record = cycleRecord({
    cycle_id: c.cycleId,
    gap_id: c.gap.id,
    gap_text: c.gap.text,
    gap_line: c.gap.line,
    outcome,
    reason,
    stage,
    started_at: new Date(c.createdAt).toISOString(),
    ended_at: new Date(rt.clock()).toISOString(),
    dry_run: c.dryRun,
    base_commit: c.baseCommit,
    bot_commit: c.botCommit ?? null,
    summary: c.proposal?.summary ?? null,
    files: c.changes
      ? c.changes.map(({ path, action }) => ({ path, action }))
      : (c.proposal?.files ?? []).map((f) => ({ path: f.path, action: f.is_new ? ('ADD' as const) : ('UPDATE' as const) })),
    tests: details.tests ?? c.tests ?? [],
    model: c.model ?? details.model ?? null,
    ...((c.context ?? details.context) ? { context: c.context ?? details.context } : {}),
    branch: details.branch ?? null,
    pr_url: details.pr_url ?? null,
    ...(details.warnings?.length ? { warnings: details.warnings } : {}),
  });
  const { record: standing, fresh } = await recordOutcome(rt.recorder, record);
  if (stage === 'pr' && !standing.pr_url) await releasePrSlot(rt.redis, rt.keys, c.cycleId);
  rt.log.info({ cycle: c.cycleId, gap: c.gap.id, outcome: standing.outcome, fresh }, `cycle ended: ${standing.outcome}: ${standing.reason}`);
  return standing;
}
