/** Injected wherever the date matters (budget day, records) so tests can cross UTC midnight. */
export type Clock = () => number;
export const systemClock: Clock = () => Date.now();

/** The UTC day as YYYY-MM-DD. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Milliseconds since epoch of the next UTC midnight after `ms`. */
export function nextUtcMidnight(ms: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
}
