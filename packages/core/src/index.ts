/**
 * @prbot/core's public surface: every name other packages may use, listed by module. Nothing
 * is re-exported with `export *`, so a module's internals stay internal until added here.
 * After merging branches that add `export * from …` lines, `node scripts/explicit-exports.mjs`
 * turns them into named lists again (`--check` fails while any is left).
 *
 *   errors, outcomes       typed control-flow errors; the twelve outcomes
 *   keys, clock, redis     the Redis key layout, time, client creation
 *   config                 schemas per section, loading (ConfigError names file and field)
 *   prd, git, mirror       gaps from the PRD; git plumbing; the per-machine mirror clone
 *   guardrails, proposal, changes, commit   what a model may propose; building the bot commit
 *   budget, usage          the daily and per-cycle caps (Lua)
 *   testresult, testrun, slots              running tests in kept worktrees
 *   cycle, records, observer, durations     cycle ids, outcome records, metrics
 *   queues, runtime        the queue catalog; one runtime per process
 *   model/*                providers, ladders, prompts, replay and recording, probe
 *   forge/*                local, Gitea/Forgejo, GitHub; push; PR body; PR limits
 */
export {
  ConfigError,
  type CycleDetails,
  CycleEnded,
  GitError,
  InfraError,
  RateLimited,
  TransientError,
  UnavailableError,
  UsageError,
} from './errors/index.ts';
export {
  FAILURE_OUTCOMES,
  type Outcome,
  OUTCOMES,
  outcomeSchema,
} from './outcomes.ts';
export {
  keys,
  type Keys,
} from './keys.ts';
export {
  type Clock,
  nextUtcMidnight,
  systemClock,
  utcDay,
} from './clock.ts';
export {
  type Config,
  type ConfigInput,
  configSchema,
  findConfigFile,
  forgeRemote,
  isLocalRepo,
  loadConfig,
  type LoadedConfig,
  parseConfig,
  type PresetName,
  PROVIDER_PRESETS,
  type ProviderConfig,
  type QueueSettings,
  repoUrl,
  resolvePath,
  secretEnvNames,
} from './config/index.ts';
export {
  connect,
  deleteMatching,
  redactUrl,
  type RedisClient,
  type RedisRole,
  waitReady,
} from './redis.ts';
export {
  createLogger,
  type Logger,
} from './logger.ts';
export {
  type Gap,
  gapId,
  gapSchema,
  gapSlug,
  parsePrd,
  TAG,
} from './prd.ts';
export {
  git,
  type GitOptions,
  type GitResult,
} from './git.ts';
export {
  Mirror,
  type TreeEntry,
} from './mirror.ts';
export {
  type GuardContext,
  pathRefusal,
} from './guardrails.ts';
export {
  parseProposal,
  type Proposal,
  proposalJsonSchema,
  ProposalParseError,
  proposalSchema,
} from './proposal.ts';
export {
  ancestors,
  blobOid,
  type Change,
  changeSchema,
  classify,
  countActions,
  type Limits,
  proposalRefusal,
} from './changes.ts';
export {
  botCommitSpec,
  buildCommit,
  type CommitSpec,
  rebuildCommit,
} from './commit.ts';
export {
  Budget,
  type BudgetLimits,
  type BudgetToday,
  type Refusal,
  type RefusalReason,
  type Reservation,
} from './budget.ts';
export {
  estimateTokens,
  reserveTokensFor,
  type Usage,
  usageSchema,
} from './usage.ts';
export {
  type CommandResult,
  commandResultSchema,
} from './testresult.ts';
export {
  type AnyCycleJob,
  type ApplyJob,
  applyJobSchema,
  cycleIdSchema,
  newCycleId,
  type PrJob,
  prJobSchema,
  type ProposeJob,
  proposeJobSchema,
  type TestJob,
  testJobSchema,
} from './cycle.ts';
export {
  cycleRecord,
  type CycleRecord,
  cycleRecordSchema,
  describeHistory,
  gapHistories,
  gapHistory,
  getRecord,
  HISTORY_KEPT,
  leadingRun,
  outcomeOf,
  recentRecords,
  type RecorderDeps,
  recordOutcome,
} from './records.ts';
export {
  CATALOG,
  closeQueues,
  type JobData,
  jobOptions,
  openQueues,
  parseQueueList,
  PRODUCE_SCHEDULER_ID,
  produceJobSchema,
  QUEUE_NAMES,
  type QueueName,
  type Queues,
  type Stage,
  stageJobId,
  STAGES,
} from './queues.ts';
export {
  handTo,
  lastSlotUid,
  rememberSlotUid,
  type Slot,
  SlotPool,
} from './slots.ts';
export {
  acquireTestUser,
  killUserProcesses,
  runCommand,
  type RunOptions,
  testEnvironment,
  testsShareWorkerUser,
  type TestUser,
} from './testrun.ts';
export {
  createRuntime,
  type Runtime,
  type RuntimeOptions,
} from './runtime.ts';
export {
  type ModelInfo,
  modelInfoSchema,
  type RungAttempt,
  rungAttemptSchema,
} from './model/info.ts';
export {
  ModelCallError,
  type ModelFailureKind,
  ModelRateLimited,
} from './model/errors.ts';
export {
  type ChatAnswer,
  chatCompletion,
  type ChatMessage,
  type ChatRequest,
  retryAfterMs,
} from './model/chat.ts';
export {
  type Cassette,
  cassetteSchema,
  loadCassette,
  replayAnswer,
} from './model/replay.ts';
export {
  type AnswerRecorder,
  BudgetRefused,
  type LadderBudget,
  type LadderRequest,
  type LadderResult,
  type ModelsConfig,
  runLadder,
  splitRung,
} from './model/ladder.ts';
export {
  buildPrompt,
  type PromptInput,
} from './model/prompt.ts';
export {
  CassetteRecorder,
} from './model/recorder.ts';
export {
  formatProbe,
  probe,
  PROBE_PROMPT,
  type ProbeRow,
  type ProbeTarget,
  probeTargets,
} from './model/probe.ts';
export {
  type BotPr,
  type DraftPr,
  type Forge,
  markersOf,
  type PrRef,
  type PrState,
  prStateSchema,
  type RemoteForgeOptions,
} from './forge/types.ts';
export {
  LocalForge,
} from './forge/local.ts';
export {
  GiteaForge,
  type GiteaOptions,
} from './forge/gitea.ts';
export {
  GithubForge,
  type GithubOptions,
} from './forge/github.ts';
export {
  createForge,
} from './forge/create.ts';
export {
  forgeCall,
  type ForgeHttp,
  forgePages,
  type ForgeResponse,
  fromRepo,
  message,
} from './forge/http.ts';
export { pushBranch } from './forge/push.ts';
export {
  cycleMarker,
  prBody,
  type PrBodyInput,
} from './forge/body.ts';
export { withScripts } from './scripts.ts';
export {
  postEvent,
} from './observer.ts';
export {
  DURATION_BUCKETS,
  observeStageDuration,
  parseDuration,
  readStageDurations,
  type StageHistogram,
} from './durations.ts';
export {
  type Admission,
  admitPr,
  releasePrSlot,
} from './prlimits.ts';
