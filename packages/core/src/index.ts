export {
  AnswerDeadline,
  AnswerRefused,
  boundedReadDefences,
  discardBody,
  readBounded,
  refuseDeclaredSize,
  refuseEncoding,
  wholeCallDeadline,
} from './bounded-read.ts';
export { type Change, changeModeDefence, countActions, countLines } from './change.ts';
export { lineStats } from './line-stats.ts';
export { type Clock, nextUtcMidnight, systemClock, utcDay } from './clock.ts';
export { type ContextShown } from './context-shown.ts';
export {
  type AnyCycleJob,
  applyJobSchema,
  cycleIdSchema,
  newCycleId,
  type PrJob,
  prJobSchema,
  type ProposeJob,
  proposeJobSchema,
  type ReviseRequest,
  type TestJob,
  testJobSchema,
} from './cycle.ts';
export {
  ConfigError,
  type CycleDetails,
  CycleEnded,
  GitError,
  InfraError,
  isInfraFailure,
  isRedisTransient,
  PermanentError,
  RateLimited,
  TransientError,
  UnavailableError,
  UsageError,
} from './errors.ts';
export { forgeTextDefence, forgeTitle, neutralise, SUMMARY_CAP } from './forge-text.ts';
export { type Gap, gapId, gapSchema, gapSlug, scopeGaps, TAG } from './gap.ts';
export { tuneHeapGrowth } from './heap.ts';
export { inertText, inertTextDefence } from './inert-text.ts';
export { createLogger, type Logger } from './logger.ts';
export { type ModelInfo, type RungAttempt } from './model-info.ts';
export { FAILURE_OUTCOMES, type Outcome, OUTCOMES, outcomeSchema } from './outcomes.ts';
export {
  type Edit,
  parseProposal,
  type Proposal,
  proposalJsonSchema,
  ProposalParseError,
  type ProposedFile,
  proposedText,
} from './proposal.ts';
export { cycleRecord, type CycleRecord, cycleRecordSchema, describeHistory, leadingRun } from './record.ts';
export { clearSecrets, redactDeep, redactError, redactText, redactionDefence, registerSecrets } from './redact.ts';
export { retryAfterDefence, retryAfterMs } from './retry-after.ts';
export { type CommandResult, type LimitHit } from './test-result.ts';
export { estimateTokens, reserveTokensFor, type Usage, usageSchema } from './usage.ts';
export { conflictNote, NO_MODEL_CALL, refreshCommentText, refreshOutcome, type RefreshRequest } from './refresh.ts';
