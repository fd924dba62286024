import { canRevise, type BotPr } from '@prbot/forge';
import { type Runtime } from '@prbot/pipeline';
import { mentions, requestRevision, type RevisionResult } from './revise-requests.ts';

export interface PolledRevision {
  pr: number;
  commentId: number;
  result: RevisionResult;
}

/**
 * The polling fallback for forges that cannot reach prbot's webhook: every open bot PR's comments
 * are read at each produce, and each one that mentions revise.handle and was not judged before goes
 * to requestRevision, the same entry point the webhook route uses (its per-comment claim makes a
 * comment seen by both start one cycle). Labels are left to the webhook: only a delivery names who
 * put the label on, and without that prbot cannot check write access.
 */
export async function pollRevisions(rt: Runtime, listed: BotPr[]): Promise<PolledRevision[]> {
  const cfg = rt.cfg.revise;
  const forge = rt.forge;
  if (!cfg.enabled || !canRevise(forge)) return [];
  const out: PolledRevision[] = [];
  for (const pr of listed) {
    if (pr.state !== 'open' || !pr.cycleId || pr.number === undefined) continue;
    let comments;
    try {
      comments = await forge.listPrComments(pr.number);
    } catch (err) {
      rt.log.warn({ pr: pr.number, err: (err as Error).message }, `cannot read the comments of PR #${pr.number}; revise requests there wait for the next produce`);
      continue;
    }
    const asking = comments.filter((c) => mentions(c.body, cfg.handle));
    if (asking.length === 0) continue;
    // Judged before (by poll or webhook): no forge call at all. One MGET per PR, not a round trip per comment.
    const n = pr.number;
    const judged = await rt.redis.mget(asking.map((c) => rt.keys.reviseTrigger(n, `${c.kind}-${c.id}`)));
    for (const [i, c] of asking.entries()) {
      if (judged[i] !== null) continue;
      const result = await requestRevision(rt, { pr: pr.number, trigger: { kind: 'comment', commentId: c.id, commentKind: c.kind, author: c.author, body: c.body }, via: 'poll' });
      out.push({ pr: pr.number, commentId: c.id, result });
      // One cycle per PR per run: the next mention waits for this revision (in_flight otherwise).
      if (result.enqueued) break;
    }
  }
  return out;
}
