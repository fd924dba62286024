/** The longest wait a Retry-After header can impose (a hostile header cannot stall a queue for days). */
const RETRY_AFTER_CAP_MS = 10 * 60_000;

/** Retry-After is seconds or an HTTP date; capped so a hostile header cannot stall the queue for days. */
export function retryAfterMs(h: string | string[] | undefined, now = Date.now()): number {
  const v = Array.isArray(h) ? h[0] : h;
  if (!v) return 30_000;
  const secs = Number(v);
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(v) - now;
  if (!Number.isFinite(ms) || ms < 0) return 30_000;
  return Math.min(ms, RETRY_AFTER_CAP_MS);
}
