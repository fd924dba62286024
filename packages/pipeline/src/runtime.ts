import type { RedisClient as Redis } from './redis.ts';
import { Budget } from './budget.ts';
import { systemClock, type Clock, createLogger, type Logger, registerSecrets } from '@prbot/core';
import { repoUrl, resolvePath, type LoadedConfig, secretValues } from '@prbot/config';
import { createForge } from '@prbot/forge';
import type { Forge } from '@prbot/forge';
import { keys, type Keys } from './keys.ts';
import { Mirror } from '@prbot/repo';
import { MIRROR_SWEEP_INTERVAL_MS, sweepMirror } from './mirror-sweep.ts';
import { openQueues, closeQueues, type Queues } from './queues.ts';
import { connect, type RedisRole } from './redis.ts';
import type { RecordStoreDeps } from './record-store.ts';
import { SlotPool } from '@prbot/sandbox';
import { replicaWait, type ReplicaWait } from './replica-wait.ts';

/** Everything a process needs, wired once from the config (the composition root). */
export interface Runtime {
  cfg: LoadedConfig;
  redis: Redis;
  keys: Keys;
  queues: Queues;
  budget: Budget;
  mirror: Mirror;
  slots: SlotPool;
  forge: Forge;
  records: RecordStoreDeps;
  /** Confirms the writes that must survive a failover on a replica (redis.waitReplicas). */
  replicas: ReplicaWait;
  log: Logger;
  clock: Clock;
  env: NodeJS.ProcessEnv;
  workdir: string;
  /**
   * After a cycle's outcome is recorded (stage runner, reconciler): what the worker app adds. It
   * starts the revise requests queued behind the cycle (control's revise-queue.ts, which pipeline
   * may not import). Must not throw.
   */
  afterCycleEnd?: (gapId: string) => Promise<unknown>;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  role: RedisRole;
  clock?: Clock;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
  redis?: Redis;
}

export function createRuntime(cfg: LoadedConfig, o: RuntimeOptions): Runtime {
  // Known secret values are scrubbed from every record, event, job log and log line from here on.
  registerSecrets(secretValues(cfg, o.env ?? process.env));
  const redis = o.redis ?? connect(cfg.redis, o.role);
  const clock = o.clock ?? systemClock;
  const k = keys(cfg.redis.prefix);
  const log = o.log ?? createLogger(cfg.log.level);
  const queues = openQueues(cfg, redis, (err) => log.debug({ err: err.message }, 'queue connection error'));
  redis.on('error', (err: Error) => log.debug({ err: err.message }, 'redis connection error'));
  const workdir = resolvePath(cfg, cfg.workdir);
  const mirror = new Mirror(workdir, repoUrl(cfg));
  const replicas = replicaWait(
    redis,
    k.epoch(),
    { replicas: cfg.redis.waitReplicas, timeoutMs: cfg.redis.waitTimeoutMs },
    log,
  );
  const ownsRedis = !o.redis;
  // Workers sweep the refs of ended cycles from their mirror (bounded growth, issue 13).
  const sweep =
    o.role === 'worker'
      ? setInterval(
          () =>
            void sweepMirror(mirror, redis, k).catch((err: Error) =>
              log.warn({ err: err.message }, 'mirror sweep failed'),
            ),
          MIRROR_SWEEP_INTERVAL_MS,
        ).unref()
      : null;
  return {
    cfg,
    redis,
    keys: k,
    queues,
    // No clock unless a test injects one: the budget's day is then the Redis server's.
    budget: new Budget(redis, k, cfg.budget, o.clock, replicas),
    mirror,
    slots: new SlotPool(mirror, workdir),
    forge: createForge(cfg, o.env ?? process.env, log),
    records: { redis, keys: k, recordsDir: resolvePath(cfg, cfg.records.dir), events: queues.events, clock, replicas },
    replicas,
    log,
    clock,
    env: o.env ?? process.env,
    workdir,
    async close() {
      if (sweep) clearInterval(sweep);
      await mirror.idle();
      await closeQueues(queues);
      if (ownsRedis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}
