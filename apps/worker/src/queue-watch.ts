import type { Worker } from 'bullmq';
import { untilRedisAnswers, type QueueName, type Runtime } from '@prbot/pipeline';

/** Why a queue was found not consuming. */
type StopReason = 'not-running' | 'connection-ended' | 'stuck';

export interface QueueHealth {
  queue: QueueName;
  /** False from the moment a check finds the queue not consuming until its Worker is recreated. */
  consuming: boolean;
  /** Jobs of this queue running in this process now. */
  active: number;
  /** When this process last started a job of this queue (ms), or when its Worker was created. */
  lastStartAt: number;
  recoveries: number;
  lastRecovery?: { at: number; reason: StopReason };
}

export interface QueueWatch {
  /** The current BullMQ Worker of each queue, in the order given (entries are replaced on recovery). */
  readonly workers: Worker[];
  /** Workers replaced by a recovery that may still finish jobs they had started. */
  readonly retired: Worker[];
  health(): QueueHealth[];
  /** Runs one check now (tests; a timer runs it every `everyMs`). */
  check(): Promise<void>;
  stop(): void;
}

/**
 * Notices a queue of this process that stopped consuming, and recreates its BullMQ Worker.
 *
 * An outside check saw it happen: after a Redis Cluster failover with a lagging replica, one
 * queue's blocking connection never came back ("Too many Cluster redirections"), the other
 * queues of the same process went on, nothing was logged, and its 30 jobs waited until a restart.
 * So this judges by behaviour, whatever the cause:
 * - the Worker is no longer running (its loop ended on an error) and this process did not close it;
 * - or a job of the queue is ready to run (waiting or prioritized; not paused, not rate-limited),
 *   this Worker has a free slot, and it started no job for `stuckAfterMs`.
 * The fix is a new Worker (new connections, new loop); the old one is closed in the background
 * and keeps the locks of jobs it still runs until they end. Each recovery is logged as an error
 * and counted in Redis (`prbot_worker_queue_recoveries_total` on the dashboard). More than
 * `maxRecoveries` in ten minutes, or a Worker that cannot be created, calls `giveUp`: the process
 * exits for its supervisor to restart it.
 */
