import {
  acquireGapLocks,
  assertRedisSafe,
  countInFlight,
  defenceOff,
  jobKeyFrom,
  releaseGapLocks,
  stageJob,
  stageJobId,
  untilRedisAnswers,
  type Runtime,
} from '@prbot/pipeline';
import { isRedisTransient, redactText, newCycleId, type Gap, type ProposeJob } from '@prbot/core';

/**
 * A caller's `dryRun` may only add to the config's. Switchable for one purpose: the positive
 * control in apps/worker/test/e2e/steering.test.ts turns it off in its own process to show that
 * an unsigned `produce` job then makes a dry-run deployment push. No variable or config field reaches it.
 */
export const produceDryRunDefence = { oneWay: true };

export interface ProduceLine {
  gap: Gap;
  /** What produce did with the gap; every action but `enqueued` says why it was not enqueued. */
  action:
    | 'enqueued'
    | 'not_enqueued'
    | 'in_flight'
    | 'cooling_down'
    | 'too_many_failures'
    | 'not_picked'
    | 'awaiting_review'
    | 'merged'
    | 'at_capacity';
  cycleId?: string;
  why: string;
  /** For `cooling_down`: when the gap may be enqueued again (ms since epoch). */
  until?: number;
}

// The lock lives as long as its cycle: stage starts and the reconciler renew it (ledger.ts).

/** BullMQ's lowest priority: ranks past it share it (first come first served among them). */
const MAX_RANK = 2_097_152;

/**
 * The items within the repository's in-flight cap (repos[].maxInFlight); the rest get an
 * `at_capacity` line and wait for a later produce. Gaps already in flight take no room: they are
 * reported as such by the enqueue itself.
 */
async function underCap<T extends { gap: Gap }>(
  rt: Runtime,
  items: T[],
  inFlight: number,
  lines: ProduceLine[],
): Promise<T[]> {
  const cap = rt.repo.maxInFlight;
  if (cap === undefined) return items;
  const locked = await Promise.all(items.map((it) => rt.redis.exists(rt.keys.inflight(it.gap.id))));
  let room = Math.max(0, cap - inFlight);
  return items.filter((it, i) => {
    if (locked[i] === 1) return true;
    if (room > 0) return room-- > 0;
    lines.push({
      gap: it.gap,
      action: 'at_capacity',
      why: `repository ${rt.repo.name} has ${inFlight} cycle(s) in flight, its cap (repos[].maxInFlight) is ${cap}; a later produce enqueues it`,
    });
    return false;
  });
}

/** How long an enqueue waits out Redis refusing writes (OOM, a restart) before reporting the gaps not enqueued. */
const ENQUEUE_WAIT_MS = 30_000;

/**
 * Enqueues a propose job per gap, each under its gap's in-flight lock (one round trip): a gap
 * whose cycle is still in flight is reported, not enqueued twice. Used by produce and by the
 * dashboard issue's retry box.
 */
