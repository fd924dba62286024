import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Keys } from './keys.ts';
import type { RedisClient } from './redis.ts';

/** How often a worker process says which queues it serves. */
const PRESENCE_EVERY_MS = 5000;
/** A worker not heard from for this long counts as gone (three missed beats and some slack). */
export const PRESENCE_TTL_MS = 20_000;

/**
 * Which worker processes serve a queue, kept in Redis so the dashboard can count them: its Redis
 * user may not run CLIENT LIST (BullMQ's getWorkers), which the ACL counts as dangerous. Each
 * process keeps a member in a sorted set per queue, scored with when it last beat; a SIGKILLed
 * process simply stops beating and ages out.
 */
export function announcePresence(
  redis: RedisClient,
  keys: Keys,
  queues: readonly string[],
  onError: (err: Error) => void,
  clock: () => number = Date.now,
): { stop(): Promise<void> } {
  const id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const beat = async () => {
    const now = clock();
    const m = redis.multi();
    for (const q of queues)
      m.zadd(keys.workersAlive(q), now, id).zremrangebyscore(keys.workersAlive(q), '-inf', now - 10 * PRESENCE_TTL_MS);
    await m.exec();
  };
  const timer = setInterval(() => void beat().catch(onError), PRESENCE_EVERY_MS);
  timer.unref();
  void beat().catch(onError);
  return {
    async stop() {
      clearInterval(timer);
      const m = redis.multi();
      for (const q of queues) m.zrem(keys.workersAlive(q), id);
      await m.exec().catch(onError);
    },
  };
}

/** Worker processes heard from within PRESENCE_TTL_MS, per queue. */
export async function workersAlive(redis: RedisClient, keys: Keys, queue: string, now: number): Promise<number> {
  return redis.zcount(keys.workersAlive(queue), now - PRESENCE_TTL_MS, '+inf');
}
