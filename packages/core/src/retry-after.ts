/** The longest wait a Retry-After header can impose (a hostile header cannot stall a queue for days). */
const RETRY_AFTER_CAP_MS = 10 * 60_000;
/**
 * The shortest: "0" (or a past date, or a fraction of a millisecond) would become a queue-wide rate
 * limit of 0 ms, which Redis refuses (`SET … PX 0`: invalid expire time), costing the job an attempt.
 */
const RETRY_AFTER_FLOOR_MS = 1000;

/**
 * The bounds, switchable for one purpose: the positive control in
 * packages/forge/src/hostile-forge.test.ts turns them off in its own process (back in a `finally`)
 * to show a hostile Retry-After is then the wait as sent. No variable or config field reaches it.
 */
export const retryAfterDefence = { bounds: true };

/** Retry-After is seconds or an HTTP date; capped so a hostile header cannot stall the queue for days. */
export function retryAfterMs(h: string | string[] | undefined, now = Date.now()): number {
  const v = Array.isArray(h) ? h[0] : h;
  if (!v) return 30_000;
  const secs = Number(v);
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(v) - now;
  if (!retryAfterDefence.bounds) return ms;
  if (!Number.isFinite(ms) || ms < 0) return 30_000;
  return Math.min(Math.max(Math.ceil(ms), RETRY_AFTER_FLOOR_MS), RETRY_AFTER_CAP_MS);
}
