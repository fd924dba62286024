/**
 * prbot's policy: the four functions an operator edits to decide what the bot works on.
 * Nothing else lives here. The budget and the guardrails are not policy: they are checked
 * in core before and after these functions, and nothing returned here can lift them.
 */
import type { CycleRecord, Gap, Proposal } from '@prbot/core';

export interface PolicySettings {
  maxGapsPerRun: number;
  maxConsecutiveFailures: number;
  retryClosedPRs: boolean;
}

export interface Verdict {
  ok: boolean;
  reason: string;
}

export interface GapWithHistory {
  gap: Gap;
  /** Newest first. */
  history: CycleRecord[];
  /** The gap's latest bot PR on the forge, if any (open and merged ones never reach pickGaps). */
  pr?: { url: string; state: 'open' | 'closed' | 'merged' } | null;
}

/**
 * Outcomes that are nobody's verdict on the gap: a skip (pause, budget, the policy itself) and
 * infra_failed (the machine failed). They neither count toward the failure streak nor end it,
 * so a hopeless gap stays hopeless across a day of skipped_cost or its own skipped_policy.
 */
const NEUTRAL: ReadonlySet<string> = new Set([
  'skipped_pause',
  'skipped_cost',
  'skipped_policy',
  'skipped_no_gap',
  'infra_failed',
  'refreshed',
  'refresh_failed',
  'closed_unwanted',
]);

/**
 * Non-ok outcomes since the gap's last `ok` (history newest first), skipping neutral ones.
 * Bounded by the history the caller loaded (core keeps the newest 20 per gap).
 */
export function failureStreak(history: Pick<CycleRecord, 'outcome'>[]): number {
  let n = 0;
  for (const h of history) {
    if (h.outcome === 'ok') break;
    if (!NEUTRAL.has(h.outcome)) n++;
  }
  return n;
}

/**
 * Which gaps produce enqueues, in order. Default: a human's "no" stands (a gap whose bot PR was
 * closed unmerged is left out unless `retryClosedPRs`); a gap with `maxConsecutiveFailures`
 * non-ok outcomes since its last success is left out (reword the PRD line: a new gap); fewer
 * failures first, then PRD order; at most `maxGapsPerRun`.
 */
export function pickGaps(gaps: GapWithHistory[], s: PolicySettings): Gap[] {
  return gaps
    .filter((g) => g.pr?.state !== 'closed' || s.retryClosedPRs)
    .map((g, i) => ({ g, i, fails: failureStreak(g.history) }))
    .filter((x) => x.fails < s.maxConsecutiveFailures)
    .sort((a, b) => a.fails - b.fails || a.i - b.i)
    .slice(0, s.maxGapsPerRun)
    .map((x) => x.g.gap);
}

/** Whether a cycle may call the model (runs after the budget check, never instead of it). */
export function shouldRunCycle(g: GapWithHistory, s: PolicySettings): Verdict {
  const fails = failureStreak(g.history);
  if (fails >= s.maxConsecutiveFailures) {
    return {
      ok: false,
      reason: `${fails} failures since the gap's last success; reword the PRD line or raise policy.maxConsecutiveFailures`,
    };
  }
  return { ok: true, reason: 'ok' };
}

/** Whether a guardrail-clean proposal is worth applying. */
function scoreProposal(p: Proposal, _g: GapWithHistory): Verdict {
  if (p.files.every((f) => 'content' in f && f.content.trim() === ''))
    return { ok: false, reason: 'every proposed file is empty' };
  return { ok: true, reason: 'ok' };
}

/** Whether a tested change becomes a draft PR. */
function shouldOpenPR(tests: { ok: boolean }[]): Verdict {
  if (tests.length === 0) return { ok: false, reason: 'no test command ran; a PR needs green tests' };
  if (!tests.every((t) => t.ok)) return { ok: false, reason: 'not every test command passed' };
  return { ok: true, reason: 'ok' };
}

export const defaultPolicy = { pickGaps, shouldRunCycle, scoreProposal, shouldOpenPR };
export type Policy = typeof defaultPolicy;
