import { createHash } from 'node:crypto';

/**
 * The one place that knows prbot's own Redis key layout (BullMQ owns `<prefix>:<queue>:*`).
 * Every key starts with the configured prefix, which carries a hash tag such as `{prbot}`, so
 * all keys land in one Redis Cluster slot and the Lua scripts may touch several of them.
 */
export interface Keys {
  budgetDay(day: string): string;
  /** A repository's share of one UTC day (hash like the day's); the name is URI-encoded. */
  budgetRepoDay(repo: string, day: string): string;
  budgetCycle(cycleId: string): string;
  /** A PRD's parse (signed JSON) by parser version and git blob id: an unchanged PRD is not parsed again. */
  prdParse(version: string, blob: string): string;
  inflight(gapId: string): string;
  outcome(cycleId: string): string;
  record(cycleId: string): string;
  history(gapId: string): string;
  recent(): string;
  stats(day: string): string;
  /** Hash of one UTC day: `<repo>|<outcome>` → cycles ended (the per-repository split of `stats`). */
  statsByRepo(day: string): string;
  durations(stage: string): string;
  prOpen(): string;
  prOpenedHour(): string;
  pattern(): string;
  /** Pattern of every gap's in-flight lock (the reconciler scans it). */
  inflightPattern(): string;
  /** Hash: orphaned gap lock → when the reconciler first saw it without a live job (ms). */
  orphans(): string;
  /** The reconciler's single-flight lock. */
  reconcileLock(): string;
  /** A revise trigger (comment or label on a head) already judged: set NX, the per-comment de-dup. */
  reviseTrigger(pr: number, trigger: string): string;
  /** Revise cycles enqueued for a PR (the revision cap). */
  revisions(pr: number): string;
  /** A revise cycle's reply was posted (set NX: a retried stage never replies twice). */
  reviseReplied(cycleId: string): string;
  /** List: revise requests of a PR accepted while a cycle of its gap ran, oldest first (JSON entries). */
  reviseQueue(pr: number): string;
  /** Set: PRs of a gap with queued revise requests (a cycle's end starts the next one). */
  reviseQueued(gapId: string): string;
  /** Upkeep (issue 25): one comment of a kind on a PR's branch (SET NX; `what` names the occasion). */
  upkeepNoted(branch: string, what: string): string;
  /** Upkeep: re-proposals made for a PR's branch (upkeep.maxReproposals). */
  reproposals(branch: string): string;
  /** A webhook delivery id already taken (SET NX with a TTL): a redelivery dispatches nothing. */
  webhookDelivery(deliveryId: string): string;
  /** Set while `prbot pause --repo` holds the repository: produce makes no new cycles for it. */
  repoPaused(): string;
  /** Hash: gap id → its latest bot PR as last settled (by produce or a webhook), JSON. */
  gapPrs(): string;
  /** The dashboard issue: its number and the body prbot last wrote (JSON). */
  dashboardIssue(): string;
  /** Single-flight lock of a dashboard-issue update (produce and a webhook may race). */
  dashboardIssueLock(): string;
  /**
   * The data epoch: a random id written once (SET NX) by the first worker or producer. Never
   * expires, so when it is gone Redis lost its data (a restart without persistence, a FLUSHALL,
   * an evicted key) and every job and lock it held went with it.
   */
  epoch(): string;
  /** Hash: `<queue>|<reason>` → times a worker recreated a queue's BullMQ Worker that stopped consuming. */
  workerRecoveries(): string;
  /**
   * The canonical url of the repository that keeps the legacy (unscoped) key layout: the one a
   * single-`repo:` deployment served (legacy-repo.ts). Global.
   */
  legacyRepo(): string;
  /** Hash: prbot name → a discovered repository's entry as JSON (discovered-set.ts). Global. */
  discovered(): string;
  /** Sorted set per queue: worker process id → when it last said it serves that queue (ms). */
  workersAlive(queue: string): string;
  /** Hash: queue → jobs its workers found stalled (a lock that lapsed: a killed or frozen worker). */
  stalled(): string;
}

/**
 * `repo` unset: the legacy layout, exactly the keys of a single-repository deployment. `repo`
 * set: every key of one repository's own state (gap locks, history, PR limits, gap → PR, revise
 * and upkeep claims, the dashboard issue) carries `repo:<name>`, so two repositories never share
 * one. Global either way: the budget, cycle outcomes and records (cycle ids are unique across
 * repositories, and one `recent` list serves `status`), stats, durations, the reconciler's lock,
 * webhook deliveries, the epoch and the worker bookkeeping.
 */
export function keys(prefix: string, repo?: string): Keys {
  // `bot` is not a queue name, so these never collide with BullMQ's `<prefix>:<queue>:` keys.
  const k = (...parts: string[]) => [prefix, 'bot', ...parts].join(':');
  const r = repo === undefined ? k : (...parts: string[]) => k('repo', repo, ...parts);
  return {
    budgetDay: (day) => k('budget', day),
    budgetRepoDay: (repo, day) => k('budget-repo', encodeURIComponent(repo), day),
    budgetCycle: (cycleId) => k('budget-cycle', cycleId),
    prdParse: (version, blob) => k('prd-parse', version, blob),
    inflight: (gapId) => r('inflight', gapId),
    outcome: (cycleId) => k('outcome', cycleId),
    record: (cycleId) => k('record', cycleId),
    history: (gapId) => r('history', gapId),
    recent: () => k('recent'),
    stats: (day) => k('stats', day),
    statsByRepo: (day) => k('stats-repo', day),
    durations: (stage) => k('durations', stage),
    prOpen: () => r('pr-open'),
    prOpenedHour: () => r('pr-opened'),
    pattern: () => `${prefix}:*`,
    inflightPattern: () => r('inflight', '*'),
    orphans: () => k('orphans'),
    reconcileLock: () => k('reconcile-lock'),
    reviseTrigger: (pr, trigger) => r('revise-trigger', String(pr), trigger),
    revisions: (pr) => r('revisions', String(pr)),
    reviseReplied: (cycleId) => k('revise-replied', cycleId),
    reviseQueue: (pr) => r('revise-queue', String(pr)),
    reviseQueued: (gapId) => r('revise-queued', gapId),
    // Hashed: a branch is the forge's string (any characters), the key stays short and key-safe.
    upkeepNoted: (branch, what) =>
      r('upkeep-noted', createHash('sha256').update(branch).digest('hex').slice(0, 24), what),
    reproposals: (branch) => r('reproposals', createHash('sha256').update(branch).digest('hex').slice(0, 24)),
    // Hashed: a delivery id is the forge's string, not ours; the key stays short and key-safe.
    webhookDelivery: (deliveryId) =>
      k('webhook-delivery', createHash('sha256').update(deliveryId).digest('hex').slice(0, 32)),
    repoPaused: () => r('paused'),
    gapPrs: () => r('gap-prs'),
    dashboardIssue: () => r('dashboard-issue'),
    dashboardIssueLock: () => r('dashboard-issue-lock'),
    epoch: () => k('epoch'),
    legacyRepo: () => k('legacy-repo'),
    discovered: () => k('discovered'),
    workerRecoveries: () => k('worker-recoveries'),
    workersAlive: (queue) => k('workers-alive', queue),
    stalled: () => k('stalled'),
  };
}
