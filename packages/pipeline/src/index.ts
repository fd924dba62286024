export { Budget, type BudgetToday, requestCapDefence } from './budget.ts';
export { observeStageDuration, parseDuration, readStageDurations, type StageHistogram } from './durations.ts';
export { defenceOff, onFault } from './faults.ts';
export { jobKeyFrom, jobSignatureDefence, jobSignatureRefusal, signJob } from './job-signing.ts';
export { keys } from './keys.ts';
export { announcePresence, PRESENCE_TTL_MS, workersAlive } from './worker-presence.ts';
export { acquireGapLocks, countInFlight, releaseGapLocks } from './gap-locks.ts';
export { postEvent } from './observer.ts';
export { admitPr, releasePrSlot } from './pr-limits.ts';
export {
  addStageJob,
  closeQueues,
  openQueues,
  parseQueueList,
  PRODUCE_SCHEDULER_ID,
  produceJobSchema,
  QUEUE_NAMES,
  type QueueName,
  type Stage,
  stageJob,
  stageJobId,
  STAGES,
} from './queues.ts';
export { MAINTENANCE_QUEUE, reconcile, RECONCILE_SCHEDULER_ID, startReconciler } from './reconciler.ts';
export {
  gapHistories,
  gapHistory,
  getRecord,
  HISTORY_KEPT,
  outcomeOf,
  recentRecords,
  recordOutcome,
} from './record-store.ts';
export { untilRedisAnswers } from './redis-retry.ts';
export { writeConfirmed } from './replica-wait.ts';
export { assertRedisSafe, readRedisSettings, RedisSettingsError } from './redis-settings.ts';
export { type RedisWatch, watchRedis } from './redis-watch.ts';
export { connect, deleteMatching, redactUrl, type RedisClient, waitReady } from './redis.ts';
export { createRuntime, openRuntime, type Runtime } from './runtime.ts';
export { diskCapDefence } from './disk-cap.ts';
export {
  DeferUntil,
  stageRunnerDefences,
  onJobFailed,
  SHUTDOWN,
  type StageContext,
  type StageProcessor,
  stageRunner,
} from './stage-runner.ts';
export { guardContext } from './guard-context.ts';
export { settledView } from './repo-settings-view.ts';
export { type DiscoveredEntry, readDiscoveredSet, writeDiscoveredSet } from './discovered-set.ts';
