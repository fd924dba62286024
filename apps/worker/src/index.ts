export { startWorkers, type WorkerSet } from './workers.ts';
export { runAll, waitForOutcomes } from './../test/helpers.ts';
