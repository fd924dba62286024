export { type ClosedPrEvent, settledPrs } from './bot-prs.ts';
export { updateDashboardIssueQuietly, verifiesMarker } from './dashboard-issue.ts';
export { formatDoctor, redisDoctor, runDoctor } from './doctor.ts';
export { setPaused } from './pause.ts';
export { produce, type ProduceReport } from './produce.ts';
export { requestRevision } from './revise-requests.ts';
export { formatStatus, oldestWaitingAge, type QueueStatus, status } from './status.ts';
export { webhookBookkeeping } from './webhook-actions.ts';
export { type UpkeepLine } from './upkeep.ts';
