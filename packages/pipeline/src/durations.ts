import ms from 'ms';
import type { RedisClient as Redis } from './redis.ts';
import type { Keys } from './keys.ts';

/** Upper bounds (seconds) of the stage-duration histogram buckets, as Prometheus `le`. */
const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/**
 * Workers add each stage run's duration to a histogram kept in Redis (one hash per stage), so
 * the dashboard of any machine can expose it: three commands in one MULTI per job.
 */
export async function observeStageDuration(redis: Redis, keys: Keys, stage: string, seconds: number): Promise<void> {
  const i = DURATION_BUCKETS.findIndex((b) => seconds <= b);
  await redis
    .multi()
    .hincrby(keys.durations(stage), i === -1 ? 'inf' : `b${i}`, 1)
    .hincrby(keys.durations(stage), 'count', 1)
    .hincrbyfloat(keys.durations(stage), 'sum', seconds)
    .exec();
}

export interface StageHistogram {
  stage: string;
  /** Cumulative counts per bucket bound, then +Inf. */
  buckets: { le: string; count: number }[];
  count: number;
  sum: number;
}

export async function readStageDurations(
  redis: Redis,
  keys: Keys,
  stages: readonly string[],
): Promise<StageHistogram[]> {
  const p = redis.pipeline();
  for (const s of stages) p.hgetall(keys.durations(s));
  const res = (await p.exec()) ?? [];
  return stages.map((stage, si) => {
    const h = (res[si]?.[1] ?? {}) as Record<string, string>;
    let acc = 0;
    const buckets = DURATION_BUCKETS.map((b, i) => ({ le: String(b), count: (acc += Number(h[`b${i}`] ?? 0)) }));
    buckets.push({ le: '+Inf', count: acc + Number(h.inf ?? 0) });
    return { stage, buckets, count: Number(h.count ?? 0), sum: Number(h.sum ?? 0) };
  });
}

/**
 * "90s", "15m", "1h", "1d", "2 hours" → milliseconds, through `ms` (the well-kept parser);
 * undefined for text that is not a duration or not positive.
 */
export function parseDuration(text: string): number | undefined {
  const n = ms(text.trim() as ms.StringValue);
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}
