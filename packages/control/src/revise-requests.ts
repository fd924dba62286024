import { canRevise, hasWriteAccess, isOwnReply, reasonOf, reply, reviseBranchRefusal, type Forge, type PrComment, type PrDetail, type ReviseForge } from '@prbot/forge';
import { newCycleId, type CycleRecord, type ProposeJob, type ReviseRequest } from '@prbot/core';
import { acquireGapLocks, addStageJob, gapHistory, getRecord, jobKeyFrom, releaseGapLocks, type Runtime } from '@prbot/pipeline';

type RevisionTrigger =
  | { kind: 'comment'; commentId: number; commentKind?: 'issue' | 'review'; author: string; body: string }
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
  | 'in_flight';

export type RevisionResult = { enqueued: true; cycleId: string } | { enqueued: false; reason: RevisionSkip; detail: string };

// A judged trigger is remembered as long as a cycle record is (records.ts RECORD_TTL_S).
const TRIGGER_TTL_S = 90 * 86400;

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
  if (!cfg.enabled) return skip('disabled', 'revise.enabled is false');
  const forge = rt.forge;
  if (!canRevise(forge)) return skip('disabled', `the ${forge.kind} forge has no comments to read (revise cycles need gitea, forgejo or github)`);

  // 1. Is it a request at all?
  const t = req.trigger;
  if (t.kind === 'comment' && !mentions(t.body, cfg.handle)) return skip('no_mention', `the comment does not mention ${cfg.handle}`);
  if (t.kind === 'label' && (cfg.label === null || t.label !== cfg.label)) return skip('no_mention', cfg.label === null ? 'revise.label is not set' : `the label "${t.label}" is not revise.label`);
  const who = t.kind === 'comment' ? t.author : t.actor;
  if (t.kind === 'comment' && (isOwnReply(t.body) || sameLogin(who, await botLogin(rt, forge)))) return skip('own_comment', 'prbot does not answer its own comments');

  // 2. The PR as it is now (the label's de-dup key needs its head).
  const pr = await forge.getPr(req.pr);
  if (!pr || !pr.cycleId) return skip('not_bot_pr', `PR #${req.pr} carries no verified prbot marker`);
  if (pr.state !== 'open') return skip('pr_not_open', `PR #${req.pr} is ${pr.state}`);

  // 3. Claim the trigger: the same comment (or label on the same head) is judged once, however it arrives.
  // A label event is judged per head and actor: a reader's label never uses up a writer's.
  const triggerId = t.kind === 'comment' ? `${t.commentKind ?? 'issue'}-${t.commentId}` : `label-${t.label}-${pr.headSha.slice(0, 12)}-${t.actor.slice(0, 60)}`;
  const claimKey = rt.keys.reviseTrigger(req.pr, triggerId);
  const claimed = await rt.redis.set(claimKey, `${req.via} ${rt.clock()}`, 'EX', TRIGGER_TTL_S, 'NX');
  if (claimed !== 'OK') return skip('duplicate', `trigger ${triggerId} on PR #${req.pr} was already judged`);
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
    if (!hasWriteAccess(permission)) return skip('no_write_access', `${who} has ${permission} access to the repository; revisions need write`);

    // 5. The cap, counted when a cycle is enqueued (taken back below if nothing is enqueued).
    const revision = await rt.redis.incr(rt.keys.revisions(req.pr));
    if (revision > cfg.maxRevisionsPerPr) {
      await rt.redis.decr(rt.keys.revisions(req.pr));
      await forge
        .commentOnPr(req.pr, reply(`prbot has already made ${cfg.maxRevisionsPerPr} revision(s) of this pull request (revise.maxRevisionsPerPr); it will not change it again. Push the change yourself, or close the PR so the gap can be tried afresh.`))
        .catch((err: unknown) => rt.log.warn({ pr: req.pr, err: reasonOf(err) }, 'could not reply that the revision cap is reached'));
      return skip('revision_cap', `PR #${req.pr} already had ${cfg.maxRevisionsPerPr} revision(s) (revise.maxRevisionsPerPr)`);
    }

    const enqueued = await enqueue(rt, forge, pr, req, { triggerId, who, revision });
    if (!enqueued.enqueued) {
      await rt.redis.decr(rt.keys.revisions(req.pr));
      if (enqueued.reason === 'in_flight' || enqueued.reason === 'not_bot_pr') await release();
      return skip(enqueued.reason, enqueued.detail);
    }
    if (t.kind === 'label') {
      // Off again, so the label can ask for the next revision (best effort: the head-keyed claim holds meanwhile).
      await forge.removeLabel(req.pr, t.label).catch((err: unknown) => rt.log.warn({ pr: req.pr, err: reasonOf(err) }, `could not remove the label ${t.label}`));
    }
    rt.log.info({ pr: req.pr, cycle: enqueued.cycleId, via: req.via, revision }, `revise cycle ${enqueued.cycleId} enqueued for PR #${req.pr} (revision ${revision})`);
    return enqueued;
  } catch (err) {
    // A forge or Redis failure midway: the trigger was not used, so the next poll or delivery may try it.
    await release().catch(() => 0);
    throw err;
  }
}

