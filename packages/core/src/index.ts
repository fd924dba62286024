export {
  ConfigError,
  type CycleDetails,
  CycleEnded,
  GitError,
  InfraError,
  isRedisTransient,
  permanent,
  PermanentError,
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
  GITEA_WIP_PREFIXES,
  isLocalRepo,
  isWipTitle,
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
  RECONNECT_CAP_MS,
  reconnectDelay,
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
  type ParsedPrd,
  parsePrd,
  parsePrdWithWarnings,
  PRD_BYTE_CAP,
  PRD_GAP_CAP,
  PRD_LINE_CAP,
  PRD_NESTING_CAP,
  PrdUnreadable,
  readPrd,
  type PrdWarning,
  TAG,
} from './prd.ts';
export {
  git,
  type GitOptions,
  type GitResult,
} from './git.ts';
export {
  Mirror,
  type MirrorOptions,
  type TreeEntry,
} from './mirror.ts';
export {
  MIRROR_SWEEP_INTERVAL_MS,
  sweepMirror,
} from './mirror-sweep.ts';
export {
  canonicalPath,
  canonicalSegment,
  type GuardContext,
  GUARDED_PATHS,
  type GuardedPattern,
  isDotGitSpelling,
  pathRefusal,
} from './guardrails.ts';
export {
  clearSecrets,
  MIN_SECRET_LENGTH,
  redactDeep,
  REDACTED,
  redactError,
  redactText,
  registerSecrets,
  secretValues,
} from './redact.ts';
export {
  type Edit,
  editedFileSchema,
  editSchema,
  parseProposal,
  type Proposal,
  proposalJsonSchema,
  ProposalParseError,
  proposalSchema,
  type ProposedFile,
  proposedFileSchema,
  proposedText,
  wholeFileSchema,
} from './proposal.ts';
export {
  ancestors,
  applyEdits,
  blobOid,
  type Change,
  changeSchema,
  classify,
  countActions,
  countLines,
  type Limits,
  lineStats,
  type LineStats,
  lineStatsSchema,
  proposalRefusal,
  type Resolved,
  resolveProposal,
} from './changes.ts';
export {
  countTestCases,
  gapAsksForRemoval,
  shrinkRefusal,
} from './shrink.ts';
export {
  shadowDirs,
  shadowRefusal,
  testGuardRefusal,
  type TestGuardContext,
  truncationRefusal,
  withoutComments,
} from './test-guard.ts';
export {
  type Digest,
  DIGEST_BYTES,
  digestTestOutput,
} from './digest.ts';
export {
  blobText,
  buildRepoContext,
  chooseWindows,
  type ContextOptions,
  type ContextShown,
  contextShownSchema,
  extOf,
  gapIdentifiers,
  importsOf,
  isTestFile,
  leftOut,
  listTree,
  merge,
  namedFiles,
  rangesText,
  readBlobs,
  renderedChars,
  renderWindows,
  type RepoContext,
  repoMap,
  type ShownFile,
  stemOf,
  type SymbolAt,
  symbolsOf,
  testsOf,
  CommitSnapshot,
  SnapshotCache,
  type SnapshotCacheOptions,
  type TreeFile,
  type Window,
  type WindowOptions,
} from './context/index.ts';
export {
  assertChangesAllowed,
  commitGuardDefence,
  botCommitSpec,
  buildCommit,
  type CommitGuard,
  type CommitSpec,
  rebuildCommit,
} from './commit.ts';
export {
  Budget,
  type BudgetLimits,
  type BudgetToday,
  ClockSkewError,
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
  type ReviseRequest,
  reviseRequestSchema,
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
  slotLockDefence,
} from './slots.ts';
export {
  acquireTestUser,
  assertDiskNotFull,
  killUserProcesses,
  runCommand,
  type RunOptions,
  testEnvironment,
  testsShareWorkerUser,
  type TestUser,
} from './testrun.ts';
export {
  dropScratch,
  freshDir,
  resolveProgram,
  SANDBOX_HOME,
  SANDBOX_READY,
  SANDBOX_TMP,
  SANDBOX_WORK,
  sandboxArgv,
  type SandboxLimits,
  sandboxProblem,
  type SandboxSpec,
  visibleInSandbox,
} from './sandbox.ts';
export {
  JobKeyError,
  jobKeyFrom,
  jobSignatureRefusal,
  jobSignatureDefence,
  MIN_JOB_KEY_CHARS,
  SIG_FIELD,
  signJob,
  withoutSig,
} from './jobsig.ts';
export {
  type FileLock,
  tryFileLock,
} from './pidlock.ts';
export {
  HEAP_GROWING_PERCENT,
  tuneHeapGrowth,
} from './heap.ts';
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
  describeContext,
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
  canRevise,
  hasWriteAccess,
  type DoctorCheck,
  type DraftPr,
  type Forge,
  type ForgeTarget,
  type ForgeIssue,
  type ForgeIssues,
  markerKey,
  markersOf,
  type PrComment,
  type PrDetail,
  type PrRef,
  type PrState,
  prStateSchema,
  type RemoteForgeOptions,
  type RepoPermission,
  type ReviseForge,
  signedMarker,
} from './forge/types.ts';
export {
  LocalForge,
} from './forge/local.ts';
export {
  fixFor,
  GiteaForge,
  type GiteaOptions,
  normalisePermission,
  reasonOf,
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
  ForgeRefused,
  type ForgeResponse,
  fromRepo,
  message,
  nextLink,
  type PageOptions,
} from './forge/http.ts';
export {
  PUSH_ENV_NAMES,
  pushBranch,
  pushEnv,
  pushFastForwardBranch,
  pushProblem,
  PushRefused,
  pushRefusal,
  PushRejected,
  PUSH_REFUSALS,
  remoteBranchHead,
} from './forge/push.ts';
export {
  cycleMarker,
  neutralise,
  forgeTitle,
  prBody,
  type PrBodyInput,
  SUMMARY_CAP,
} from './forge/body.ts';
export {
  type DoctorReport,
  formatDoctor,
  redisDoctor,
  runDoctor,
} from './forge/doctor.ts';
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
export {
  FAULT_POINTS,
  type FaultInfo,
  faultPoint,
  type FaultPoint,
  onFault,
} from './faults.ts';
export {
  assertRedisSafe,
  checkEpoch,
  ensureEpoch,
  RedisDataLostError,
  readRedisSettings,
  type RedisSettings,
  RedisSettingsError,
} from './redis-settings.ts';
export {
  type RedisRetryOptions,
  untilRedisAnswers,
} from './redis-retry.ts';
export {
  GAP_LOCK_TTL_S,
  type LedgerEntry,
  readLedger,
  refreshGapLocks,
} from './ledger.ts';
export {
  isOwnReply,
  prDiff,
  reply,
  REPLY_MARK,
  reviseBranchRefusal,
  reviseNonce,
  revisePrompt,
  reviseReplyText,
} from './revise.ts';
export { inertText } from './inert-text.ts';
export { AnswerDeadline, AnswerRefused, discardBody, readBounded, refuseDeclaredSize, refuseEncoding } from './bounded-read.ts';
