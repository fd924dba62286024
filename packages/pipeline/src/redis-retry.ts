import { isRedisTransient } from '@prbot/core';
import type { Logger } from '@prbot/core';
import { defenceOff } from './faults.ts';

export interface RedisRetryOptions {
  /** What is being written, for the log line. */
  what: string;
  log?: Logger;
  /** Give up after this long (the reconciler ends what a dead worker leaves). Default 10 min. */
  maxMs?: number;
}

/**
 * Runs `fn` until Redis answers it: out-of-memory replies, a restart (LOADING, a dropped
 * connection) and failovers are waited out with capped backoff (100 ms doubling to 5 s); any
 * other error is thrown at once. Only for idempotent writes (a recorded-once outcome, a job id
 * hand-over, a progress line), since a write may have landed before its reply was lost.
 */
export async function untilRedisAnswers<T>(fn: () => Promise<T>, o: RedisRetryOptions): Promise<T> {
  const deadline = Date.now() + (o.maxMs ?? 600_000);
  let wait = 100;
  let tries = 0;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      // PRBOT_FAULT=no-redis-retry (a positive control only): the first refusal is final.
      if (!isRedisTransient(err) || Date.now() + wait > deadline || defenceOff('redis-retry')) throw err;
      if (tries++ === 0 || tries % 10 === 0)
        o.log?.warn({ err: (err as Error).message, tries }, `Redis refused ${o.what}; retrying until it answers`);
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 5000);
    }
  }
}
