import { DelayedError, RateLimitError, WaitingError, type Job } from 'bullmq';
import { canRevise, ForgeRefused, PushRefused, reply, reviseReplyText } from '@prbot/forge';
import { addStageJob, CATALOG, stageJobId, type JobData, type QueueName, type Stage } from './queues.ts';
import {
  ConfigError,
  CycleEnded,
  cycleRecord,
  type CycleDetails,
  isInfraFailure,
  isRedisTransient,
  PermanentError,
  RateLimited,
  redactDeep,
  redactError,
  redactText,
  refreshOutcome,
  type AnyCycleJob,
  type CycleRecord,
  type Outcome,
  type Logger,
} from '@prbot/core';
import { jobKeyFrom, jobSignatureRefusal, signJob, withoutSig } from './job-signing.ts';
import { defenceOff, faultPoint, type FaultPoint } from './faults.ts';
import { observeStageDuration } from './durations.ts';
import { readLedger } from './ledger.ts';
import { recordOutcome } from './record-store.ts';
import { releasePrSlot } from './pr-limits.ts';
import { untilRedisAnswers } from './redis-retry.ts';
import { type AnswerRecorder } from '@prbot/model';
import { type Runtime } from './runtime.ts';
import { settledView } from './repo-settings-view.ts';
import type { Policy } from '@prbot/policy';
import { commentRefresh } from './refresh-comment.ts';

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

/** The abort reason a worker gives its jobs on shutdown: the job goes back to waiting, not failed. */
export const SHUTDOWN = 'prbot worker shutting down';

export interface StageContext<S extends Stage> {
  rt: Runtime;
  policy: Policy;
  job: Job;
  data: JobData<S>;
  log: Logger;
  signal?: AbortSignal;
  /** Set in record mode: real model answers go into a cassette. */
  recorder?: AnswerRecorder;
  /** What an earlier attempt of this job saved with `save` (the model's answer), else undefined. */
  saved: unknown;
  /** Saves a result into the job's data before anything else can fail, so a retry re-uses it. */
  save(result: unknown): Promise<void>;
  /** A named fault point (faults.ts): the reliability suite crashes the worker exactly here. */
  fault(point: FaultPoint): Promise<void>;
  /** Progress (0-100) and a job log line, so a job opened in Bull Board tells its story. */
  step(percent: number, line: string): Promise<void>;
  /** Adds the next stage's job; its id makes a repeated hand-over a no-op. */
  handOver<N extends Stage>(next: N, data: JobData<N>): Promise<void>;
}

export type StageProcessor<S extends Stage> = (ctx: StageContext<S>) => Promise<void>;

const NEXT: Record<Stage, Stage | null> = { propose: 'apply', apply: 'test', test: 'pr', pr: null };

/** Redis trouble never uses up a job's attempts; past this many starts it is a failure like any other. */
const MAX_REDIS_DEFERRALS = 50;

/**
 * The stage runner's defences, each switchable for one purpose: a positive control turns one off
 * in its own process to show the harm it prevents. No config field or job reaches them; a worker
 * process started by a test takes the ledger's from `PRBOT_FAULT=no-ledger` (faults.ts).
 * - `infraOutcome`: an InfraError ends the cycle infra_failed (off: the machine's failure is
 *   blamed on the change; apps/worker/test/e2e/infra-outcome.test.ts, test/reliability/enospc.test.ts);
 * - `endedCycleDoesNothing`: the ledger's check (off: a replayed signed job of an ended cycle runs
 *   again; test/sandbox/jobs.test.ts, test/reliability/exactly-once.test.ts);
 * - `shutdownRequeue`: a job stopped by a shutdown goes back to waiting, not an attempt
 *   (test/reliability/shutdown.test.ts);
 * - `giveUp`: a job out of attempts ends its cycle (test/reliability/outages.test.ts).
 */
export const stageRunnerDefences = {
  infraOutcome: true,
  endedCycleDoesNothing: !defenceOff('ledger'),
  shutdownRequeue: true,
  giveUp: true,
};

