import type { Keys } from './keys.ts';
import type { Mirror } from '@prbot/repo';
import type { RedisClient as Redis } from './redis.ts';

/** How often a worker sweeps its mirror; a cycle's ref outlives its outcome by at most this. */
export const MIRROR_SWEEP_INTERVAL_MS = 10 * 60_000;
/** A cycle older than this is over even when its outcome marker (kept 90 days) is gone. */
const CYCLE_MAX_AGE_MS = 30 * 86_400_000;

/** The creation time encoded in a cycle id (`c` + base-36 ms + random), or null. */
function cycleCreatedAt(id: string): number | null {
  const ms = parseInt(id.slice(1, 10), 36);
  return /^c[0-9a-z]{9}[0-9a-f]{8}$/.test(id) && Number.isFinite(ms) ? ms : null;
}

/**
 * Deletes the mirror refs of cycles that ended (their outcome is recorded in Redis) or are
 * older than any cycle can live. Refs of live cycles stay: a later stage on this machine finds
 * the bot commit instead of rebuilding it. Without this sweep every cycle left a ref, and with
 * gc off the mirror grew without bound.
 */
export async function sweepMirror(
  mirror: Mirror,
  redis: Redis,
  keys: Keys,
  now = Date.now(),
): Promise<{ deleted: number; kept: number }> {
  const ids = await mirror.cycleRefs();
  if (ids.length === 0) return { deleted: 0, kept: 0 };
  const ended: string[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const p = redis.pipeline();
    for (const id of chunk) p.exists(keys.outcome(id));
    const res = (await p.exec()) ?? [];
    chunk.forEach((id, j) => {
      const created = cycleCreatedAt(id);
      if (res[j]?.[1] === 1 || (created !== null && now - created > CYCLE_MAX_AGE_MS)) ended.push(id);
    });
  }
  const deleted = await mirror.deleteCycleRefs(ended);
  return { deleted, kept: ids.length - deleted };
}