export async function enqueueGaps(
  rt: Runtime,
  base: string,
  items: { gap: Gap; notes: string[] }[],
  o: { dryRun?: boolean; redisWaitMs?: number } = {},
): Promise<{ lines: ProduceLine[] }> {
  const { cfg } = rt;
  const lines: ProduceLine[] = [];
  if (items.length === 0) return { lines };
  // A Redis that may evict keys would drop these jobs and locks silently: refuse before any write.
  await assertRedisSafe(rt.redis, rt.log);
  const wait = { log: rt.log, maxMs: o.redisWaitMs ?? ENQUEUE_WAIT_MS };
  const now = rt.clock();
  const jobKey = jobKeyFrom(rt.env, cfg.jobs.keyEnv); // before any lock is taken: a missing key leaks none
  // Fair shares: the repository's cycles in flight are ahead of these in its line (their rank).
  const inFlight = await untilRedisAnswers(() => countInFlight(rt.redis, rt.keys), {
    what: 'the cycles in flight',
    ...wait,
  });
  const admitted = await underCap(rt, items, inFlight, lines);
  const proposed = admitted.map((it, i) => ({ ...it, cycleId: newCycleId(now + i) }));
  if (proposed.length === 0) return { lines };
  let holders: string[];
  try {
    // One script: it takes every lock or, refused (OOM), none; so a retry is safe.
    holders = (await untilRedisAnswers(
      () =>
        acquireGapLocks(
          rt.redis,
          rt.keys,
          proposed.map((p) => ({ gapId: p.gap.id, cycleId: p.cycleId })),
        ),
      { what: 'the gap locks', ...wait },
    )) as string[];
  } catch (err) {
    if (!isRedisTransient(err)) throw err;
    return { lines: proposed.map((p) => notEnqueued(p.gap, err, 'taking its gap lock')) };
  }
  const mine = proposed.filter((p, i) => holders[i] === p.cycleId);
  for (const [i, p] of proposed.entries()) {
    if (holders[i] !== p.cycleId)
      lines.push({
        gap: p.gap,
        action: 'in_flight',
        cycleId: holders[i],
        why: `cycle ${holders[i]} is still in flight`,
      });
  }
  const jobs = mine.map((p, i) => {
    // A caller (a scheduled `produce` job, which is unsigned data in Redis) may make a run drier,
    // never wetter: `{dryRun: false}` must not lift an operator's `dryRun: true`.
    const data: ProposeJob = {
      repo: rt.repo.name,
      cycleId: p.cycleId,
      gap: p.gap,
      baseCommit: base,
      createdAt: now,
      dryRun: produceDryRunDefence.oneWay ? cfg.dryRun || o.dryRun === true : (o.dryRun ?? cfg.dryRun),
      notes: p.notes,
      rank: Math.min(MAX_RANK, inFlight + i + 1),
    };
    // Signed like every hand-over: a propose job no producer signed is refused by the worker.
    return stageJob('propose', p.cycleId, data, jobKey);
  });
  try {
    // Job ids are the cycles': adding again after a refused or lost reply adds nothing twice.
    if (jobs.length)
      await untilRedisAnswers(() => rt.queues.propose.addBulk(jobs), { what: 'the propose jobs', ...wait });
  } catch (err) {
    // addBulk is one MULTI but each job its own script in it: some may be in. Each gap is
    // reported for what Redis holds; only the locks of jobs surely absent are given back.
    const present = await Promise.all(
      mine.map((p) => rt.redis.exists(rt.queues.propose.toKey(stageJobId(p.cycleId, 'propose')))),
    ).catch(() => null);
    if (present === null) {
      // Unknown: keep the locks. The reconciler ends a locked cycle without a job (infra_failed).
      for (const p of mine)
        lines.push(
          notEnqueued(
            p.gap,
            err,
            'enqueueing (unknown whether its job got in: the reconciler ends it if not)',
            p.cycleId,
          ),
        );
      return { lines };
    }
    const absent = mine.filter((_, i) => present[i] === 0);
    // PRBOT_FAULT=no-lock-giveback (a positive control only): the locks stay with no job.
    if (absent.length && !defenceOff('lock-giveback')) {
      await releaseGapLocks(
        rt.redis,
        rt.keys,
        absent.map((p) => ({ gapId: p.gap.id, cycleId: p.cycleId })),
      ).catch((e: Error) =>
        rt.log.warn({ err: e.message }, 'could not give back the gap locks; the reconciler releases them'),
      );
    }
    for (const [i, p] of mine.entries()) {
      lines.push(
        present[i]
          ? { gap: p.gap, action: 'enqueued', cycleId: p.cycleId, why: 'new cycle' }
          : notEnqueued(p.gap, err, 'enqueueing its propose job'),
      );
    }
    return { lines };
  }
  for (const p of mine) lines.push({ gap: p.gap, action: 'enqueued', cycleId: p.cycleId, why: 'new cycle' });
  return { lines };
}

/** A gap Redis refused to take: named with Redis's answer, so the run can say what was not enqueued. */
function notEnqueued(gap: Gap, err: unknown, step: string, cycleId?: string): ProduceLine {
  const why = redactText(String((err as Error).message ?? err)).slice(0, 200);
  return {
    gap,
    action: 'not_enqueued',
    ...(cycleId ? { cycleId } : {}),
    why: `Redis refused ${step}: ${why}; run produce again when Redis accepts writes`,
  };
}
