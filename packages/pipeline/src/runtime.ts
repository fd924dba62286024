import type { RedisClient as Redis } from './redis.ts';
import { Budget, type RepoShare } from './budget.ts';
import { systemClock, type Clock, createLogger, type Logger, registerSecrets, UsageError } from '@prbot/core';
import path from 'node:path';
import {
  discoveredRepository,
  forRepository,
  repoUrl,
  resolvePath,
  type LoadedConfig,
  type Repository,
  secretValues,
} from '@prbot/config';
import { createForge } from '@prbot/forge';
import type { Forge } from '@prbot/forge';
import { keys, type Keys } from './keys.ts';
import { Mirror } from '@prbot/repo';
import { MIRROR_SWEEP_INTERVAL_MS, sweepMirror } from './mirror-sweep.ts';
import { DiskCap, type RepoArea, repoArea } from './disk-cap.ts';
import { openQueues, closeQueues, type Queues } from './queues.ts';
import { connect, type RedisRole, waitReady } from './redis.ts';
import { defenceOff } from './faults.ts';
import type { RecordStoreDeps } from './record-store.ts';
import { SlotPool } from '@prbot/sandbox';
import { replicaWait, type ReplicaWait } from './replica-wait.ts';
import { settleLegacyRepo } from './legacy-repo.ts';
import { readDiscoveredSet } from './discovered-set.ts';

/** The repository a runtime view serves. */
interface RepoView {
  name: string;
  /** Today's unscoped keys, gap ids and work directory (legacy-repo.ts); else all scoped by `name`. */
  legacy: boolean;
  /** What gap ids of this repository are scoped by (`gapId(text, gapScope)`); undefined when legacy. */
  gapScope: string | undefined;
  /** Its share of the day's budget (repos[].budget), reserved with the global bucket; absent: the global only. */
  share?: RepoShare;
  /** repos[].maxInFlight: produce enqueues no more while this many of its cycles are in flight. */
  maxInFlight?: number;
  /** Listed by `discover:` (not a `repos:` entry); its view is built from Redis's discovered set. */
  discovered?: boolean;
  /**
   * A discovered repository the forge no longer lists or marks: produce enqueues nothing for it,
   * its cycles in flight finish, its PRs and state stay (updated at each views()).
   */
  drained?: boolean;
}

/**
 * Everything a process needs, wired once from the config (the composition root). One runtime is
 * one repository's view: `cfg` is the config as that repository sees it (its repo, forge, tests,
 * guarded paths), `keys`, `mirror`, `slots`, `forge` are its own; Redis, the queues, the budget,
 * the log, the clock and the replica wait are shared by every view of a process.
 */
export interface Runtime {
  cfg: LoadedConfig;
  repo: RepoView;
  /**
   * Every served repository's view, by name (this one's among them): the configured ones in config
   * order, then the discovered ones (read from Redis at each call, so a worker started before a
   * produce serves what it discovered) by name.
   */
  views(): Promise<ReadonlyMap<string, Runtime>>;
  redis: Redis;
  keys: Keys;
  queues: Queues;
  budget: Budget;
  mirror: Mirror;
  slots: SlotPool;
  /** This repository's part of the work directory under the process's disk cap (disk-cap.ts). */
  disk: RepoDisk;
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
   * may not import). Must not throw. Shared by every view of a process; `rt` is the view the
   * cycle belongs to.
   */
  afterCycleEnd?: (gapId: string, rt: Runtime) => Promise<unknown>;
  close(): Promise<void>;
}

/** One repository's view of the disk cap. */
interface RepoDisk {
  area: RepoArea;
  /** The process's cap, shared by every view. */
  cap: DiskCap;
  /** Runs `fn` with this repository marked in use: its mirror is not evicted meanwhile. */
  inUse<T>(fn: () => Promise<T>): Promise<T>;
}

export interface RuntimeOptions {
  role: RedisRole;
  clock?: Clock;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
  redis?: Redis;
}

/**
 * The runtime of a single-`repo:` config (its one repository, the legacy layout). A `repos:`
 * config needs Redis to know which repository keeps the legacy layout: open it with `openRuntime`.
 */
export function createRuntime(cfg: LoadedConfig, o: RuntimeOptions): Runtime {
  if (cfg.repoForm === 'repos')
    throw new UsageError(
      'a runtime over `repos:` is opened with openRuntime (which repository keeps the legacy layout is read from Redis)',
    );
  return buildRuntime(cfg, o, cfg.repositories[0]!.name);
}

/**
 * The runtime of any config, its repositories' views settled (legacy-repo.ts): the first
 * repository's view. `views()` then answers without Redis.
 */
