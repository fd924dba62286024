import { canRevise } from '@prbot/forge';
import { newCycleId } from '@prbot/core';
import { acquireGapLocks, getRecord, releaseGapLocks, type Runtime } from '@prbot/pipeline';
import { originOf, startCycle } from './revise-start.ts';
import { queuedRequestSchema, type QueuedRequest } from './queued-request.ts';

/**
 * The queue of revise requests of one PR (issue 29). A request that arrives while a cycle of the
 * PR's gap runs is not dropped: it is kept in Redis (a list per PR, oldest first) with everything
 * judged about it (who asked, the revision number the cap counted, the cycle id it will run as),
 * and started when that cycle ends — by the worker that records the outcome, and failing that by
 * the next produce. An entry leaves the list only once its propose job exists (the job id comes from
 * the entry's cycle id, so a start repeated after a crash adds nothing).
 */

/**
 * "Leaves the list only once its propose job exists", switchable for one purpose: the positive
 * control in apps/worker/test/e2e/review-loop.test.ts turns it off in its own process (the entry
 * is taken off before its start, as a pop would) to show that a start that fails then loses the
 * request. No variable or config field reaches this object.
 */
export const reviseQueueDefence = { keepUntilStarted: true };

/** Appends the request to its PR's queue; returns how many were queued before it. */
export async function queueRequest(rt: Runtime, pr: number, entry: QueuedRequest): Promise<number> {
  const [[, length]] = (await rt.redis
    .multi()
    .rpush(rt.keys.reviseQueue(pr), JSON.stringify(entry))
    .sadd(rt.keys.reviseQueued(entry.gapId), String(pr))
    .exec()) as [[Error | null, number]];
  return length - 1;
}

/**
 * Starts the PR's oldest queued request when no cycle of its gap runs; returns the cycle ids
 * started (at most one: the started cycle then holds the gap). Entries whose PR closed or lost its
 * marker are dropped with a log line; an entry whose cycle already has an outcome is done.
 */
export async function startQueued(rt: Runtime, prNumber: number): Promise<string[]> {
  const forge = rt.forge;
  if (!canRevise(forge)) return [];
  const key = rt.keys.reviseQueue(prNumber);
  for (;;) {
    const raw = await rt.redis.lindex(key, 0);
    if (raw === null) return [];
    const parsed = queuedRequestSchema.safeParse(safeJson(raw));
    const drop = async (why: string) => {
      await rt.redis.lrem(key, 1, raw);
      rt.log.info({ pr: prNumber, why }, `queued revise request on PR #${prNumber} dropped: ${why}`);
    };
    if (!parsed.success) {
      await drop('the queue entry does not parse');
      continue;
    }
    const entry = parsed.data;
    const ended = await getRecord(rt.redis, rt.keys, entry.cycleId);
    if (ended) {
      // Ended without ever running (the reconciler found its lock and no job: a crash between the two):
      // the request is not lost, it runs under a new cycle id. Otherwise it ran; it is done.
      if (ended.stage === 'produce')
        await rt.redis.lset(key, 0, JSON.stringify({ ...entry, cycleId: newCycleId(rt.clock()) }));
      else await rt.redis.lrem(key, 1, raw);
      continue;
    }
    const pr = await forge.getPr(prNumber);
    if (!pr || !pr.cycleId) {
      await drop(`PR #${prNumber} carries no verified prbot marker`);
      continue;
    }
    if (pr.state !== 'open') {
      await drop(`PR #${prNumber} is ${pr.state}`);
      continue;
    }
    const origin = await originOf(rt, pr);
    if ('refused' in origin) {
      await drop(origin.refused);
      continue;
    }
    const claim = [{ gapId: origin.gap.id, cycleId: entry.cycleId }];
    const [holder] = await acquireGapLocks(rt.redis, rt.keys, claim);
    if (holder !== entry.cycleId) return [];
    if (!reviseQueueDefence.keepUntilStarted) await rt.redis.lrem(key, 1, raw);
    try {
      await startCycle(rt, forge, pr, entry, origin);
    } catch (err) {
      await releaseGapLocks(rt.redis, rt.keys, claim);
      throw err;
    }
    await rt.redis.lrem(key, 1, raw);
    rt.log.info(
      { pr: prNumber, cycle: entry.cycleId, revision: entry.revision, queuedFor: rt.clock() - entry.queuedAt },
      `queued revise request ${entry.triggerId} on PR #${prNumber} started as cycle ${entry.cycleId}`,
    );
    return [entry.cycleId];
  }
}

/**
 * A cycle of the gap ended: start what its PRs have queued. Never throws (the caller is recording
 * an outcome); what cannot start now stays queued for the next cycle end or produce.
 */
export async function startQueuedForGap(rt: Runtime, gapId: string): Promise<string[]> {
  const started: string[] = [];
  try {
    const prs = await rt.redis.smembers(rt.keys.reviseQueued(gapId));
    for (const pr of prs) {
      started.push(...(await startQueued(rt, Number(pr))));
      if ((await rt.redis.llen(rt.keys.reviseQueue(Number(pr)))) === 0)
        await rt.redis.srem(rt.keys.reviseQueued(gapId), pr);
    }
  } catch (err) {
    rt.log.warn(
      { gap: gapId, err: (err as Error).message },
      'could not start the queued revise requests of the gap; the next produce tries again',
    );
  }
  return started;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}
