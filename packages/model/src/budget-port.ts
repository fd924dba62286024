/**
 * The budget as the model package sees it (a port): the pipeline's Redis budget implements it,
 * so model code never imports Redis.
 */
export interface Reservation {
  granted: true;
  day: string;
  cycleId: string;
  tokens: number;
  callsUsed: number;
  tokensUsed: number;
  /** The repository whose share of the day this reservation also holds (settled with it). */
  repo?: string;
}

export type RefusalReason =
  | 'day_calls'
  | 'day_tokens'
  | 'cycle_calls'
  | 'cycle_tokens'
  /** A repository's share of the day is spent; other repositories still have the day's budget. */
  | 'repo_calls'
  | 'repo_tokens';
export interface Refusal {
  granted: false;
  reason: RefusalReason;
  message: string;
  /** When a day refusal lifts (next UTC midnight); null for a cycle cap, which never lifts. */
  retryAt: number | null;
  /** The cap was reached by requests that failed (refunded, not billed), not by spending. */
  byRequests?: true;
}
