import { canRevise, requestIdentity, type BotPr, type Runtime } from '@prbot/core';
import { mentions } from './mention.ts';
import { requestRevision, type RevisionResult } from './revise.ts';
import { startQueued } from './revise-queue.ts';

export interface PolledRevision {
  pr: number;
  commentId: number;
  result: RevisionResult;
}

/**
 * The polling fallback for forges that cannot reach prbot's webhook: every open bot PR's comments,
 * inline comments and review summaries are read at each produce, and each one that mentions
 * revise.handle and was not judged before goes to requestRevision, the same entry point the webhook
 * route uses (its claim under one identity per request makes a comment seen by both start one
 * cycle). Requests a cycle end left queued are started here too, should that end have failed to.
 * Labels are left to the webhook: only a delivery names who put the label on, and without that
 * prbot cannot check write access.
 */
export async function pollRevisions(rt: Runtime, listed: BotPr[]): Promise<PolledRevision[]> {
  const cfg = rt.cfg.revise;
  if (!cfg.enabled || !canRevise(rt.forge)) return [];
  const out: PolledRevision[] = [];
  for (const pr of listed) {
    if (pr.state !== 'open' || !pr.cycleId || pr.number === undefined) continue;
    out.push(...(await pollPr(rt, pr.number)));
  }
  return out;
}

/**
 * One PR: its queue first (an older request goes before a newer one), then its unjudged mentions,
 * oldest first. Also what a Gitea review delivery does: Gitea's review payloads carry neither the
 * review's id nor its inline comments, so the PR is read from the API.
 */
export async function pollPr(rt: Runtime, number: number): Promise<PolledRevision[]> {
  const cfg = rt.cfg.revise;
  const forge = rt.forge;
  if (!cfg.enabled || !canRevise(forge)) return [];
  await startQueued(rt, number).catch((err: unknown) => rt.log.warn({ pr: number, err: (err as Error).message }, `cannot start the queued revise requests of PR #${number} now`));
  let comments;
  try {
    comments = await forge.listPrComments(number);
  } catch (err) {
    rt.log.warn({ pr: number, err: (err as Error).message }, `cannot read the comments of PR #${number}; revise requests there wait for the next produce`);
    return [];
  }
  const asking = [];
  for (const c of comments) if (await mentions(c.body, cfg.handle)) asking.push(c);
  if (asking.length === 0) return [];
  // Judged before (by poll or webhook): no forge call at all. One MGET per PR, not a round trip per comment.
  const judged = await rt.redis.mget(asking.map((c) => rt.keys.reviseTrigger(number, requestIdentity(forge.kind, c.kind, c.id))));
  const out: PolledRevision[] = [];
  for (const [i, c] of asking.entries()) {
    if (judged[i] !== null) continue;
    const result = await requestRevision(rt, { pr: number, trigger: { kind: 'comment', commentId: c.id, commentKind: c.kind, author: c.author, body: c.body }, via: 'poll' });
    out.push({ pr: number, commentId: c.id, result });
  }
  return out;
}
