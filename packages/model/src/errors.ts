import { inertText, redactText, RateLimited } from '@prbot/core';
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
    // Messages quote the provider's body, which may echo the key back, or carry escapes for a terminal.
    super(redactText(inertText(message)));
  }
}

/** The whole propose queue must wait (HTTP 429). */
export class ModelRateLimited extends RateLimited {
  constructor(
    readonly rung: string,
    waitMs: number,
  ) {
    super(`${rung} answered 429`, waitMs);
  }
}
