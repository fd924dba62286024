import {
  canRevise,
  hasWriteAccess,
  isOwnReply,
  reasonOf,
  reply,
  requestIdentity,
  type Forge,
  type ReviseForge,
} from '@prbot/forge';
import { newCycleId } from '@prbot/core';
import { stageJobId, type Runtime } from '@prbot/pipeline';
import { mentions } from './mention.ts';
import { queueRequest, startQueued } from './revise-queue.ts';
import type { QueuedRequest } from './queued-request.ts';
import { originOf } from './revise-start.ts';
export { threadFor } from './revise-start.ts';

type RevisionTrigger =
  | { kind: 'comment'; commentId: number; commentKind?: 'issue' | 'review' | 'summary'; author: string; body: string }
  | { kind: 'label'; label: string; actor: string };

export interface RevisionRequest {
  /** The PR's number (Gitea index, GitHub number). */
  pr: number;
  trigger: RevisionTrigger;
  via: 'poll' | 'webhook';
}

type RevisionSkip =
  | 'disabled'
  | 'no_mention'
  | 'own_comment'
  | 'duplicate'
  | 'no_write_access'
  | 'permission_unknown'
  | 'not_bot_pr'
  | 'pr_not_open'
  | 'revision_cap'
  | 'in_flight'
  | 'queued'
  | 'drained';

export type RevisionResult =
  { enqueued: true; cycleId: string } | { enqueued: false; reason: RevisionSkip; detail: string };

// A judged trigger is remembered as long as a cycle record is (records.ts RECORD_TTL_S).
const TRIGGER_TTL_S = 90 * 86400;

/**
 * Two checks of a request, switchable for one purpose each: the positive controls in
 * apps/worker/test/e2e/revise.test.ts (`writeAccess`: off, a reader's mention moves the PR's
 * branch) and review-loop.test.ts (`claimOnce`: off, a redelivered comment starts a second cycle)
 * turn one off in their own process. No variable or config field reaches this object.
 */
export const reviseRequestDefence = { writeAccess: true, claimOnce: true };

/**
 * The one entry point of revise cycles, for polling (produce) and the webhook route alike:
 * enabled → mention or label → not prbot's own comment → claim the trigger once (de-dup across
 * poll and webhook) → write access → an open PR with a verified prbot marker → the revision cap
 * → the gap's in-flight lock → a signed propose job whose baseCommit is the PR's head.
 * A refusal that may change (in flight, a forge that could not answer) gives the claim back so
 * the next poll or delivery tries again; every other refusal is final for that trigger.
 */
