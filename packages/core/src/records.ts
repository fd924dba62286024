import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Queue } from 'bullmq';
import type { RedisClient as Redis } from './redis.ts';
import { z } from 'zod';
import { inertText } from './inert-text.ts';
import { utcDay, type Clock } from './clock.ts';
import type { Keys } from './keys.ts';
import { contextShownSchema } from './context/index.ts';
import { modelInfoSchema } from './model/info.ts';
import { outcomeSchema, type Outcome } from './outcomes.ts';
import { withScripts } from './scripts.ts';
import type { ReplicaWait } from './replica-wait.ts';
import { redactDeep } from './redact.ts';
import { commandResultSchema } from './testresult.ts';

export const cycleRecordSchema = z.object({
  cycle_id: z.string(),
  gap_id: z.string().nullable(),
  gap_text: z.string().nullable(),
  gap_line: z.number().int().nullable(),
  outcome: outcomeSchema,
  reason: z.string(),
  /** The stage that ended the cycle. */
  stage: z.enum(['produce', 'propose', 'apply', 'test', 'pr']),
  started_at: z.string(),
  ended_at: z.string(),
  dry_run: z.boolean(),
  base_commit: z.string().nullable(),
  bot_commit: z.string().nullable(),
  summary: z.string().nullable(),
  files: z.array(z.object({ path: z.string(), action: z.enum(['ADD', 'UPDATE', 'NOOP']) })),
  tests: z.array(commandResultSchema),
  model: modelInfoSchema.nullable(),
  /** Every file the prompt showed, whole or in windows (absent in records from before it existed). */
  context: z.array(contextShownSchema).optional(),
  branch: z.string().nullable(),
  pr_url: z.string().nullable(),
  /** What went wrong without changing the outcome (a label not applied, a draft refused by the forge). */
  warnings: z.array(z.string()).optional(),
  /** `revise`: a revise cycle on an open bot PR (absent: a cycle that opens a PR). */
  kind: z.enum(['gap', 'revise']).optional(),
  /** A revise cycle's PR: its number, the cycle that opened it and which revision this is. */
  revise_of: z.object({ pr: z.number().int(), cycle: z.string(), revision: z.number().int(), trigger: z.string() }).optional(),
});
export type CycleRecord = z.infer<typeof cycleRecordSchema>;

/** A record with every optional part empty; callers give what their stage knows. */
export function cycleRecord(
  r: Pick<CycleRecord, 'cycle_id' | 'outcome' | 'reason' | 'stage' | 'started_at' | 'ended_at' | 'dry_run'> & Partial<CycleRecord>,
): CycleRecord {
  return {
    gap_id: null,
    gap_line: null,
    base_commit: null,
    bot_commit: null,
    files: [],
    tests: [],
    model: null,
    branch: null,
    pr_url: null,
    ...r,
    // Reasons quote providers, forges, models and test output; a record is shown on the
    // dashboard, in logs and in PR bodies, so what it keeps is inert (inert-text.ts).
    reason: inertText(r.reason, { multiline: true }),
    summary: r.summary == null ? null : inertText(r.summary, { multiline: true }),
    gap_text: r.gap_text == null ? null : inertText(r.gap_text),
    ...(r.warnings ? { warnings: r.warnings.map((w) => inertText(w, { multiline: true })) } : {}),
  };
}

/** How many of the newest records, in a row, ended in one of `outcomes`. */
export function leadingRun(history: Pick<CycleRecord, 'outcome'>[], outcomes: ReadonlySet<Outcome>): number {
  // infra_failed: the machine failed, not the gap; it neither counts toward a run nor breaks one.
  const relevant = history.filter((h) => h.outcome !== 'infra_failed');
  const i = relevant.findIndex((h) => !outcomes.has(h.outcome));
  return i === -1 ? relevant.length : i;
}

export const HISTORY_KEPT = 20;
const RECENT_KEPT = 2000;
const RECORD_TTL_S = 90 * 86400;

export interface RecorderDeps {
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
export async function recordOutcome(deps: RecorderDeps, given: CycleRecord): Promise<{ record: CycleRecord; fresh: boolean }> {
  // A provider's or forge's answer quoted in a reason can carry a key back: scrub before storing.
  const record = redactDeep(given);
  const r = withScripts(deps.redis);
  const json = JSON.stringify(cycleRecordSchema.parse(record));
  const fresh =
    (await r.recordOutcome(
      deps.keys.outcome(record.cycle_id),
      deps.keys.record(record.cycle_id),
      deps.keys.history(record.gap_id ?? '-'),
      deps.keys.recent(),
      deps.keys.stats(utcDay(deps.clock())),
      deps.keys.inflight(record.gap_id ?? '-'),
      record.cycle_id,
      record.outcome,
      json,
      HISTORY_KEPT,
      RECENT_KEPT,
      RECORD_TTL_S,
      record.gap_id ? '1' : '0',
    )) === 1;
  // Unconfirmed: thrown as Redis's own NOREPLICAS (transient), so the caller's retry records
  // again; the script keeps the first record, and one lost with the old master is written anew.
  if (deps.replicas && !(await deps.replicas.confirm(`the outcome of ${record.cycle_id}`))) {
    throw new Error(`NOREPLICAS no replica confirmed the outcome of ${record.cycle_id}`);
  }
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
export async function gapHistories(redis: Redis, keys: Keys, gapIds: string[], limit = 5): Promise<Map<string, CycleRecord[]>> {
  const p = redis.pipeline();
  for (const id of gapIds) p.lrange(keys.history(id), 0, limit - 1);
  const res = (await p.exec()) ?? [];
  return new Map(gapIds.map((id, i) => [id, ((res[i]?.[1] as string[]) ?? []).map((s) => cycleRecordSchema.parse(JSON.parse(s)))]));
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

/** Renders prior attempts for the prompt ("Prior attempts on this gap …"). */
export function describeHistory(history: CycleRecord[]): string {
  if (history.length === 0) return 'Prior attempts on this gap: none.';
  const lines = history.map((h, i) => {
    const files = h.files.length ? h.files.map((f) => `${f.action} ${f.path}`).join(', ') : 'none';
    return `${i + 1}. ${h.ended_at} ${h.outcome}: ${h.reason}\n   files: ${files}${h.pr_url ? `\n   PR: ${h.pr_url}` : ''}`;
  });
  return `Prior attempts on this gap (newest first):\n${lines.join('\n')}`;
}
