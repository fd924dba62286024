export { preflight, startWorkers, type WorkerSet } from './workers.ts';
export { stageRunner, endCycle, DeferUntil } from './stage.ts';
