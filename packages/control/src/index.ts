export { produce, type ProduceReport, type ProduceLine } from './produce.ts';
export { status, formatStatus, type Status, type QueueStatus } from './status.ts';
