import type { RepoStatus } from './repos.ts';
import { QUEUE_NAMES, type BudgetToday, type QueueName, type Runtime } from '@prbot/pipeline';

export interface QueueStatus {
  queue: QueueName;
  paused: boolean;
  counts: Record<'waiting' | 'active' | 'delayed' | 'failed' | 'completed' | 'prioritized', number>;
  oldestWaitingAgeMs: number | null;
}

export interface Status {
  queues: QueueStatus[];
  budget: BudgetToday;
}

export async function status(rt: Runtime): Promise<Status> {
  const queues = await Promise.all(
    QUEUE_NAMES.map(async (q): Promise<QueueStatus> => {
      const queue = rt.queues[q];
      const [paused, counts, oldestWaitingAgeMs] = await Promise.all([
        queue.isPaused(),
        queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'),
        oldestWaitingAge(rt, q),
      ]);
      return { queue: q, paused, counts: counts as QueueStatus['counts'], oldestWaitingAgeMs };
    }),
  );
  return { queues, budget: await rt.budget.today() };
}

/**
 * How long the oldest job that could run now has waited (ms), or null when none waits. A job
 * added with a delay (a deferral) waits from when its delay ended, not from when it was added.
 * Prioritized jobs wait too (BullMQ keeps them in a list of their own).
 */
export async function oldestWaitingAge(rt: Runtime, q: QueueName): Promise<number | null> {
  const queue = rt.queues[q];
  const [waiting, prioritized] = await Promise.all([
    queue.getJobs(['waiting'], 0, 0, true),
    queue.getJobs(['prioritized'], 0, 0, true),
  ]);
  const since = [...waiting, ...prioritized].filter(Boolean).map((j) => j.timestamp + (j.delay ?? 0));
  return since.length ? Math.max(0, rt.clock() - Math.min(...since)) : null;
}

export function formatStatus(s: Status & { repositories?: RepoStatus[] }): string {
  const rows = s.queues.map((q) => {
    const c = q.counts;
    const age = q.oldestWaitingAgeMs === null ? '-' : `${Math.round(q.oldestWaitingAgeMs / 1000)}s`;
    return `${q.queue.padEnd(8)} ${(q.paused ? 'paused' : 'running').padEnd(8)} ${String(c.waiting + c.prioritized).padStart(7)} ${String(c.active).padStart(6)} ${String(c.delayed).padStart(7)} ${String(c.failed).padStart(6)} ${String(c.completed).padStart(9)}  ${age}`;
  });
  const b = s.budget;
  return [
    'queue    state    waiting active delayed failed completed  oldest waiting',
    ...rows,
    '',
    `budget ${b.day}: ${b.calls.left}/${b.calls.cap} calls and ${b.tokens.left}/${b.tokens.cap} tokens left; resets ${b.resetsAt}`,
    ...(s.repositories?.length
      ? [
          '',
          'repository           state    in-flight  PRs open',
          ...s.repositories.map(
            (r) =>
              `${(r.repo + (r.legacy ? ' *' : '') + (r.discovered ? ' +' : '')).padEnd(20)} ${(r.drained ? 'drained' : r.paused ? 'paused' : 'running').padEnd(8)} ${String(r.inFlight).padStart(9)} ${String(r.prsOpen).padStart(9)}`,
          ),
          '(* keeps the key layout of a single-repository deployment)',
          ...(s.repositories.some((r) => r.discovered)
            ? ['(+ discovered by `discover:`; drained: no longer listed or marked, no new cycles, nothing deleted)']
            : []),
        ]
      : []),
  ].join('\n');
}