/**
 * Runs one stage job and maps what happens to BullMQ and to the cycle's outcome:
 * - the ledger says the cycle ended, or the next stage's job exists → nothing to do;
 * - CycleEnded            → record that outcome; the job completes;
 * - RateLimited           → rate-limit the whole queue; the job waits (not an attempt);
 * - DeferUntil            → move to delayed until then (not an attempt);
 * - shutdown abort        → back to waiting (not an attempt);
 * - a Redis error         → delayed and retried, not an attempt (Redis is not the cycle's fault);
 * - PermanentError        → record its outcome once; BullMQ skips the remaining attempts;
 * - anything else         → retry with backoff; on the last attempt record the stage's
 *                           "exhausted" outcome (`infra_failed` for an InfraError) first, so no
 *                           cycle ends silently — unless the job had already handed over.
 * Every Redis write on the recording path is retried until Redis answers (redis-retry.ts).
 */
export function stageRunner<S extends Stage>(
  stage: S,
  base: Runtime,
  policy: Policy,
  processor: StageProcessor<S>,
  recorder?: AnswerRecorder,
) {
  const jobKey = jobKeyFrom(base.env, base.cfg.jobs.keyEnv); // missing → the worker refuses to start
  return async (job: Job, token?: string, signal?: AbortSignal): Promise<unknown> => {
    // Until the job names its repository, the process's first view answers (the same log, Redis, queues).
    let rt = base;
    const parsed = CATALOG[stage].schema.safeParse(job.data);
    if (!parsed.success) {
      rt.log.error(
        { job: job.id, stage, issues: parsed.error.issues.slice(0, 3) },
        'job payload does not match its schema',
      );
      // No retry can mend a payload; the reconciler ends the cycle if the payload names one.
      throw new PermanentError(
        `payload of ${stage} job ${job.id} is invalid: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`,
      );
    }
    const forged =
      jobSignatureRefusal(stage, job.data, jobKey) ??
      staleJobRefusal(parsed.data as AnyCycleJob, rt.cfg.jobs.maxAgeDays, rt.clock());
    if (forged) return refuseForged(rt, stage, job, parsed.data as AnyCycleJob, forged);
    const data = parsed.data as JobData<S>;
    const cycle = data as AnyCycleJob;
    // Any worker serves any repository: the job's repository picks the view it runs in.
    const view = await viewOf(base, cycle);
    if (typeof view === 'string') {
      rt.log.error({ job: job.id, stage, cycle: cycle.cycleId, repo: cycle.repo }, view);
      await job.log(`refused: ${view}`).catch(() => {});
      await endCycle(rt, stage, cycle, 'skipped_policy', `${view}; the job was not run`);
      return { skipped: 'unknown repository' };
    }
    rt = view;
    const log = rt.log.child({ cycle: cycle.cycleId, gap: cycle.gap.id, stage });
    const info = { stage, cycleId: cycle.cycleId };
    const retryMs = rt.cfg.worker.redisRetryMs;
    // Log lines are for people; one that cannot be written must not fail the cycle.
    const note = (line: string) =>
      untilRedisAnswers(() => job.log(redactText(line)), { what: 'a job log line', maxMs: 30_000 }).catch(() => 0);

    // The outcome ledger, before anything else: a job of an ended or handed-over cycle does nothing.
    const next = NEXT[stage];
    const ledger = await untilRedisAnswers(
      () =>
        readLedger(rt.redis, rt.keys, {
          cycleId: cycle.cycleId,
          gapId: cycle.gap.id,
          nextJobKey: next ? rt.queues[next].toKey(stageJobId(cycle.cycleId, next)) : null,
        }),
      { what: 'the outcome ledger', log, maxMs: retryMs },
    );
    // Off only in a positive control: the job runs as if the cycle were open.
    if (!stageRunnerDefences.endedCycleDoesNothing) Object.assign(ledger, { ended: null, handedOver: false });
    if (ledger.ended) {
      log.info({ outcome: ledger.ended }, 'cycle already ended; this job does nothing');
      await note(`cycle ${cycle.cycleId} already ended (${ledger.ended}); nothing to do`);
      return { skipped: 'cycle ended', outcome: ledger.ended };
    }
    if (ledger.handedOver) {
      log.info({ next }, 'already handed over; this job does nothing');
      await note(`already handed over to ${next} by an earlier attempt; nothing to do`);
      return { skipped: `handed over to ${next}` };
    }
    if (ledger.lock !== 'held' && ledger.lock !== 'retaken') {
      log.warn({ holder: ledger.lock }, 'another cycle holds this gap; going on (both will be recorded)');
    }

    let handedOver = false;
    const ctx: StageContext<S> = {
      rt,
      policy,
      job,
      data,
      log,
      signal,
      recorder,
      // PRBOT_FAULT=no-saved-answer (a positive control only): a retry ignores what was saved.
      saved: defenceOff('saved-answer') ? undefined : (job.data as { saved?: unknown }).saved,
      save: async (result) => {
        // Signed again with the result in it: a retry verifies the job like any other, so a saved
        // answer cannot be planted in Redis by whoever reaches it.
        const signed = signJob(stage, { ...withoutSig(job.data as object), saved: redactDeep(result) }, jobKey);
        await untilRedisAnswers(() => job.updateData(signed), { what: 'the stage result', log, maxMs: retryMs });
      },
      fault: (point) => faultPoint(point, info),
      step: async (percent, line) => {
        log.info(line);
        await untilRedisAnswers(() => Promise.all([job.updateProgress(percent), job.log(redactText(line))]), {
          what: 'a progress line',
          log,
          maxMs: retryMs,
        });
      },
      handOver: async (n, nextData) => {
        await untilRedisAnswers(() => addStageJob(rt.queues, n, cycle.cycleId, redactDeep(nextData), jobKey), {
          what: `the hand-over to ${n}`,
          log,
          maxMs: retryMs,
        });
        handedOver = true;
        await faultPoint('after-handover', info);
      },
    };
    await faultPoint('stage-start', info);
    const started = Date.now();
    // A duration sample is worth less than the job: never fail a cycle for it.
    const observe = () =>
      observeStageDuration(rt.redis, rt.keys, stage, (Date.now() - started) / 1000).catch(() => undefined);
    const clonesBefore = rt.mirror.clones;
    try {
      // The whole job holds its repository in use: the disk cap never evicts a mirror under it.
      await rt.disk.inUse(async () => {
        try {
          // The repository's .prbot.yaml at the cycle's base narrows its view for every stage alike.
          ctx.rt = await settledRepoView(rt, cycle.baseCommit);
          await processor(ctx);
        } finally {
          // The first cycle of a repository on this machine says what its clone cost.
          const c = rt.mirror.lastClone;
          if (rt.mirror.clones !== clonesBefore && c)
            await note(`cloned the mirror of ${rt.repo.name} on this machine: ${c.ms} ms, ${c.bytes} bytes on disk`);
        }
      });
      await observe();
    } catch (caught) {
      // BullMQ stores a thrown error's message and stack in Redis: no known secret goes with it.
      const err = outcomeOfFailure(redactError(caught));
      if (err instanceof CycleEnded) {
        await endCycle(rt, stage, cycle, err.outcome, err.reason, err.details);
        await faultPoint('after-record', info);
        await note(`ended: ${err.outcome}: ${err.reason}`);
        await observe();
        return;
      }
      if (handedOver) {
        // The next stage owns the cycle now; retrying or recording here could only contradict it.
        log.warn({ err: (err as Error).message }, 'failed after handing over; the next stage carries the cycle');
        return;
      }
      if (signal?.aborted && signal.reason === SHUTDOWN && stageRunnerDefences.shutdownRequeue) {
        log.info('shutdown: the job goes back to waiting');
        await untilRedisAnswers(() => job.moveToWait(token), {
          what: 'returning the job to waiting',
          log,
          maxMs: 10_000,
        });
        throw new WaitingError();
      }
      if (err instanceof RateLimited) {
        log.warn({ waitMs: err.waitMs }, err.message);
        await rt.queues[stage].rateLimit(err.waitMs);
        throw new RateLimitError();
      }
      if (err instanceof DeferUntil) {
        log.info({ until: new Date(err.at).toISOString() }, `deferred: ${err.message}`);
        await note(`deferred until ${new Date(err.at).toISOString()}: ${err.message}`);
        await untilRedisAnswers(() => job.moveToDelayed(err.at, token), {
          what: 'deferring the job',
          log,
          maxMs: retryMs,
        });
        throw new DelayedError();
      }
      if (
        isRedisTransient(err) &&
        !defenceOff('redis-retry') &&
        job.attemptsStarted < (job.opts.attempts ?? 1) + MAX_REDIS_DEFERRALS
      ) {
        const wait = Math.min(1000 * 2 ** Math.min(job.attemptsStarted, 5), 30_000);
        log.warn(
          { err: (err as Error).message, waitMs: wait },
          'Redis refused a write; the job runs again when it answers (not an attempt)',
        );
        await untilRedisAnswers(() => job.moveToDelayed(Date.now() + wait, token), {
          what: 'delaying the job',
          log,
          maxMs: retryMs,
        });
        throw new DelayedError();
      }
      if (err instanceof PermanentError) {
        await endCycle(rt, stage, cycle, err.outcome ?? exhaustedOutcome(stage, err), `${stage}: ${err.message}`);
        throw err;
      }
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      log.warn({ err: (err as Error).message, attempt: job.attemptsMade + 1, last }, 'stage failed');
      if (last) await endExhausted(rt, stage, cycle, err as Error);
      throw err;
    }
  };
}

