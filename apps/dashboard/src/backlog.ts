import { QUEUE_NAMES, workersAlive, type QueueName, type Runtime } from '@prbot/pipeline';

export interface QueueBacklog {
  /** Jobs a worker could take now: waiting + prioritized + delayed whose time has come (0 while the queue is paused). */
  ready: number;
  /** Jobs a worker holds now. */
  active: number;
  /** ready + active: the worker slots this queue could use now. What the KEDA ScaledObjects scale on. */
  load: number;
  /** Worker processes that said within the last PRESENCE_TTL_MS that they serve this queue. */
  workers: number;
  paused: boolean;
}

/**
 * BullMQ scores a delayed job `timestamp * 0x1000 + counter` (getDelayedScore.lua), so the jobs
 * due by `now` are those scored below (now + 1) * 0x1000. They count as ready: a worker moves them
 * to waiting on its next fetch, and with no worker running nothing else ever will.
 */
const dueScore = (now: number) => (now + 1) * 0x1000 - 1;

/**
 * The backlog per queue, read from Redis. `load` is the autoscaling metric rather than `ready`
 * alone: with `ready`, a worker whose jobs are all running reads as wanted by no one, the
 * autoscaler stops it, its test runs go back to waiting, and a long test could be restarted for
 * ever (docs/OPERATIONS.md, "What autoscaling reads").
 */
export async function readBacklog(
  rt: Runtime,
  queues: readonly QueueName[] = QUEUE_NAMES,
): Promise<Record<QueueName, QueueBacklog>> {
  const now = rt.clock();
  const rows = await Promise.all(
    queues.map(async (q) => {
      const queue = rt.queues[q];
      const [counts, paused, due, workers] = await Promise.all([
        queue.getJobCounts('waiting', 'prioritized', 'active'),
        queue.isPaused(),
        rt.redis.zcount(queue.keys.delayed!, 0, dueScore(now)),
        workersAlive(rt.redis, rt.keys, q, now),
      ]);
      const ready = paused ? 0 : (counts.waiting ?? 0) + (counts.prioritized ?? 0) + due;
      const active = counts.active ?? 0;
      return [q, { ready, active, load: ready + active, workers, paused }] as const;
    }),
  );
  return Object.fromEntries(rows) as Record<QueueName, QueueBacklog>;
}
