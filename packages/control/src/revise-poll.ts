import { canRevise, requestIdentity, type BotPr } from '@prbot/forge';
import { type Runtime } from '@prbot/pipeline';
import { mentions } from './mention.ts';
import { labelIdentity, requestRevision, type RevisionResult } from './revise-requests.ts';
import { startQueued } from './revise-queue.ts';

export interface PolledRevision {
  pr: number;
  /** The comment, review or (0) the label's event that asked. */
  commentId: number;
  /** Set when the revise label asked. */
  label?: string;
  result: RevisionResult;
}

/**
 * The polling fallback for forges that cannot reach prbot's webhook: every open bot PR's comments,
 * inline comments and review summaries are read at each produce, and each one that mentions
 * revise.handle and was not judged before goes to requestRevision, the same entry point the webhook
 * route uses (its claim under one identity per request makes a comment seen by both start one
 * cycle). Requests a cycle end left queued are started here too, should that end have failed to.
 * The revise label is polled too: the forge's issue events (GitHub) or timeline (Gitea) name who
 * put it on, whose write access is then checked like a commenter's.
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
  await startQueued(rt, number).catch((err: unknown) =>
    rt.log.warn(
      { pr: number, err: (err as Error).message },
      `cannot start the queued revise requests of PR #${number} now`,
    ),
  );
  const out: PolledRevision[] = [];
  const label = cfg.label;
  if (label !== null && forge.labeledBy) {
    try {
      const pr = await forge.getPr(number);
      const actor =
        pr && pr.state === 'open' && pr.labels.includes(label) ? await forge.labeledBy(number, label) : null;
      if (
        pr &&
        actor &&
        !(await rt.redis.exists(rt.keys.reviseTrigger(number, labelIdentity(label, pr.headSha, actor))))
      ) {
        out.push({
          pr: number,
          commentId: 0,
          label,
          result: await requestRevision(rt, { pr: number, trigger: { kind: 'label', label, actor }, via: 'poll' }),
        });
      }
    } catch (err) {
      rt.log.warn(
        { pr: number, err: (err as Error).message },
        `cannot read who put ${label} on PR #${number}; the label waits for the next produce`,
      );
    }
  }
  let comments;
  try {
    comments = await forge.listPrComments(number);
  } catch (err) {
    rt.log.warn(
      { pr: number, err: (err as Error).message },
      `cannot read the comments of PR #${number}; revise requests there wait for the next produce`,
    );
    return out;
  }
  const asking = [];
  for (const c of comments) if (await mentions(c.body, cfg.handle)) asking.push(c);
  if (asking.length === 0) return out;
  // Judged before (by poll or webhook): no forge call at all. One MGET per PR, not a round trip per comment.
  const judged = await rt.redis.mget(
    asking.map((c) => rt.keys.reviseTrigger(number, requestIdentity(forge.kind, c.kind, c.id))),
  );
  for (const [i, c] of asking.entries()) {
    if (judged[i] !== null) continue;
    const result = await requestRevision(rt, {
      pr: number,
      trigger: { kind: 'comment', commentId: c.id, commentKind: c.kind, author: c.author, body: c.body },
      via: 'poll',
    });
    out.push({ pr: number, commentId: c.id, result });
  }
  return out;
}
