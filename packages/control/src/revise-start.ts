import {
  isOwnReply,
  requestIdentity,
  reviseBranchRefusal,
  type Forge,
  type PrComment,
  type PrDetail,
  type ReviseForge,
} from '@prbot/forge';
import { type CycleRecord, type ProposeJob, type ReviseRequest } from '@prbot/core';
import { addStageJob, gapHistory, getRecord, jobKeyFrom, type Runtime } from '@prbot/pipeline';
import { withoutQuotes } from './mention.ts';
import type { QueuedRequest } from './queued-request.ts';

/** The gap a bot PR belongs to, from prbot's own record of the cycle that opened it (its marker is signed). */
export async function originOf(
  rt: Runtime,
  pr: PrDetail,
): Promise<
  | { gap: { id: string; text: string; line: number }; origin: CycleRecord | null; history: CycleRecord[] }
  | { refused: string }
> {
  const origin = await getRecord(rt.redis, rt.keys, pr.cycleId!);
  const gapId = origin?.gap_id ?? pr.gapId;
  const history = gapId ? await gapHistory(rt.redis, rt.keys, gapId, 20) : [];
  const known = origin?.gap_text ? origin : history.find((h) => h.gap_text);
  if (!gapId || !known?.gap_text || known.gap_line === null)
    return { refused: `no record of cycle ${pr.cycleId} that opened PR #${pr.number}` };
  const wrongBranch = reviseBranchRefusal(pr.branch, {
    prefix: rt.cfg.forge.branchPrefix,
    base: rt.cfg.repo.base,
    originBranch: origin?.branch,
  });
  if (wrongBranch) return { refused: `PR #${pr.number}: ${wrongBranch}` };
  return { gap: { id: gapId, text: known.gap_text, line: known.gap_line }, origin, history };
}

/**
 * Starts one queued request as a signed propose job whose baseCommit is the PR's head now (after
 * the revision before it pushed). The gap's lock is already held under `entry.cycleId`; the job id
 * comes from it, so a repeated start adds nothing.
 */
export async function startCycle(
  rt: Runtime,
  forge: Forge & ReviseForge,
  pr: PrDetail,
  entry: QueuedRequest,
  o: { gap: { id: string; text: string; line: number }; origin: CycleRecord | null; history: CycleRecord[] },
): Promise<void> {
  const cfg = rt.cfg.revise;
  const comments = await forge.listPrComments(pr.number);
  const t = entry.trigger;
  const trigger =
    t.kind === 'comment'
      ? { id: t.commentId, kind: t.commentKind ?? 'issue', author: t.author, body: await withoutQuotes(t.body) }
      : null;
  const { thread, omitted } = threadFor(comments, cfg, trigger, forge.kind);
  const revise: ReviseRequest = {
    pr: pr.number,
    url: pr.url,
    branch: pr.branch,
    originCycle: pr.cycleId!,
    trigger: { kind: t.kind, id: entry.triggerId, author: entry.who, via: entry.via },
    thread,
    threadOmitted: omitted,
    lastDigest: lastDigest([...(o.origin ? [o.origin] : []), ...o.history]),
    revision: entry.revision,
  };
  const data: ProposeJob = {
    repo: rt.repo.name,
    cycleId: entry.cycleId,
    gap: o.gap,
    baseCommit: pr.headSha,
    createdAt: rt.clock(),
    dryRun: rt.cfg.dryRun,
    notes: [],
    revise,
  };
  // The job id comes from the entry's cycle id: a start repeated after a crash adds nothing.
  await addStageJob(rt.queues, 'propose', entry.cycleId, data, jobKeyFrom(rt.env, rt.cfg.jobs.keyEnv));
}

/** An author name is the commenter's text too: a login of a million characters is cut like a body. */
const AUTHOR_CHARS = 100;
/** The digest's share of the prompt: the end of the output, where a failure's reason usually is. */
const DIGEST_TAIL_CHARS = 3000;

/** The newest `threadCap` comments, newest last, each capped; the trigger is marked (and kept even if older). */
export function threadFor(
  comments: PrComment[],
  cfg: { threadCap: number; commentChars: number; authorChars?: number },
  trigger: { id: number; kind: PrComment['kind']; author: string; body: string } | null,
  forgeKind = 'github',
): { thread: ReviseRequest['thread']; omitted: number } {
  const own = comments.filter((c) => !isOwnReply(c.body));
  const wanted = trigger && requestIdentity(forgeKind, trigger.kind, trigger.id);
  const isTrigger = (c: { id: number; kind: PrComment['kind'] }) =>
    wanted !== null && requestIdentity(forgeKind, c.kind, c.id) === wanted;
  // The request as the reviewer wrote it, without the text it quotes (trigger.body comes without quotes).
  for (const [i, c] of own.entries()) if (trigger && isTrigger(c)) own[i] = { ...c, body: trigger.body };
  // A webhook may deliver the comment before the listing shows it.
  if (trigger && !own.some(isTrigger))
    own.push({ id: trigger.id, kind: trigger.kind, author: trigger.author, body: trigger.body, createdAt: '9999' });
  const kept = own.slice(-cfg.threadCap);
  const cap = (s: string) =>
    s.length > cfg.commentChars
      ? `${s.slice(0, cfg.commentChars)}\n[… ${s.length - cfg.commentChars} more characters cut]`
      : s;
  return {
    thread: kept.map((c) => ({
      author: c.author.slice(0, cfg.authorChars ?? AUTHOR_CHARS),
      kind: c.kind,
      body: cap(c.body),
      ...(c.path ? { path: c.path.slice(0, 300) } : {}),
      trigger: isTrigger(c),
    })),
    omitted: own.length - kept.length,
  };
}

/** The output tail of the newest record that ran tests (the PR's own run or a previous revision's). */
export function lastDigest(records: CycleRecord[], tailChars = DIGEST_TAIL_CHARS): string | null {
  const r = records.find((x) => x.tests.length > 0);
  if (!r) return null;
  const failed = r.tests.find((t) => !t.ok) ?? r.tests[r.tests.length - 1]!;
  return `${r.outcome} (${failed.argv.join(' ')} → ${failed.ok ? 'passed' : `exit ${failed.exitCode ?? failed.signal}`}):\n${failed.tail.slice(-tailChars)}`;
}
