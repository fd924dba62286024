export { produce, type ProduceReport, type ProduceLine } from './produce.ts';
export { status, formatStatus, oldestWaitingAge, type Status, type QueueStatus } from './status.ts';