export async function openRuntime(cfg: LoadedConfig, o: RuntimeOptions): Promise<Runtime> {
  if (cfg.repoForm === 'repo') {
    const rt = createRuntime(cfg, o);
    // The marker is written in the background: a single-repository start never waits on it.
    void rt.views();
    return rt;
  }
  const redis = o.redis ?? connect(cfg.redis, o.role);
  let legacy: string | null;
  try {
    // Fail fast on a wrong URL, as every process does at start.
    await waitReady(redis, cfg.redis.url);
    legacy = await settleLegacyRepo(redis, keys(cfg.redis.prefix), cfg, o.log ?? createLogger(cfg.log.level));
  } catch (err) {
    if (!o.redis) redis.disconnect();
    throw err;
  }
  const rt = buildRuntime(cfg, { ...o, redis }, legacy);
  if (!o.redis) rt.ownRedis();
  return rt;
}

interface Shared {
  redis: Redis;
  queues: Queues;
  budget: Budget;
  replicas: ReplicaWait;
  log: Logger;
  clock: Clock;
  env: NodeJS.ProcessEnv;
  workdir: string;
  disk: DiskCap;
  hook: { afterCycleEnd?: (gapId: string, rt: Runtime) => Promise<unknown> };
  views: Map<string, Runtime & { stopSweep(): void }>;
  legacySettled: Promise<unknown> | null;
  role: RedisRole;
}

function buildRuntime(cfg: LoadedConfig, o: RuntimeOptions, legacy: string | null): Runtime & { ownRedis(): void } {
  // Known secret values are scrubbed from every record, event, job log and log line from here on.
  registerSecrets(secretValues(cfg, o.env ?? process.env));
  const redis = o.redis ?? connect(cfg.redis, o.role);
  const clock = o.clock ?? systemClock;
  const k = keys(cfg.redis.prefix);
  const log = o.log ?? createLogger(cfg.log.level);
  const queues = openQueues(cfg, redis, (err) => log.debug({ err: err.message }, 'queue connection error'));
  redis.on('error', (err: Error) => log.debug({ err: err.message }, 'redis connection error'));
  const replicas = replicaWait(
    redis,
    k.epoch(),
    { replicas: cfg.redis.waitReplicas, timeoutMs: cfg.redis.waitTimeoutMs },
    log,
  );
  let ownsRedis = !o.redis;
  const shared: Shared = {
    redis,
    queues,
    // No clock unless a test injects one: the budget's day is then the Redis server's.
    budget: new Budget(redis, k, cfg.budget, o.clock, replicas),
    replicas,
    log,
    clock,
    env: o.env ?? process.env,
    workdir: resolvePath(cfg, cfg.workdir.path),
    disk: new DiskCap(resolvePath(cfg, cfg.workdir.path), cfg.workdir.maxBytes, log),
    hook: {},
    views: new Map(),
    legacySettled: null,
    role: o.role,
  };
  // Defence off (a positive control): the single repository is scoped like any other.
  if (defenceOff('legacy-layout')) legacy = null;
  for (const r of cfg.repositories) shared.views.set(r.name, repoView(cfg, r, r.name === legacy, shared, o.role));
  const first = shared.views.get(cfg.repositories[0]!.name)!;
  // The single form knows its layout without Redis; it records it for a later move into `repos:`.
  const settle = () =>
    (shared.legacySettled ??=
      cfg.repoForm === 'repo' ? settleLegacyRepo(redis, k, cfg, log).catch(() => null) : Promise.resolve());
  let reading: Promise<void> | null = null;
  const views = async () => {
    await settle();
    // One read at a time: concurrent jobs share it rather than build a view twice.
    if (cfg.discover) await (reading ??= addDiscovered(cfg, shared, views).finally(() => (reading = null)));
    return shared.views;
  };
  for (const v of shared.views.values()) v.views = views;
  return Object.assign(first, {
    ownRedis: () => {
      ownsRedis = true;
    },
    async close() {
      for (const v of shared.views.values()) v.stopSweep();
      await Promise.all([...shared.views.values()].map((v) => v.mirror.idle()));
      await closeQueues(queues);
      if (ownsRedis) await redis.quit().catch(() => redis.disconnect());
    },
  });
}

/**
 * The views of discovered repositories, from Redis's discovered set: a new one is built, one whose
 * default branch changed gets its config and forge driver anew, each one's drained mark follows the set. A view is never
 * dropped (its cycles in flight finish); Redis not answering leaves the views as they were.
 */