export async function requestRevision(rt: Runtime, req: RevisionRequest): Promise<RevisionResult> {
  const cfg = rt.cfg.revise;
  const skip = (reason: RevisionSkip, detail: string): RevisionResult => {
    rt.log.info({ pr: req.pr, via: req.via, reason }, `revise request on PR #${req.pr} ignored: ${detail}`);
    return { enqueued: false, reason, detail };
  };
  // A drained discovered repository gets no new cycles, revise cycles included; its PRs stay as they are.
  if (rt.repo.drained)
    return skip('drained', `repository ${rt.repo.name} is drained (its forge owner no longer lists or marks it)`);
  if (!cfg.enabled) return skip('disabled', 'revise.enabled is false');
  const forge = rt.forge;
  if (!canRevise(forge))
    return skip(
      'disabled',
      `the ${forge.kind} forge has no comments to read (revise cycles need gitea, forgejo or github)`,
    );

  // 1. Is it a request at all?
  const t = req.trigger;
  if (t.kind === 'comment' && !(await mentions(t.body, cfg.handle)))
    return skip('no_mention', `the comment does not mention ${cfg.handle}`);
  if (t.kind === 'label' && (cfg.label === null || t.label !== cfg.label))
    return skip(
      'no_mention',
      cfg.label === null ? 'revise.label is not set' : `the label "${t.label}" is not revise.label`,
    );
  const who = t.kind === 'comment' ? t.author : t.actor;
  if (t.kind === 'comment' && (isOwnReply(t.body) || sameLogin(who, await botLogin(rt, forge))))
    return skip('own_comment', 'prbot does not answer its own comments');

  // 2. The PR as it is now (the label's de-dup key needs its head).
  const pr = await forge.getPr(req.pr);
  if (!pr || !pr.cycleId) return skip('not_bot_pr', `PR #${req.pr} carries no verified prbot marker`);
  if (pr.state !== 'open') return skip('pr_not_open', `PR #${req.pr} is ${pr.state}`);

  // 3. Claim the trigger: the same comment (or label on the same head) is judged once, however it arrives.
  // A label event is judged per head and actor: a reader's label never uses up a writer's.
  // One identity per request on every path: an issue-comment and a review-comment view of one Gitea comment are one request.
  const triggerId =
    t.kind === 'comment'
      ? requestIdentity(forge.kind, t.commentKind ?? 'issue', t.commentId)
      : labelIdentity(t.label, pr.headSha, t.actor);
  const claimKey = rt.keys.reviseTrigger(req.pr, triggerId);
  const claimed = await rt.redis.set(claimKey, `${req.via} ${rt.clock()}`, 'EX', TRIGGER_TTL_S, 'NX');
  if (claimed !== 'OK' && reviseRequestDefence.claimOnce)
    return skip('duplicate', `trigger ${triggerId} on PR #${req.pr} was already judged`);
  const release = () => rt.redis.del(claimKey);

  try {
    // 4. Only users who could push the change themselves may ask prbot to.
    let permission;
    try {
      permission = await forge.permissionOf(who);
    } catch (err) {
      await release();
      return skip('permission_unknown', `cannot read ${who}'s permission: ${reasonOf(err)}`);
    }
    if (reviseRequestDefence.writeAccess && !hasWriteAccess(permission))
      return skip('no_write_access', `${who} has ${permission} access to the repository; revisions need write`);

    // 5. The cap, counted when a cycle is enqueued (taken back below if nothing is enqueued).
    const revision = await rt.redis.incr(rt.keys.revisions(req.pr));
    if (revision > cfg.maxRevisionsPerPr) {
      await rt.redis.decr(rt.keys.revisions(req.pr));
      await forge
        .commentOnPr(
          req.pr,
          reply(
            `prbot has already made ${cfg.maxRevisionsPerPr} revision(s) of this pull request (revise.maxRevisionsPerPr); it will not change it again. Push the change yourself, or close the PR so the gap can be tried afresh.`,
          ),
        )
        .catch((err: unknown) =>
          rt.log.warn({ pr: req.pr, err: reasonOf(err) }, 'could not reply that the revision cap is reached'),
        );
      return skip(
        'revision_cap',
        `PR #${req.pr} already had ${cfg.maxRevisionsPerPr} revision(s) (revise.maxRevisionsPerPr)`,
      );
    }

    // 6. Into the PR's queue (durable, in order), then started at once when no cycle of the gap runs:
    // a request that arrives while one runs waits its turn and is told so; the cycle's end starts it.
    const origin = await originOf(rt, pr);
    if ('refused' in origin) {
      await rt.redis.decr(rt.keys.revisions(req.pr));
      await release();
      return skip('not_bot_pr', origin.refused);
    }
    const entry: QueuedRequest = {
      triggerId,
      trigger: t.kind === 'comment' ? { ...t, body: t.body.slice(0, cfg.commentChars * 4) } : t,
      via: req.via,
      who: who.slice(0, 100),
      revision,
      cycleId: newCycleId(rt.clock()),
      gapId: origin.gap.id,
      queuedAt: rt.clock(),
    };
    const ahead = await queueRequest(rt, req.pr, entry);
    if (t.kind === 'label') {
      // Off again, so the label can ask for the next revision (best effort: the head-keyed claim holds meanwhile).
      await forge
        .removeLabel(req.pr, t.label)
        .catch((err: unknown) =>
          rt.log.warn({ pr: req.pr, err: reasonOf(err) }, `could not remove the label ${t.label}`),
        );
    }
    const started = await startQueued(rt, req.pr).catch((err: unknown) => {
      rt.log.warn(
        { pr: req.pr, err: reasonOf(err) },
        `revise request ${triggerId} on PR #${req.pr} is queued; it could not be started now (${reasonOf(err)}), the next cycle end or produce starts it`,
      );
      return [] as string[];
    });
    // Another request's start may have started this one (it was the oldest in the queue).
    if (started.includes(entry.cycleId) || (await rt.queues.propose.getJob(stageJobId(entry.cycleId, 'propose')))) {
      rt.log.info(
        { pr: req.pr, cycle: entry.cycleId, via: req.via, revision },
        `revise cycle ${entry.cycleId} enqueued for PR #${req.pr} (revision ${revision})`,
      );
      return { enqueued: true, cycleId: entry.cycleId };
    }
    await forge
      .commentOnPr(
        req.pr,
        reply(
          `@${safeLogin(who)} your request is queued: revision ${revision} starts when the cycle now running on this pull request ends${ahead > 0 ? `, after ${ahead} request(s) queued before it` : ''}.`,
        ),
      )
      .catch((err: unknown) =>
        rt.log.warn({ pr: req.pr, err: reasonOf(err) }, 'could not reply that the request is queued'),
      );
    return skip(
      'queued',
      `revise request ${triggerId} on PR #${req.pr} is queued (revision ${revision}${ahead > 0 ? `, ${ahead} ahead` : ''}); it starts when the running cycle of the gap ends`,
    );
  } catch (err) {
    // A forge or Redis failure midway: the trigger was not used, so the next poll or delivery may try it.
    await release().catch(() => 0);
    throw err;
  }
}

export { mentions } from './mention.ts';

/** The label's request: per head and actor, so a reader's label never uses up a writer's, and a new head may ask again. */
export function labelIdentity(label: string, headSha: string, actor: string): string {
  return `label-${label}-${headSha.slice(0, 12)}-${actor.slice(0, 60)}`;
}

/** Names shown in a reply: letters, digits and - _ . only, so a name cannot inject markdown or mentions. */
function safeLogin(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '').slice(0, 40) || 'someone';
}

function sameLogin(a: string, b: string | null): boolean {
  return b !== null && a.toLowerCase() === b.toLowerCase();
}

// One look-up per forge client: the login does not change while a process runs.
const logins = new WeakMap<Forge, Promise<string | null>>();
function botLogin(rt: Runtime, forge: Forge & ReviseForge): Promise<string | null> {
  let login = logins.get(forge);
  if (!login) {
    login = forge.whoami().catch((err: unknown) => {
      rt.log.warn(
        { err: reasonOf(err) },
        'cannot read the bot login; own comments are recognised by their reply mark only',
      );
      logins.delete(forge);
      return null;
    });
    logins.set(forge, login);
  }
  return login;
}