export function watchQueues(
  rt: Runtime,
  o: {
    queues: QueueName[];
    /** Creates the Worker of a queue; `onStart` must be called as each job starts and `onEnd` as it ends. */
    create(q: QueueName, track: { onStart(): void; onEnd(): void }): Worker;
    everyMs: number;
    stuckAfterMs: number;
    maxRecoveries: number;
    giveUp(reason: string): void;
  },
): QueueWatch {
  const RECOVERY_WINDOW_MS = 10 * 60_000;
  const state = o.queues.map((queue) => ({
    health: { queue, consuming: true, active: 0, lastStartAt: Date.now(), recoveries: 0 } as QueueHealth,
    /** Since when a job was ready while this Worker had a free slot and started nothing (ms). */
    suspectSince: null as number | null,
    /** Since when one of this Worker's own connections is `end` (closed, not reconnecting) (ms). */
    endedSince: null as number | null,
    recent: [] as number[],
  }));
  // Workers this process closed itself (a recovery, a shutdown): not running is then expected.
  const closedByUs = new WeakSet<Worker>();
  const track = (i: number) => ({
    onStart: () => {
      const h = state[i]!.health;
      h.active++;
      h.lastStartAt = Date.now();
      state[i]!.suspectSince = null;
    },
    onEnd: () => {
      state[i]!.health.active--;
    },
  });
  const workers = o.queues.map((q, i) => o.create(q, track(i)));
  const retired: Worker[] = [];
  let stopped = false;

  const recover = (i: number, reason: StopReason, detail: string) => {
    const s = state[i]!;
    const q = o.queues[i]!;
    const now = Date.now();
    s.health.consuming = false;
    s.recent = [...s.recent.filter((t) => now - t < RECOVERY_WINDOW_MS), now];
    s.health.recoveries++;
    s.health.lastRecovery = { at: now, reason };
    rt.log.error(
      { queue: q, reason, detail, recoveries: s.health.recoveries },
      `queue ${q} stopped consuming (${detail}); recreating its worker`,
    );
    void untilRedisAnswers(() => rt.redis.hincrby(rt.keys.workerRecoveries(), `${q}|${reason}`, 1), {
      what: 'the recovery count',
      log: rt.log,
      maxMs: 60_000,
    }).catch(() => 0);
    if (s.recent.length > o.maxRecoveries) {
      // Once: the process is stopping now, and checks would only repeat it.
      stopped = true;
      o.giveUp(`queue ${q} stopped consuming ${s.recent.length} times in ten minutes (last: ${detail})`);
      return;
    }
    const old = workers[i]!;
    closedByUs.add(old);
    retired.push(old);
    // Not awaited: a Worker whose connection hangs may never finish closing; its jobs keep their locks meanwhile.
    void old.close().catch((err: Error) => rt.log.warn({ queue: q, err: err.message }, 'closing the replaced worker'));
    try {
      workers[i] = o.create(q, track(i));
    } catch (err) {
      stopped = true;
      o.giveUp(`could not recreate the worker of queue ${q}: ${(err as Error).message}`);
      return;
    }
    s.health = { ...s.health, consuming: true, active: s.health.active, lastStartAt: now };
    s.suspectSince = null;
    s.endedSince = null;
  };

  const readyJob = async (q: QueueName): Promise<boolean> => {
    const queue = rt.queues[q];
    const [paused, counts] = await Promise.all([queue.isPaused(), queue.getJobCounts('waiting', 'prioritized')]);
    if (paused || (counts.waiting ?? 0) + (counts.prioritized ?? 0) === 0) return false;
    const limiter = rt.cfg.queues[q]?.limiter;
    return (await queue.getRateLimitTtl(limiter?.max ?? 1_000_000)) <= 0;
  };

  let running = false;
  let redisEndedSince: number | null = null;
  const check = async () => {
    if (running || stopped) return;
    running = true;
    try {
      // The process's own connection ended for good: no Worker can be made on it; only a restart mends it.
      if (rt.redis.status !== 'end') redisEndedSince = null;
      else if (Date.now() - (redisEndedSince ??= Date.now()) >= Math.min(o.stuckAfterMs, 10_000)) {
        stopped = true;
        o.giveUp('the Redis connection of this process ended and does not reconnect');
        return;
      }
      for (let i = 0; i < workers.length; i++) {
        const w = workers[i]!;
        const s = state[i]!;
        if (stopped) return;
        if (!w.isRunning() && !closedByUs.has(w)) {
          recover(i, 'not-running', 'its worker loop ended');
          continue;
        }
        // A connection of its own that ended never comes back by itself; its jobs then sit active
        // with lapsed locks (the stalled check runs on that same Worker), so nothing is "ready".
        const ended = await ownConnectionEnded(w);
        const at = Date.now();
        if (!ended) s.endedSince = null;
        else if ((s.endedSince ??= at) && at - s.endedSince >= Math.min(o.stuckAfterMs, 10_000)) {
          recover(i, 'connection-ended', `its ${ended} Redis connection ended and did not come back`);
          continue;
        }
        let ready: boolean;
        try {
          ready = s.health.active < w.concurrency && (await readyJob(o.queues[i]!));
        } catch {
          // Redis away: nothing can be judged; BullMQ's connections and redis-watch say so.
          s.suspectSince = null;
          continue;
        }
        const now = Date.now();
        if (!ready) {
          s.suspectSince = null;
          continue;
        }
        s.suspectSince ??= now;
        if (now - s.suspectSince >= o.stuckAfterMs)
          recover(
            i,
            'stuck',
            `a job was ready and a slot free for ${Math.round((now - s.suspectSince) / 1000)} s, and no job started`,
          );
      }
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void check(), o.everyMs);
  timer.unref();
  return {
    workers,
    retired,
    health: () => state.map((s) => ({ ...s.health })),
    check,
    stop: () => {
      stopped = true;
      clearInterval(timer);
      for (const w of workers) closedByUs.add(w);
    },
  };
}

/** Which of a Worker's own connections (main, blocking) is `end`, if any; null when none is, or when it cannot be told. */
async function ownConnectionEnded(w: Worker): Promise<string | null> {
  const backend = w.backend as {
    client?: Promise<{ status: string }>;
    blockingClient?: Promise<{ status: string }> | undefined;
  };
  const within = <T>(p: Promise<T> | undefined) =>
    p ? Promise.race([p.catch(() => null), new Promise<null>((r) => setTimeout(r, 500, null))]) : Promise.resolve(null);
  const [main, blocking] = await Promise.all([within(backend.client), within(backend.blockingClient)]);
  if (main?.status === 'end') return 'main';
  if (blocking?.status === 'end') return 'blocking';
  return null;
}
