import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import { UnavailableError } from '@prbot/core';
import type { Keys } from './keys.ts';
import { waitReady, type RedisClient } from './redis.ts';
import { defenceOff } from './faults.ts';

/**
 * Redis set up so that it can drop prbot's keys by itself. BullMQ only prints a warning for an
 * evicting policy; prbot refuses, because an evicted job, lock or outcome key is a cycle lost
 * without any error (BullMQ going-to-production guide: `noeviction` is the only safe policy).
 */
export class RedisSettingsError extends UnavailableError {
  override readonly name: string = 'RedisSettingsError';
}

/**
 * Redis lost the data prbot wrote (the epoch key is gone or changed): a restart without
 * persistence, a FLUSHALL or an eviction. Jobs, gap locks and outcomes it held are gone.
 */
export class RedisDataLostError extends UnavailableError {
  override readonly name: string = 'RedisDataLostError';
}

export interface RedisSettings {
  /** One entry per server (each master of a cluster). */
  servers: { node: string; maxmemoryPolicy: string | null; maxmemory: number | null; aof: boolean | null }[];
  /** Refusals: prbot must not run on this Redis. */
  problems: string[];
  /** Worth saying, not worth refusing (no persistence: a restart loses every job). */
  warnings: string[];
}

function field(info: string, name: string): string | null {
  const m = new RegExp(`^${name}:(.*)$`, 'm').exec(info);
  return m ? m[1]!.trim() : null;
}

/**
 * Reads what matters of each server's configuration through INFO (allowed where CONFIG GET is
 * denied by an ACL, as for prbot's own users in deploy/): the eviction policy and AOF.
 */
export async function readRedisSettings(redis: RedisClient): Promise<RedisSettings> {
  // A fail-fast connection (producer, CLI) refuses commands until it is connected: wait for it.
  if (redis.status !== 'ready') await waitReady(redis, 'the configured Redis (redis.url)');
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const out: RedisSettings = { servers: [], problems: [], warnings: [] };
  for (const n of nodes) {
    const node = `${n.options.host ?? '127.0.0.1'}:${n.options.port ?? 6379}`;
    const [memory, persistence] = await Promise.all([n.info('memory'), n.info('persistence')]);
    const policy = field(memory, 'maxmemory_policy');
    const maxmemory = field(memory, 'maxmemory');
    const aof = field(persistence, 'aof_enabled');
    out.servers.push({
      node,
      maxmemoryPolicy: policy,
      maxmemory: maxmemory === null ? null : Number(maxmemory),
      aof: aof === null ? null : aof === '1',
    });
    if (policy !== null && policy !== 'noeviction') {
      out.problems.push(
        `Redis ${node} runs maxmemory-policy ${policy}: it may evict job, lock and outcome keys, and cycles would be lost without any error; set maxmemory-policy noeviction (CONFIG SET maxmemory-policy noeviction, and in redis.conf)`,
      );
    }
    if (aof === '0')
      out.warnings.push(
        `Redis ${node} runs without appendonly: a Redis restart loses every queued job and in-flight cycle; set appendonly yes (appendfsync everysec)`,
      );
  }
  return out;
}

// Each warning once per process: produce and every enqueue check, and a warning is not news twice.
const warned = new Set<string>();

/** Throws RedisSettingsError naming the setting and the fix when prbot must not run on this Redis. */
export async function assertRedisSafe(
  redis: RedisClient,
  log?: { warn(obj: object, msg: string): void },
): Promise<RedisSettings> {
  const s = await readRedisSettings(redis);
  for (const w of s.warnings) {
    if (warned.has(w)) continue;
    warned.add(w);
    log?.warn({ redis: s.servers.map((x) => x.node) }, w);
  }
  if (s.problems.length && !defenceOff('policy-check'))
    throw new RedisSettingsError(`refusing to run: ${s.problems.join('; ')}`);
  return s;
}

/**
 * The data epoch this process works in: the one in Redis, or a new one when none is there yet.
 * A process remembers it and checks it again (checkEpoch) to notice a Redis that lost its data.
 */
export async function ensureEpoch(redis: RedisClient, keys: Keys, now: number): Promise<string> {
  const mine = `${now.toString(36)}-${randomBytes(6).toString('hex')}`;
  await redis.set(keys.epoch(), mine, 'NX');
  return (await redis.get(keys.epoch())) ?? mine;
}

/**
 * Null while Redis still holds `epoch`; otherwise a RedisDataLostError naming what was lost. The
 * epoch is then written anew (so the error is raised once per loss, not on every check).
 */
export async function checkEpoch(
  redis: RedisClient,
  keys: Keys,
  epoch: string,
  now: number,
): Promise<{ lost: RedisDataLostError | null; epoch: string }> {
  const have = await redis.get(keys.epoch());
  if (have === epoch) return { lost: null, epoch };
  const next = await ensureEpoch(redis, keys, now);
  const started = Number.parseInt(epoch.split('-')[0]!, 36);
  return {
    lost: new RedisDataLostError(
      `Redis lost prbot's data (the epoch key ${keys.epoch()} written ${Number.isFinite(started) ? new Date(started).toISOString() : 'earlier'} is ${have === null ? 'gone' : 'replaced'}): a restart without persistence, a FLUSHALL or an eviction; every queued job, gap lock and budget count in it is gone. Cycles recorded in records.dir stay; cycles without a record there were lost. Run produce again to enqueue their gaps (a produce --every schedule is gone too: create it again), and turn on appendonly`,
    ),
    epoch: next,
  };
}