/** The view narrowed by the repository's settings at `commit`; settings that cannot stand end the cycle. */
async function settledRepoView(rt: Runtime, commit: string): Promise<Runtime> {
  await rt.mirror.ensureCommit(commit);
  try {
    return await settledView(rt, commit);
  } catch (err) {
    if (err instanceof ConfigError) throw new CycleEnded('skipped_policy', err.message);
    throw err;
  }
}

/**
 * The view of the repository a cycle belongs to, or why there is none: a job naming a repository
 * this deployment does not serve (removed or renamed in the config) ends its cycle with that
 * reason. A job naming none was enqueued before many repositories: the legacy repository's.
 */
export async function viewOf(rt: Runtime, c: { repo?: string }): Promise<Runtime | string> {
  const views = await rt.views();
  const names = [...views.keys()].join(', ');
  const view = c.repo === undefined ? [...views.values()].find((v) => v.repo.legacy) : views.get(c.repo);
  if (!view)
    return c.repo === undefined
      ? `the job names no repository (it was enqueued by a single-repository deployment) and no configured repository keeps that deployment's layout (configured: ${names})`
      : `repository "${c.repo}" is not configured in this deployment (configured: ${names})`;
  // The runtime given serves its own repository as given (a caller may have laid fields over it).
  return view.repo.name === rt.repo.name ? rt : view;
}