async function enqueue(
  rt: Runtime,
  forge: Forge & ReviseForge,
  pr: PrDetail,
  req: RevisionRequest,
  o: { triggerId: string; who: string; revision: number },
): Promise<RevisionResult> {
  const cfg = rt.cfg.revise;
  // The gap comes from prbot's own record of the cycle that opened the PR (its marker is signed).
  const origin = await getRecord(rt.redis, rt.keys, pr.cycleId!);
  const gapId = origin?.gap_id ?? pr.gapId;
  const history = gapId ? await gapHistory(rt.redis, rt.keys, gapId, 20) : [];
  const known = origin?.gap_text ? origin : history.find((h) => h.gap_text);
  if (!gapId || !known?.gap_text || known.gap_line === null) return { enqueued: false, reason: 'not_bot_pr', detail: `no record of cycle ${pr.cycleId} that opened PR #${pr.number}` };
  const gap = { id: gapId, text: known.gap_text, line: known.gap_line };
  const wrongBranch = reviseBranchRefusal(pr.branch, { prefix: rt.cfg.forge.branchPrefix, base: rt.cfg.repo.base, originBranch: origin?.branch });
  if (wrongBranch) return { enqueued: false, reason: 'not_bot_pr', detail: `PR #${pr.number}: ${wrongBranch}` };

  const comments = await forge.listPrComments(pr.number);
  const triggerComment = req.trigger.kind === 'comment' ? req.trigger : null;
  const { thread, omitted } = threadFor(comments, cfg, triggerComment ? { id: triggerComment.commentId, kind: triggerComment.commentKind ?? 'issue', author: triggerComment.author, body: triggerComment.body } : null);

  const jobKey = jobKeyFrom(rt.env, rt.cfg.jobs.keyEnv);
  const now = rt.clock();
  const cycleId = newCycleId(now);
  const [holder] = await acquireGapLocks(rt.redis, rt.keys, [{ gapId: gap.id, cycleId }]);
  if (holder !== cycleId) return { enqueued: false, reason: 'in_flight', detail: `cycle ${holder} of the gap is still in flight; the request is taken up when it ends` };

  const revise: ReviseRequest = {
    pr: pr.number,
    url: pr.url,
    branch: pr.branch,
    originCycle: pr.cycleId!,
    trigger: { kind: req.trigger.kind, id: o.triggerId, author: o.who.slice(0, 100), via: req.via },
    thread,
    threadOmitted: omitted,
    lastDigest: lastDigest([...(origin ? [origin] : []), ...history]),
    revision: o.revision,
  };
  const data: ProposeJob = { cycleId, gap, baseCommit: pr.headSha, createdAt: now, dryRun: rt.cfg.dryRun, notes: [], revise };
  try {
    await addStageJob(rt.queues, 'propose', cycleId, data, jobKey);
  } catch (err) {
    await releaseGapLocks(rt.redis, rt.keys, [{ gapId: gap.id, cycleId }]);
    throw err;
  }
  return { enqueued: true, cycleId };
}

/** The newest `threadCap` comments, newest last, each capped; the trigger is marked (and kept even if older). */
export function threadFor(
  comments: PrComment[],
  cfg: { threadCap: number; commentChars: number },
  trigger: { id: number; kind: 'issue' | 'review'; author: string; body: string } | null,
): { thread: ReviseRequest['thread']; omitted: number } {
  const own = comments.filter((c) => !isOwnReply(c.body));
  const isTrigger = (c: { id: number; kind: string }) => trigger !== null && c.id === trigger.id && c.kind === trigger.kind;
  // A webhook may deliver the comment before the listing shows it.
  if (trigger && !own.some(isTrigger)) own.push({ id: trigger.id, kind: trigger.kind, author: trigger.author, body: trigger.body, createdAt: '9999' });
  const kept = own.slice(-cfg.threadCap);
  const cap = (s: string) => (s.length > cfg.commentChars ? `${s.slice(0, cfg.commentChars)}\n[… ${s.length - cfg.commentChars} more characters cut]` : s);
  return {
    thread: kept.map((c) => ({ author: c.author.slice(0, 100), kind: c.kind, body: cap(c.body), ...(c.path ? { path: c.path.slice(0, 300) } : {}), trigger: isTrigger(c) })),
    omitted: own.length - kept.length,
  };
}

/** The output tail of the newest record that ran tests (the PR's own run or a previous revision's). */
function lastDigest(records: CycleRecord[]): string | null {
  const r = records.find((x) => x.tests.length > 0);
  if (!r) return null;
  const failed = r.tests.find((t) => !t.ok) ?? r.tests[r.tests.length - 1]!;
  return `${r.outcome} (${failed.argv.join(' ')} → ${failed.ok ? 'passed' : `exit ${failed.exitCode ?? failed.signal}`}):\n${failed.tail.slice(-3000)}`;
}

/** `@prbot` as a word: not part of `@prbot-dev` or an e-mail address. */
export function mentions(body: string, handle: string): boolean {
  const h = handle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^A-Za-z0-9_.@/-])${h}(?![A-Za-z0-9_-])`, 'i').test(body);
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
      rt.log.warn({ err: reasonOf(err) }, 'cannot read the bot login; own comments are recognised by their reply mark only');
      logins.delete(forge);
      return null;
    });
    logins.set(forge, login);
  }
  return login;
}
