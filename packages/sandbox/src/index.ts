export { tryFileLock } from './pidlock.ts';
export { SANDBOX_HOME, SANDBOX_TMP, type SandboxLimits, sandboxProblem } from './sandbox.ts';
export { SlotPool, slotLockDefence } from './slots.ts';
export { runTestPlan } from './test-plan.ts';
export { acquireTestUser, runCommand, testsShareWorkerUser, type TestUser } from './test-run.ts';