/**
 * A signed job of a cycle that started more than `maxAgeDays` ago: a copy replayed after its
 * cycle's outcome record expired (90 days) or was deleted would otherwise run again on its old base.
 */
function staleJobRefusal(c: AnyCycleJob, maxAgeDays: number, now: number): string | null {
  const age = now - c.createdAt;
  if (age <= maxAgeDays * 86_400_000) return null;
  return `job signature expired: the cycle started ${Math.floor(age / 86_400_000)} days ago and jobs.maxAgeDays is ${maxAgeDays} (an old signed job replayed)`;
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
  if (!job || queue === 'events' || queue === 'produce') return;
  const exhausted = job.attemptsMade >= (job.opts.attempts ?? 1) || /stalled/i.test(err.message);
  if (!exhausted || err instanceof PermanentError) return;
  const parsed = CATALOG[queue].schema.safeParse(job.data);
  if (!parsed.success) return;
  const c = parsed.data as AnyCycleJob;
  const next = NEXT[queue as Stage];
  const handedOver = next
    ? await untilRedisAnswers(() => rt.redis.exists(rt.queues[next].toKey(stageJobId(c.cycleId, next))), {
        what: 'the hand-over check',
        log: rt.log,
        maxMs: rt.cfg.worker.redisRetryMs,
      })
    : 0;
  if (handedOver) return;
  const view = await viewOf(rt, c);
  await endExhausted(typeof view === 'string' ? rt : view, queue as Stage, c, err);
}

function exhaustedOutcome(stage: Stage, err: Error): Outcome {
  return stageRunnerDefences.infraOutcome && isInfraFailure(err) ? 'infra_failed' : CATALOG[stage].exhausted;
}

async function endExhausted(rt: Runtime, stage: Stage, cycle: AnyCycleJob, err: Error): Promise<void> {
  if (!stageRunnerDefences.giveUp) return;
  await endCycle(rt, stage, cycle, exhaustedOutcome(stage, err), `${stage} gave up after its retries: ${err.message}`);
}

