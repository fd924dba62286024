import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { UnavailableError } from './errors/index.ts';

export type RedisRole = 'worker' | 'client';
/** A single server or a Redis Cluster; every prbot key shares one hash tag, so one slot. */
export type RedisClient = Redis | Cluster;

/**
 * The one place Redis connections are made.
 * - workers: `maxRetriesPerRequest: null`, or BullMQ's blocking calls throw during a Redis
 *   restart instead of waiting for it (BullMQ going-to-production guide);
 * - producer, CLI, dashboard: `enableOfflineQueue: false` so a missing server fails fast with an
 *   error instead of hanging the command.
 * Never set ioredis `keyPrefix`: BullMQ's Lua scripts build keys themselves and would miss it.
 */
export function connect(target: { url: string; cluster?: string[] }, role: RedisRole, extra: RedisOptions = {}): RedisClient {
  const opts = roleOptions(role);
  if (target.cluster?.length) {
    const nodes = target.cluster.map((u) => {
      const x = new URL(u);
      return { host: x.hostname, port: Number(x.port || 6379) };
    });
    const first = new URL(target.cluster[0]!);
    const auth = first.password ? { password: decodeURIComponent(first.password), username: first.username || undefined } : {};
    return new Cluster(nodes, {
      redisOptions: { ...opts, ...auth, ...extra },
      enableOfflineQueue: role === 'worker',
      clusterRetryStrategy: role === 'worker' ? (n) => Math.min(n * 200, 5000) : (n) => (n > 3 ? null : 200 * n),
    });
  }
  return new Redis(target.url, { ...opts, ...extra });
}

function roleOptions(role: RedisRole): RedisOptions {
  return role === 'worker'
    ? { maxRetriesPerRequest: null, enableReadyCheck: true }
    : { maxRetriesPerRequest: 2, enableOfflineQueue: false, connectTimeout: 5000, retryStrategy: (n) => (n > 3 ? null : 200 * n) };
}

/**
 * Resolves once the connection is ready; rejects with a message naming the (redacted) URL when
 * the server cannot be reached, instead of leaving a CLI command hanging or dumping a stack.
 */
export async function waitReady(redis: RedisClient, url: string, timeoutMs = 6000): Promise<void> {
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

/** Deletes every key matching a pattern, on each master of a cluster (tests and the demo). */
export async function deleteMatching(redis: RedisClient, pattern: string): Promise<void> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      // One DEL per key: keys of different slots may not share a command on a cluster.
      for (const k of found) await node.del(k);
      cursor = next;
    } while (cursor !== '0');
  }
}
