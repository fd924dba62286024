/** Why one rung failed. `kind` decides what happens next (see ladder.ts). */
export type ModelFailureKind = 'http' | 'timeout' | 'connection' | 'rate_limited' | 'bad_answer' | 'client';

export class ModelCallError extends Error {
  override readonly name = 'ModelCallError';
  constructor(
    readonly kind: ModelFailureKind,
    message: string,
    readonly status?: number,
    /** From Retry-After on a 429, capped. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The whole propose queue must wait (HTTP 429); the stage turns this into BullMQ's rate limit. */
export class ModelRateLimited extends Error {
  override readonly name = 'ModelRateLimited';
  constructor(
    readonly rung: string,
    readonly waitMs: number,
  ) {
    super(`${rung} answered 429; waiting ${Math.round(waitMs / 1000)}s`);
  }
}
