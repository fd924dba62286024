import type { Keys } from './keys.ts';
import { outcomeSchema, type Outcome } from '@prbot/core';
import type { RedisClient as Redis } from './redis.ts';
import { withScripts } from './lua-scripts.ts';

/**
 * A gap's in-flight lock lives as long as its cycle: every stage start and every reconciler pass
 * (each minute) renews it for this long. The TTL is only a backstop for a deployment where no
 * worker runs at all for a day; the reconciler ends a lock's cycle long before.
 */
export const GAP_LOCK_TTL_S = 86400;

export interface LedgerEntry {
  /** The cycle's outcome when it has ended: the job then does nothing. */
  ended: Outcome | null;
  /** The next stage's job exists: this stage's work is done, the cycle belongs to the next. */
  handedOver: boolean;
  /** 'held' (renewed), 'retaken' (lapsed, gap free), 'ended', or the id of another cycle. */
  lock: string;
}

/** One Lua call at the start of every stage job (cycle-ledger.lua). */
export async function readLedger(
  redis: Redis,
  keys: Keys,
  o: { cycleId: string; gapId: string; nextJobKey: string | null },
): Promise<LedgerEntry> {
  const marker = keys.outcome(o.cycleId);
  const [outcome, next, lock] = (await withScripts(redis).cycleLedger(
    marker,
    keys.inflight(o.gapId),
    o.nextJobKey ?? marker,
    o.cycleId,
    GAP_LOCK_TTL_S,
    o.nextJobKey ? '1' : '0',
  )) as [string, number, string];
  return { ended: outcome ? outcomeSchema.parse(outcome) : null, handedOver: next === 1, lock };
}
