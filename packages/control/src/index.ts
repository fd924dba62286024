export { produce, type ProduceReport, type ProduceLine } from './produce.ts';
export { status, formatStatus, oldestWaitingAge, type Status, type QueueStatus } from './status.ts';
export { requestRevision, mentions, threadFor, type RevisionRequest, type RevisionResult, type RevisionSkip, type RevisionTrigger } from './revise.ts';
export { pollRevisions } from './revise-poll.ts';
export { enqueueGaps } from './enqueue.ts';
export { setPaused, pausedQueues } from './pause.ts';
export { prVerdict, latestPrByGap, settleBotPrs, settledPrs, settleClosedPr, type PrVerdict, type SettledPr, type ClosedPrEvent, type ClosedPrResult } from './bot-prs.ts';
export { updateDashboardIssue, updateDashboardIssueQuietly, dashboardIssueNumber, dashboardMarker, verifiesMarker, ticked, type DashboardIssueInput, type DashboardIssueReport } from './dashboard-issue.ts';
export { webhookBookkeeping, type WebhookBookkeepingOptions } from './webhook-actions.ts';