/** Records the cycle's outcome (once; idempotent), waiting out Redis trouble for `worker.redisRetryMs`. */
export async function endCycle(
  rt: Runtime,
  stage: Stage,
  c: AnyCycleJob,
  outcome: Outcome,
  reason: string,
  details: CycleDetails = {},
): Promise<CycleRecord> {
  // A refresh cycle's outcome is told in its PR's terms: refreshed, or refresh_failed (core refresh.ts).
  if (c.refresh) ({ outcome, reason } = refreshOutcome(outcome, reason));
  const record = cycleRecord({
    cycle_id: c.cycleId,
    repo: c.repo ?? rt.repo.name,
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
      : (c.proposal?.files ?? []).map((f) => ({
          path: f.path,
          action: f.is_new ? ('ADD' as const) : ('UPDATE' as const),
        })),
    tests: details.tests ?? c.tests ?? [],
    model: c.model ?? details.model ?? null,
    ...((c.context ?? details.context) ? { context: c.context ?? details.context } : {}),
    branch: details.branch ?? c.revise?.branch ?? c.refresh?.branch ?? null,
    pr_url: details.pr_url ?? c.revise?.url ?? c.refresh?.url ?? null,
    ...(details.warnings?.length ? { warnings: details.warnings } : {}),
    ...(details.limit ? { limit: details.limit } : {}),
    ...((c.contextNames ?? details.contextNames) ? { context_names: c.contextNames ?? details.contextNames } : {}),
    // A revise cycle is recorded like any other, linked to its PR.
    ...(c.revise
      ? {
          kind: 'revise' as const,
          revise_of: {
            pr: c.revise.pr,
            cycle: c.revise.originCycle,
            revision: c.revise.revision,
            trigger: c.revise.trigger.id,
          },
        }
      : {}),
    ...(c.refresh
      ? {
          kind: 'refresh' as const,
          refresh_of: {
            pr: c.refresh.pr,
            branch: c.refresh.branch,
            lease: c.refresh.lease,
            mode: c.refresh.mode,
            base: c.baseCommit,
          },
        }
      : {}),
  });
  const retry = { what: `the outcome of ${c.cycleId}`, log: rt.log, maxMs: rt.cfg.worker.redisRetryMs };
  const { record: standing, fresh } = await untilRedisAnswers(() => recordOutcome(rt.records, record), retry);
  if (stage === 'pr' && !standing.pr_url)
    await untilRedisAnswers(() => releasePrSlot(rt.redis, rt.keys, c.cycleId), retry);
  rt.log.info(
    { cycle: c.cycleId, gap: c.gap.id, outcome: standing.outcome, fresh },
    `cycle ended: ${standing.outcome}: ${standing.reason}`,
  );
  if (c.revise && !c.dryRun) await replyOnPr(rt, c, standing);
  if (c.refresh && !c.dryRun) await commentRefresh(rt, c, standing);
  // Revise requests that arrived while this cycle held the gap start now, oldest first (issue 29).
  await rt.afterCycleEnd?.(c.gap.id, rt);
  return standing;
}

/**
 * Every revise cycle answers on its PR, whatever its outcome: once (a Redis claim per cycle, given
 * back when the forge refuses, so a repeated recording tries again), and never failing the job.
 */
async function replyOnPr(rt: Runtime, c: AnyCycleJob, record: CycleRecord): Promise<void> {
  const r = c.revise!;
  const forge = rt.forge;
  if (!canRevise(forge)) return;
  const key = rt.keys.reviseReplied(c.cycleId);
  try {
    if ((await rt.redis.set(key, '1', 'EX', 90 * 86400, 'NX')) !== 'OK') return;
    await forge.commentOnPr(r.pr, reply(reviseReplyText(r, record, record.outcome === 'ok')));
  } catch (err) {
    await rt.redis.del(key).catch(() => 0);
    rt.log.warn({ cycle: c.cycleId, pr: r.pr, err: (err as Error).message }, `could not reply on PR #${r.pr}`);
  }
}

/**
 * What a forge's refusal means for a cycle is the pipeline's to say: a forge that refused the
 * token, a repository, a pull request or a push for good ends the cycle pr_failed at once.
 */
function outcomeOfFailure(err: unknown): unknown {
  if (err instanceof ForgeRefused || err instanceof PushRefused) return new CycleEnded('pr_failed', err.reason);
  return err;
}
