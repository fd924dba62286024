import { checkEpoch, ensureEpoch, readRedisSettings } from './redis-settings.ts';
import { type Runtime } from './runtime.ts';
import { defenceOff } from './faults.ts';

export interface RedisWatch {
  /** Resolves after the first check (the epoch is known). */
  ready: Promise<void>;
  /** Runs one check now (tests; the timer runs it every `worker.reconcileEveryMs`). */
  check(): Promise<void>;
  stop(): void;
}

/**
 * A local timer, not a Redis job: what it watches for is Redis losing its data, and a schedule
 * kept in Redis would be lost with it (the reconciler's own schedule included). Each check:
 * - the data epoch (keys.epoch) is still the one this worker started in; if not, Redis lost its
 *   data: one RedisDataLostError logged (named, with what was lost and what to do) and
 *   `onDataLost` runs (the worker re-creates its reconciler schedule);
 * - the eviction policy is still noeviction (someone may CONFIG SET it at run time): an error
 *   line naming it at every check until it is fixed.
 */
export function watchRedis(rt: Runtime, o: { everyMs: number; onDataLost?: () => Promise<void> }): RedisWatch {
  let epoch: string | null = null;
  let running = false;
  const check = async () => {
    if (running) return;
    running = true;
    try {
      // PRBOT_FAULT=no-data-epoch (a positive control only): the loss goes unnoticed.
      if (defenceOff('data-epoch')) epoch = null;
      else if (epoch === null) {
        epoch = await ensureEpoch(rt.redis, rt.keys, Date.now());
        return;
      }
      const r = epoch === null ? null : await checkEpoch(rt.redis, rt.keys, epoch, Date.now());
      if (r) epoch = r.epoch;
      if (r?.lost) {
        rt.log.error({ err: r.lost.name }, r.lost.message);
        await o
          .onDataLost?.()
          .catch((err: Error) =>
            rt.log.error({ err: err.message }, 'could not restore the reconciler schedule after the data loss'),
          );
      }
      const s = await readRedisSettings(rt.redis);
      for (const p of s.problems) rt.log.error({ err: 'RedisSettingsError' }, p);
    } catch (err) {
      // Redis away: the next check asks again; BullMQ's own connections say it louder.
      rt.log.debug({ err: (err as Error).message }, 'Redis watch: no answer this time');
    } finally {
      running = false;
    }
  };
  const ready = check();
  const timer = setInterval(() => void check(), o.everyMs);
  timer.unref();
  return { ready, check, stop: () => clearInterval(timer) };
}