async function addDiscovered(cfg: LoadedConfig, s: Shared, views: Runtime['views']): Promise<void> {
  let set: Awaited<ReturnType<typeof readDiscoveredSet>>;
  try {
    set = await readDiscoveredSet(s.redis, keys(cfg.redis.prefix), cfg, s.log);
  } catch (err) {
    s.log.warn({ err: (err as Error).message }, 'discovered set not read; serving the repositories known so far');
    return;
  }
  for (const [name, e] of set) {
    const had = s.views.get(name);
    if (!had || had.cfg.repo.base !== e.base) {
      const { repository, issues } = discoveredRepository(cfg.discover!, { forgeRepo: e.forgeRepo, base: e.base });
      // The config was checked with these defaults at load: only a branch the merge refuses lands here.
      if (!repository) {
        s.log.warn({ repo: name, issues }, 'a discovered repository cannot be served with this config');
        continue;
      }
      if (had) {
        // Its default branch changed: the same mirror and slots (one of each per directory), the
        // config and forge driver (which name the base) renewed.
        had.cfg = viewConfig(cfg, repository, false);
        had.forge = createForge(had.cfg, s.env, s.log);
      } else {
        const v = repoView(cfg, repository, false, s, s.role);
        v.views = views;
        v.repo.discovered = true;
        s.views.set(name, v);
      }
    }
    s.views.get(name)!.repo.drained = e.state === 'drained';
  }
}

/** The config as repository `r` sees it; a scoped local forge writes its PRs under `<prDir>/<name>/`. */
function viewConfig(top: LoadedConfig, r: Repository, legacy: boolean): LoadedConfig {
  // The single form's one repository sees the config as given (a caller may have laid fields over it).
  const base = top.repoForm === 'repo' ? top : forRepository(top, r);
  return legacy || base.forge.kind !== 'local'
    ? base
    : { ...base, forge: { ...base.forge, prDir: path.join(base.forge.prDir, r.name) } };
}

/**
 * One repository's view: the legacy repository keeps today's keys, work directory and local PR
 * directory; any other has its keys under `repo:<name>`, its mirror and slots under
 * `<workdir>/repos/<name>/` and (local forge) its PRs under `<prDir>/<name>/`.
 */
function repoView(
  top: LoadedConfig,
  r: Repository,
  legacy: boolean,
  s: Shared,
  role: RedisRole,
): Runtime & { stopSweep(): void } {
  const cfg = viewConfig(top, r, legacy);
  const k = keys(top.redis.prefix, legacy ? undefined : r.name);
  // Under `repos/`, so no name can meet the top's own `mirrors`, `slots` or `package-cache`.
  const repoDir = legacy ? s.workdir : path.join(s.workdir, 'repos', r.name);
  const mirror = new Mirror(repoDir, repoUrl(cfg), {
    // The first cycle of a repository on a machine (or the first after its eviction) pays this.
    onClone: (c) =>
      s.log.info(
        { repo: r.name, cloneMs: c.ms, cloneBytes: c.bytes },
        `cloned the mirror of ${r.name} on this machine: ${c.ms} ms, ${c.bytes} bytes on disk`,
      ),
  });
  const area = repoArea(repoDir);
  // Workers sweep the refs of ended cycles from their mirror (bounded growth, issue 13).
  const sweep =
    role === 'worker'
      ? setInterval(
          () =>
            void s.disk
              .inUse(area, () => sweepMirror(mirror, s.redis, k), { housekeeping: true })
              .catch((err: Error) => s.log.warn({ err: err.message }, 'mirror sweep failed')),
          MIRROR_SWEEP_INTERVAL_MS,
        ).unref()
      : null;
  const view: Runtime & { stopSweep(): void } = {
    cfg,
    repo: {
      name: r.name,
      legacy,
      gapScope: legacy ? undefined : r.name,
      ...(r.maxInFlight !== undefined && { maxInFlight: r.maxInFlight }),
      ...(r.budgetShare && {
        share: {
          repo: r.name,
          callsPerDay: r.budgetShare.calls ?? top.budget.callsPerDay,
          tokensPerDay: r.budgetShare.tokens ?? top.budget.tokensPerDay,
        },
      }),
    },
    views: async () => s.views,
    redis: s.redis,
    keys: k,
    queues: s.queues,
    budget: s.budget,
    mirror,
    slots: new SlotPool(mirror, repoDir),
    disk: { area, cap: s.disk, inUse: (fn) => s.disk.inUse(area, fn) },
    forge: createForge(cfg, s.env, s.log),
    records: {
      redis: s.redis,
      keys: k,
      recordsDir: resolvePath(cfg, cfg.records.dir),
      events: s.queues.events,
      clock: s.clock,
      replicas: s.replicas,
    },
    replicas: s.replicas,
    log: s.log,
    clock: s.clock,
    env: s.env,
    // The whole work directory (every repository's mirrors and slots): what a test run must not see.
    workdir: s.workdir,
    get afterCycleEnd() {
      return s.hook.afterCycleEnd;
    },
    set afterCycleEnd(fn) {
      s.hook.afterCycleEnd = fn;
    },
    stopSweep: () => {
      if (sweep) clearInterval(sweep);
    },
    async close() {
      // Closing any view closes the process's runtime (the first view's close, assigned over this).
      await s.views.get(top.repositories[0]!.name)!.close();
    },
  };
  return view;
}
