import { z } from 'zod';
import { markersOf, prStateSchema, type BotPr } from '@prbot/forge';
import { releasePrSlot, type Runtime } from '@prbot/pipeline';

/**
 * What a gap's latest bot PR means for the gap (the human-rejection rule of DESIGN.md):
 * - `awaiting_review`: open; the gap waits for the human.
 * - `done`: merged; the gap is closed by the bot.
 * - `rejected`: closed unmerged, and a human's "no" stands (policy.retryClosedPRs is false).
 * - `retryable`: closed unmerged, and the operator opted in to retrying (the rejection goes in
 *   the prompt's history).
 */
const prVerdictSchema = z.enum(['awaiting_review', 'done', 'rejected', 'retryable']);
type PrVerdict = z.infer<typeof prVerdictSchema>;

/** A gap's latest bot PR as prbot last settled it, stored per gap in Redis (keys.gapPrs). */
const settledPrSchema = z.strictObject({
  gapId: z.string(),
  cycleId: z.string().nullable(),
  url: z.string(),
  branch: z.string(),
  state: prStateSchema,
  verdict: prVerdictSchema,
  /** The forge's updated_at (or the webhook's time): an older view never overwrites a newer one. */
  updatedAt: z.string(),
  settledAt: z.string(),
  via: z.enum(['produce', 'webhook']),
});
export type SettledPr = z.infer<typeof settledPrSchema>;

function prVerdict(pr: Pick<BotPr, 'state'>, policy: { retryClosedPRs: boolean }): PrVerdict {
  if (pr.state === 'open') return 'awaiting_review';
  if (pr.state === 'merged') return 'done';
  return policy.retryClosedPRs ? 'retryable' : 'rejected';
}

/** Each gap's most recently updated bot PR. */
function latestPrByGap(prs: BotPr[]): Map<string, BotPr> {
  const m = new Map<string, BotPr>();
  for (const p of prs) {
    if (!p.gapId) continue;
    const cur = m.get(p.gapId);
    if (!cur || p.updatedAt > cur.updatedAt) m.set(p.gapId, p);
  }
  return m;
}

/**
 * The bookkeeping of bot PRs, the same whether produce listed them or a webhook said one closed:
 * each gap's latest PR and its verdict are stored, and a closed or merged PR gives its slot
 * of forge.maxOpen back at once. Returns what was stored, per gap.
 */
export async function settleBotPrs(rt: Runtime, prs: BotPr[], via: SettledPr['via']): Promise<Map<string, SettledPr>> {
  const latest = latestPrByGap(prs);
  const out = new Map<string, SettledPr>();
  if (latest.size === 0) return out;
  const stored = await settledPrs(rt, [...latest.keys()]);
  const now = new Date(rt.clock()).toISOString();
  const writes: string[] = [];
  for (const [gapId, pr] of latest) {
    const before = stored.get(gapId);
    const s: SettledPr = {
      gapId,
      cycleId: pr.cycleId,
      url: pr.url,
      branch: pr.branch,
      state: pr.state,
      verdict: prVerdict(pr, rt.cfg.policy),
      updatedAt: pr.updatedAt,
      settledAt: now,
      via,
    };
    // A listing read before a webhook's close may arrive after it: the newer view of the PR wins.
    if (before && before.url === s.url && before.updatedAt > s.updatedAt) {
      out.set(gapId, before);
      continue;
    }
    const changed = !before || before.state !== s.state || before.url !== s.url || before.verdict !== s.verdict;
    if (changed) writes.push(gapId, JSON.stringify(s));
    out.set(gapId, s);
    // Once per PR that closed: later listings of the same closed PR cost nothing.
    if (changed && pr.state !== 'open' && pr.cycleId) await releasePrSlot(rt.redis, rt.keys, pr.cycleId);
  }
  if (writes.length) await rt.redis.hset(rt.keys.gapPrs(), ...writes);
  return out;
}

/** The stored verdicts, for the given gaps or all of them. Unparseable entries are skipped. */
export async function settledPrs(rt: Runtime, gapIds?: string[]): Promise<Map<string, SettledPr>> {
  const m = new Map<string, SettledPr>();
  if (gapIds && gapIds.length === 0) return m;
  const entries: [string, string | null][] = gapIds
    ? (await rt.redis.hmget(rt.keys.gapPrs(), ...gapIds)).map((v, i) => [gapIds[i]!, v])
    : Object.entries(await rt.redis.hgetall(rt.keys.gapPrs()));
  for (const [gapId, raw] of entries) {
    if (!raw) continue;
    try {
      const p = settledPrSchema.safeParse(JSON.parse(raw));
      if (p.success) m.set(gapId, p.data);
    } catch {
      // A damaged entry is overwritten by the next settle.
    }
  }
  return m;
}

/** A PR as a `pull_request` webhook describes it once closed. */
export interface ClosedPrEvent {
  url: string;
  branch: string;
  body: string | null;
  merged: boolean;
  /** The PR's updated_at or closed_at from the payload. */
  updatedAt: string;
}

export type ClosedPrResult = { settled: true; gapId: string; verdict: PrVerdict } | { settled: false; reason: string };

/**
 * A closed or merged PR, from a webhook: counted only when it is a bot PR (bot branch and a
 * signed body marker), then settled exactly as produce would settle it from the listing.
 */
export async function settleClosedPr(rt: Runtime, e: ClosedPrEvent): Promise<ClosedPrResult> {
  if (!e.branch.startsWith(rt.cfg.forge.branchPrefix))
    return {
      settled: false,
      reason: `head branch "${e.branch}" is not a bot branch (forge.branchPrefix "${rt.cfg.forge.branchPrefix}")`,
    };
  const { cycleId, gapId } = markersOf(e.body);
  if (!gapId) return { settled: false, reason: 'the PR body carries no valid prbot marker' };
  const pr: BotPr = {
    url: e.url,
    branch: e.branch,
    state: e.merged ? 'merged' : 'closed',
    cycleId,
    gapId,
    updatedAt: e.updatedAt,
  };
  const s = (await settleBotPrs(rt, [pr], 'webhook')).get(gapId)!;
  return { settled: true, gapId, verdict: s.verdict };
}
