export { preflight, startWorkers, type WorkerSet } from './workers.ts';
export { stageRunner, endCycle, DeferUntil } from './stage.ts';
export { reconcile, startReconciler, type ReconcileReport } from './reconciler.ts';
