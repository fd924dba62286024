import { z } from 'zod';

/** Every cycle ends in exactly one of these (DESIGN.md, "Outcomes"). */
export const OUTCOMES = [
  'ok',
  'cycle_noop',
  'skipped_pause',
  'skipped_cost',
  'skipped_policy',
  'skipped_no_gap',
  'model_failed',
  'proposal_rejected',
  'apply_failed',
  'tests_failed',
  'pr_skipped_by_policy',
  'pr_failed',
  // The machine failed, not the proposal (disk full, a missing tool, the sandbox could not be
  // made): retried, then ended with this; never counts toward escalation or a gap's failures.
  'infra_failed',
  // Upkeep of open bot PRs (issue 25): a refresh pushed onto the moved base (`refreshed`) or not,
  // the PR left as it was (`refresh_failed`); a PR whose gap is no longer wanted, closed.
  'refreshed',
  'refresh_failed',
  'closed_unwanted',
] as const;

export const outcomeSchema = z.enum(OUTCOMES);
export type Outcome = z.infer<typeof outcomeSchema>;

/** Outcomes that count as a failure of the bot on a gap (used by history and escalation). */
export const FAILURE_OUTCOMES: ReadonlySet<Outcome> = new Set([
  'model_failed',
  'proposal_rejected',
  'apply_failed',
  'tests_failed',
  'pr_failed',
]);
