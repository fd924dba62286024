import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { z } from 'zod';
import type { Config } from '@prbot/config';
import {
  applyJobSchema,
  prJobSchema,
  proposeJobSchema,
  testJobSchema,
  cycleRecordSchema,
  UsageError,
} from '@prbot/core';
import type { Outcome } from '@prbot/core';
import { randomUUID } from 'node:crypto';
import { defenceOff } from './faults.ts';
import { signJob } from './job-signing.ts';

export const STAGES = ['propose', 'apply', 'test', 'pr'] as const;
export type Stage = (typeof STAGES)[number];
/** `produce` runs scheduled produce runs (a BullMQ job scheduler); `events` delivers records. */
export const QUEUE_NAMES = [...STAGES, 'events', 'produce'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export const produceJobSchema = z.object({ dryRun: z.boolean().optional() });
export const PRODUCE_SCHEDULER_ID = 'produce';

/**
 * The catalog: per queue, the payload schema (parsed on dequeue) and the outcome a job gets
 * when it runs out of attempts. Producer, worker and dashboard all read queues from here.
 */
export const CATALOG = {
  propose: { schema: proposeJobSchema, exhausted: 'model_failed' },
  apply: { schema: applyJobSchema, exhausted: 'apply_failed' },
  test: { schema: testJobSchema, exhausted: 'tests_failed' },
  pr: { schema: prJobSchema, exhausted: 'pr_failed' },
  events: { schema: cycleRecordSchema, exhausted: null },
  produce: { schema: produceJobSchema, exhausted: null },
} as const satisfies Record<QueueName, { schema: z.ZodTypeAny; exhausted: Outcome | null }>;

export type JobData<Q extends QueueName> = z.infer<(typeof CATALOG)[Q]['schema']>;

/** Hand-over ids: a retried or crashed stage re-adding the next stage's job is a no-op. */
export function stageJobId(cycleId: string, q: QueueName): string {
  return `${cycleId}-${q === 'events' ? 'event' : q}`;
}

function jobOptions(cfg: Config, q: QueueName): JobsOptions {
  const s = cfg.queues[q];
  return {
    attempts: s.attempts,
    backoff: { type: s.backoff.type, delay: s.backoff.delay, jitter: s.backoff.jitter },
    // Without these Redis grows without bound (BullMQ issues 2890, 1180). Completed hand-over ids
    // are kept for a day so a crashed stage re-adding its successor within that time is refused.
    removeOnComplete: { age: 86400, count: 5000 },
    removeOnFail: { age: 14 * 86400, count: 5000 },
  };
}

/** Parses `propose,test` (or nothing: all) into queue names; an unknown name is a UsageError. */
export function parseQueueList(
  list: string | string[] | undefined,
  allowed: readonly QueueName[] = QUEUE_NAMES,
): QueueName[] {
  const items = (Array.isArray(list) ? list : (list ?? '').split(',')).map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) return [...allowed];
  for (const q of items) {
    if (!(allowed as readonly string[]).includes(q))
      throw new UsageError(`unknown queue "${q}"; known queues: ${allowed.join(', ')}`);
  }
  return [...new Set(items)] as QueueName[];
}

export type Queues = Record<QueueName, Queue>;

export function openQueues(
  cfg: Config,
  connection: ConnectionOptions,
  onError: (err: Error) => void = () => {},
): Queues {
  const make = (q: QueueName) => {
    const queue = new Queue(q, { connection, prefix: cfg.redis.prefix, defaultJobOptions: jobOptions(cfg, q) });
    // Without a listener every reconnect attempt prints a stack; connection trouble is
    // reported once, by whoever waits for the connection (waitReady, the worker's logger).
    queue.on('error', onError);
    return queue;
  };
  return Object.fromEntries(QUEUE_NAMES.map((q) => [q, make(q)])) as Queues;
}

export async function closeQueues(queues: Queues): Promise<void> {
  await Promise.all(Object.values(queues).map((q) => q.close()));
}

/**
 * A cycle's job for stage `q`, signed, with the hand-over id: what every producer of stage jobs
 * adds (produce, revise requests, the runner's hand-over), so none builds the three by hand.
 */
export function stageJob<Q extends Stage>(
  q: Q,
  cycleId: string,
  data: JobData<Q>,
  jobKey: Buffer,
): { name: Q; data: JobData<Q>; opts: { jobId: string; priority?: number } } {
  const rank = (data as { rank?: number }).rank;
  // The cycle's place in its repository's line is its priority in every queue (fair shares).
  const priority = rank !== undefined && !defenceOff('fair-order') ? { priority: rank } : {};
  return { name: q, data: signJob(q, data, jobKey), opts: { jobId: stageJobId(cycleId, q), ...priority } };
}

/** Adds `stageJob(…)` to its queue; a second add of the same cycle's job is a no-op (the job id). */
export async function addStageJob<Q extends Stage>(
  queues: Record<QueueName, Queue>,
  q: Q,
  cycleId: string,
  data: JobData<Q>,
  jobKey: Buffer,
): Promise<void> {
  const j = stageJob(q, cycleId, data, jobKey);
  // PRBOT_FAULT=no-handover-id (a positive control only): a second add of the cycle's job adds a
  // second job. The first keeps the hand-over id, so the ledger and the reconciler still find it.
  if (defenceOff('handover-id') && (await queues[q].getJob(j.opts.jobId)))
    j.opts.jobId = `${j.opts.jobId}-again-${randomUUID().slice(0, 8)}`;
  await queues[q].add(j.name, j.data, j.opts);
}
