import { GAP_LOCK_TTL_S } from './ledger.ts';
import { withScripts } from './lua-scripts.ts';
import type { Keys } from './keys.ts';
import type { RedisClient as Redis } from './redis.ts';

/**
 * The gap locks: one key per gap in flight, holding its cycle's id, so produce, revise and the
 * reconciler agree on who owns a gap. The only module that builds these scripts' KEYS and ARGV.
 */
export interface GapClaim {
  gapId: string;
  cycleId: string;
}

/**
 * Takes the lock of every free gap in one script (acquire-gaps.lua): all or, refused (OOM), none,
 * so a retry is safe. Returns, per claim, the cycle that holds the gap now (the claim's own id
 * when it was free).
 */
export async function acquireGapLocks(redis: Redis, keys: Keys, claims: readonly GapClaim[]): Promise<string[]> {
  if (claims.length === 0) return [];
  return (await withScripts(redis).acquireGaps(
    claims.length,
    ...claims.map((c) => keys.inflight(c.gapId)),
    GAP_LOCK_TTL_S,
    ...claims.map((c) => c.cycleId),
  )) as string[];
}

/** Gives back the locks still held by these claims' cycles (release-gaps.lua); returns how many. */
export async function releaseGapLocks(redis: Redis, keys: Keys, claims: readonly GapClaim[]): Promise<number> {
  if (claims.length === 0) return 0;
  return (await withScripts(redis).releaseGaps(
    claims.length,
    ...claims.map((c) => keys.inflight(c.gapId)),
    ...claims.map((c) => c.cycleId),
  )) as number;
}

/** Renews the locks of cycles that still have a live job (refresh-gaps.lua); returns how many. */
export async function refreshGapLocks(redis: Redis, keys: Keys, held: readonly GapClaim[]): Promise<number> {
  if (held.length === 0) return 0;
  return (await withScripts(redis).refreshGaps(
    held.length,
    ...held.map((h) => keys.inflight(h.gapId)),
    GAP_LOCK_TTL_S,
    ...held.map((h) => h.cycleId),
  )) as number;
}

/**
 * How many gaps of the keys' repository have a cycle in flight (their locks), by SCAN: produce's
 * fair order and in-flight cap, and `status`. O(keys in Redis) per call, once per produce.
 */
export async function countInFlight(redis: Redis, keys: Keys): Promise<number> {
  let n = 0;
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', keys.inflightPattern(), 'COUNT', 1000);
    n += found.length;
    cursor = next;
  } while (cursor !== '0');
  return n;
}
