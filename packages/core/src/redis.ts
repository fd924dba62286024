import { Redis, type RedisOptions } from 'ioredis';
import { UnavailableError } from './errors/index.ts';

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
  return new Redis(url, { ...opts, ...extra });
}

/**
 * Resolves once the connection is ready; rejects with a message naming the (redacted) URL when
 * the server cannot be reached, instead of leaving a CLI command hanging or dumping a stack.
 */
export async function waitReady(redis: Redis, url: string, timeoutMs = 6000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    let last = 'no answer';
    const onError = (err: Error) => {
      last = err.message;
    };
    const done = (err?: Error) => {
      clearTimeout(timer);
      redis.off('ready', onReady).off('end', onEnd).off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const fail = () => done(new UnavailableError(`cannot reach Redis at ${redactUrl(url)}: ${last}`));
    const onReady = () => done();
    const onEnd = () => fail();
    const timer = setTimeout(fail, timeoutMs);
    redis.on('ready', onReady).on('end', onEnd).on('error', onError);
  });
}

/** Hides a password in a redis:// URL before it goes into a message. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}
