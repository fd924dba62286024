import { GAP_LOCK_TTL_S, jobKeyFrom, newCycleId, signJob, stageJobId, withScripts, type Gap, type ProposeJob, type Runtime } from '@prbot/core';
import type { ProduceLine } from './produce.ts';

// The lock lives as long as its cycle: stage starts and the reconciler renew it (ledger.ts).
const INFLIGHT_TTL_S = GAP_LOCK_TTL_S;

/**
 * Enqueues a propose job per gap, each under its gap's in-flight lock (one round trip): a gap
 * whose cycle is still in flight is reported, not enqueued twice. Used by produce and by the
 * dashboard issue's retry box.
 */
export async function enqueueGaps(rt: Runtime, base: string, items: { gap: Gap; notes: string[] }[], o: { dryRun?: boolean } = {}): Promise<{ lines: ProduceLine[] }> {
  const { cfg } = rt;
  const lines: ProduceLine[] = [];
  if (items.length === 0) return { lines };
  const now = rt.clock();
  const jobKey = jobKeyFrom(rt.env, cfg.jobs.keyEnv); // before any lock is taken: a missing key leaks none
  const proposed = items.map((it, i) => ({ ...it, cycleId: newCycleId(now + i) }));
  const holders = (await withScripts(rt.redis).acquireGaps(
    proposed.length,
    ...proposed.map((p) => rt.keys.inflight(p.gap.id)),
    INFLIGHT_TTL_S,
    ...proposed.map((p) => p.cycleId),
  )) as string[];
  const mine = proposed.filter((p, i) => holders[i] === p.cycleId);
  for (const [i, p] of proposed.entries()) {
    if (holders[i] !== p.cycleId) lines.push({ gap: p.gap, action: 'in_flight', cycleId: holders[i], why: `cycle ${holders[i]} is still in flight` });
  }
  const jobs = mine.map((p) => {
    // A caller (a scheduled `produce` job, which is unsigned data in Redis) may make a run drier,
    // never wetter: `{dryRun: false}` must not lift an operator's `dryRun: true`.
    const data: ProposeJob = { cycleId: p.cycleId, gap: p.gap, baseCommit: base, createdAt: now, dryRun: cfg.dryRun || o.dryRun === true, notes: p.notes };
    // Signed like every hand-over: a propose job no producer signed is refused by the worker.
    return { name: 'propose', data: signJob('propose', data, jobKey), opts: { jobId: stageJobId(p.cycleId, 'propose') } };
  });
  try {
    if (jobs.length) await rt.queues.propose.addBulk(jobs);
  } catch (err) {
    await withScripts(rt.redis).releaseGaps(mine.length, ...mine.map((p) => rt.keys.inflight(p.gap.id)), ...mine.map((p) => p.cycleId));
    throw err;
  }
  for (const p of mine) lines.push({ gap: p.gap, action: 'enqueued', cycleId: p.cycleId, why: 'new cycle' });
  return { lines };
}

