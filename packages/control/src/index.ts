export { produce, type ProduceReport, type ProduceLine } from './produce.ts';
export { status, formatStatus, oldestWaitingAge, type Status, type QueueStatus } from './status.ts';
export { requestRevision, mentions, threadFor, type RevisionRequest, type RevisionResult, type RevisionSkip, type RevisionTrigger } from './revise.ts';
export { pollRevisions } from './revise-poll.ts';
