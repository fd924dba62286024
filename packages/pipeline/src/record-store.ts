import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Queue } from 'bullmq';
import type { RedisClient as Redis } from './redis.ts';
import { utcDay, type Clock, cycleRecordSchema, type CycleRecord, redactDeep } from '@prbot/core';
import type { Keys } from './keys.ts';
import type { Outcome } from '@prbot/core';
import { defenceOff } from './faults.ts';
import { withScripts } from './lua-scripts.ts';
import { writeConfirmed, type ReplicaWait } from './replica-wait.ts';

export const HISTORY_KEPT = 20;
const RECENT_KEPT = 2000;
const RECORD_TTL_S = 90 * 86400;

export interface RecordStoreDeps {
  redis: Redis;
  keys: Keys;
  recordsDir: string;
  events: Queue;
  clock: Clock;
  /** Confirms the outcome on a replica before it counts as recorded (replica-wait.ts). */
  replicas?: ReplicaWait;
}

/**
 * Records a cycle's terminal outcome exactly once: the marker, record, gap history, day stats
 * and the in-flight lock change in one Lua call; a second call for the same cycle changes
 * nothing. The file and the event are written after, idempotently (same path, same job id),
 * so a crash between the two steps is repaired by the retry that follows it.
 * Returns the record that stands (the first one, when the cycle was already recorded).
 */
export async function recordOutcome(
  deps: RecordStoreDeps,
  given: CycleRecord,
): Promise<{ record: CycleRecord; fresh: boolean }> {
  // A provider's or forge's answer quoted in a reason can carry a key back: scrub before storing.
  const record = redactDeep(given);
  const r = withScripts(deps.redis);
  const json = JSON.stringify(cycleRecordSchema.parse(record));
  const write = async () => {
    // PRBOT_FAULT=no-record-once (a positive control only): the cycle's marker is dropped first,
    // so a second record of it is written like a first.
    if (defenceOff('record-once')) await deps.redis.del(deps.keys.outcome(record.cycle_id));
    return (
      (await r.recordOutcome(
        deps.keys.outcome(record.cycle_id),
        deps.keys.record(record.cycle_id),
        deps.keys.history(record.gap_id ?? '-'),
        deps.keys.recent(),
        deps.keys.stats(utcDay(deps.clock())),
        deps.keys.inflight(record.gap_id ?? '-'),
        deps.keys.statsByRepo(utcDay(deps.clock())),
        record.cycle_id,
        record.outcome,
        json,
        HISTORY_KEPT,
        RECENT_KEPT,
        RECORD_TTL_S,
        record.gap_id ? '1' : '0',
        record.repo ?? '',
      )) === 1
    );
  };
  // Confirmed on a replica, or written again until it is (the script keeps the first record, and
  // writes anew one the old master took with it).
  let fresh = false;
  await writeConfirmed(
    deps.replicas,
    `the outcome of ${record.cycle_id}`,
    async () => (fresh = (await write()) || fresh),
  );
  const standing = redactDeep(fresh ? record : ((await getRecord(deps.redis, deps.keys, record.cycle_id)) ?? record));
  await writeRecordFile(deps.recordsDir, standing);
  await deps.events.add('cycle', standing, { jobId: `${standing.cycle_id}-event` });
  return { record: standing, fresh };
}

async function writeRecordFile(dir: string, record: CycleRecord): Promise<void> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${record.cycle_id}.json`);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(record, null, 2) + '\n');
  await rename(tmp, file);
}

export async function getRecord(redis: Redis, keys: Keys, cycleId: string): Promise<CycleRecord | null> {
  const s = await redis.get(keys.record(cycleId));
  return s ? cycleRecordSchema.parse(JSON.parse(s)) : null;
}

/** The gap's most recent cycles, newest first. */
export async function gapHistory(redis: Redis, keys: Keys, gapId: string, limit = 5): Promise<CycleRecord[]> {
  const rows = await redis.lrange(keys.history(gapId), 0, limit - 1);
  return rows.map((s) => cycleRecordSchema.parse(JSON.parse(s)));
}

/** Histories of many gaps in one round trip (produce and policy use it). */
export async function gapHistories(
  redis: Redis,
  keys: Keys,
  gapIds: string[],
  limit = 5,
): Promise<Map<string, CycleRecord[]>> {
  const p = redis.pipeline();
  for (const id of gapIds) p.lrange(keys.history(id), 0, limit - 1);
  const res = (await p.exec()) ?? [];
  return new Map(
    gapIds.map((id, i) => [id, ((res[i]?.[1] as string[]) ?? []).map((s) => cycleRecordSchema.parse(JSON.parse(s)))]),
  );
}

export async function recentRecords(redis: Redis, keys: Keys, limit = 50): Promise<CycleRecord[]> {
  const ids = await redis.lrange(keys.recent(), 0, limit - 1);
  if (ids.length === 0) return [];
  const rows = await redis.mget(ids.map((id) => keys.record(id)));
  return rows.flatMap((s) => (s ? [cycleRecordSchema.parse(JSON.parse(s))] : []));
}

export async function outcomeOf(redis: Redis, keys: Keys, cycleId: string): Promise<Outcome | null> {
  return (await redis.get(keys.outcome(cycleId))) as Outcome | null;
}
