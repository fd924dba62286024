export { produce, type ProduceReport, type ProduceLine } from './produce.ts';
export { status, formatStatus, type Status } from './status.ts';
