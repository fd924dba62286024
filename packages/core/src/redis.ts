import { Redis, type RedisOptions } from 'ioredis';

export type RedisRole = 'worker' | 'client';

/**
 * The one place Redis connections are made.
 * - workers: `maxRetriesPerRequest: null`, or BullMQ's blocking calls throw during a Redis
 *   restart instead of waiting for it (BullMQ going-to-production guide);
 * - producer, CLI, dashboard: `enableOfflineQueue: false` so a missing server fails fast with an
 *   error instead of hanging the command.
 * Never set ioredis `keyPrefix`: BullMQ's Lua scripts build keys themselves and would miss it.
 */
export function connect(url: string, role: RedisRole, extra: RedisOptions = {}): Redis {
  const opts: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 2, enableOfflineQueue: false, connectTimeout: 5000, retryStrategy: (n) => (n > 3 ? null : 200 * n) };
  return new Redis(url, { ...opts, ...extra, lazyConnect: role === 'client' });
}

/** Connects a client-role connection and turns "connection refused" into a message naming the URL. */
export async function connectClient(url: string): Promise<Redis> {
  const redis = connect(url, 'client');
  redis.on('error', () => {}); // surfaced by connect() below, not as an unhandled event
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw new Error(`cannot reach Redis at ${redactUrl(url)}: ${(err as Error).message}`);
  }
  return redis;
}

/** Hides a password in a redis:// URL before it goes into a message. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}
