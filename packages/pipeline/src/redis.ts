import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { UnavailableError } from '@prbot/core';
import { defenceOff } from './faults.ts';

/**
 * - worker:  long-lived, waits for Redis (BullMQ's blocking calls need it);
 * - service: long-lived and serving requests (the dashboard): each request fails fast while
 *            Redis is away, and the connection comes back by itself when Redis does;
 * - client:  one command and exit (CLI, producer): fails fast and gives up.
 */
export type RedisRole = 'worker' | 'service' | 'client';
/** A single server or a Redis Cluster; every prbot key shares one hash tag, so one slot. */
export type RedisClient = Redis | Cluster;

/**
 * Reconnect delay of every long-lived connection: forever, backing off to at most 2 s. A
 * dashboard that gave up after 3 retries answered /healthz 503 for good after one Redis
 * restart; 2 s bounds how long it stays down once Redis is back.
 */
const RECONNECT_CAP_MS = 2000;
function reconnectDelay(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt, 10), RECONNECT_CAP_MS);
}

/** Where prbot's Redis is: one server, a Cluster (seed nodes) or a Sentinel-watched master. */
export interface RedisTarget {
  url: string;
  cluster?: string[];
  sentinel?: { name: string; nodes: string[] };
}

/**
 * During a failover a Cluster answers MOVED/ASK, CLUSTERDOWN or nothing until the replica is
 * promoted (2-5 s here with cluster-node-timeout 2000). ioredis's defaults (16 redirections,
 * 100 ms apart) gave up after ~1.6 s with "Too many Cluster redirections", and each one cost a
 * stage attempt; these ride a failover out inside the command (~20 s at most).
 */
const CLUSTER_FAILOVER = {
  maxRedirections: 64,
  retryDelayOnFailover: 300,
  retryDelayOnClusterDown: 300,
  retryDelayOnTryAgain: 300,
  retryDelayOnMoved: 50,
} as const;
/** The switch's off: a MOVED is still followed (the slot map is learnt that way), nothing waited. */
const NO_REDIRECTION_RETRY = {
  maxRedirections: 2,
  retryDelayOnFailover: 0,
  retryDelayOnClusterDown: 0,
  retryDelayOnTryAgain: 0,
  retryDelayOnMoved: 0,
} as const;

/**
 * A master demoted to a replica (Sentinel failover, or the old master coming back) answers writes
 * with READONLY on a connection that is still open: reconnect (which asks the sentinels or the
 * cluster for the master again) and send the command again.
 */
function reconnectOnReadonly(err: Error): 2 | false {
  return /^READONLY\b/.test(err.message) ? 2 : false;
}

/**
 * The one place Redis connections are made.
 * - workers: `maxRetriesPerRequest: null`, or BullMQ's blocking calls throw during a Redis
 *   restart instead of waiting for it (BullMQ going-to-production guide);
 * - dashboard (service), producer, CLI: `enableOfflineQueue: false` so a missing server fails a
 *   request fast with an error instead of hanging it; only the one-shot CLI gives up reconnecting.
 * Never set ioredis `keyPrefix`: BullMQ's Lua scripts build keys themselves and would miss it.
 */
export function connect(target: RedisTarget, role: RedisRole, extra: RedisOptions = {}): RedisClient {
  const opts = { ...roleOptions(role), reconnectOnError: reconnectOnReadonly };
  const forever = role !== 'client';
  if (target.cluster?.length) {
    const nodes = target.cluster.map((n) => hostPort(n, 6379));
    const first = new URL(target.cluster[0]!);
    const auth = first.password
      ? { password: decodeURIComponent(first.password), username: first.username || undefined }
      : {};
    return new Cluster(nodes, {
      // PRBOT_FAULT=no-redirection-retry (a positive control only): the first CLUSTERDOWN,
      // TRYAGAIN or closed connection of a failover is final to the command.
      ...(defenceOff('redirection-retry') ? NO_REDIRECTION_RETRY : CLUSTER_FAILOVER),
      redisOptions: { ...opts, ...auth, ...extra },
      enableOfflineQueue: role === 'worker',
      clusterRetryStrategy: forever ? (n) => reconnectDelay(n) : (n) => (n > 3 ? null : 200 * n),
    });
  }
  if (target.sentinel) {
    const u = new URL(target.url);
    const password = u.password ? decodeURIComponent(u.password) : undefined;
    const username = u.username ? decodeURIComponent(u.username) : undefined;
    return new Redis({
      ...opts,
      sentinels: target.sentinel.nodes.map((n) => hostPort(n, 26379)),
      name: target.sentinel.name,
      password,
      username,
      // Sentinels usually share the data nodes' password (requirepass on both); none is fine too.
      sentinelPassword: password,
      // Reconnect to the new master as soon as a sentinel announces +switch-master, instead of
      // waiting for the old master's connection to fail.
      failoverDetector: forever,
      sentinelRetryStrategy: forever ? reconnectDelay : (n) => (n > 3 ? null : 200 * n),
      ...extra,
    });
  }
  return new Redis(target.url, { ...opts, ...extra });
}

function hostPort(u: string, defaultPort: number): { host: string; port: number } {
  const x = new URL(u);
  return { host: x.hostname, port: Number(x.port || defaultPort) };
}

function roleOptions(role: RedisRole): RedisOptions {
  switch (role) {
    case 'worker':
      return { maxRetriesPerRequest: null, enableReadyCheck: true, retryStrategy: reconnectDelay };
    case 'service':
      return {
        maxRetriesPerRequest: 1,
        enableOfflineQueue: false,
        connectTimeout: 5000,
        retryStrategy: reconnectDelay,
      };
    case 'client':
      return {
        maxRetriesPerRequest: 2,
        enableOfflineQueue: false,
        connectTimeout: 5000,
        retryStrategy: (n) => (n > 3 ? null : 200 * n),
      };
  }
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
