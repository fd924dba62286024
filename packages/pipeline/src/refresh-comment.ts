import { refreshCommentText, type AnyCycleJob, type CycleRecord } from '@prbot/core';
import { canUpkeep, reply } from '@prbot/forge';
import { type Runtime } from './runtime.ts';

/**
 * Every refresh cycle says on its PR what it did, whatever its outcome: once (a Redis claim per
 * cycle, given back when the forge refuses, so a repeated recording tries again), never failing
 * the job. A refresh that failed says the PR is as it was.
 */
export async function commentRefresh(rt: Runtime, c: AnyCycleJob, record: CycleRecord): Promise<void> {
  const r = c.refresh!;
  const forge = rt.forge;
  if (!canUpkeep(forge)) return;
  const key = rt.keys.upkeepNoted(r.branch, `cycle-${c.cycleId}`);
  try {
    if ((await rt.redis.set(key, '1', 'EX', 90 * 86400, 'NX')) !== 'OK') return;
    const pr = {
      url: r.url,
      branch: r.branch,
      state: 'open' as const,
      cycleId: r.originCycle,
      gapId: c.gap.id,
      updatedAt: '',
      ...(r.pr ? { number: r.pr } : {}),
    };
    await forge.commentOn(pr, reply(refreshCommentText(r, record)));
  } catch (err) {
    await rt.redis.del(key).catch(() => 0);
    rt.log.warn({ cycle: c.cycleId, pr: r.url, err: (err as Error).message }, `could not comment on ${r.url}`);
  }
}
