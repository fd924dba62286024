export { digestTestOutput } from './digest.ts';
export { tryFileLock } from './pidlock.ts';
export { dropScratch, freshDir, SANDBOX_HOME, SANDBOX_TMP, type SandboxLimits, sandboxProblem } from './sandbox.ts';
export { handTo, lastSlotUid, rememberSlotUid, SlotPool, slotLockDefence } from './slots.ts';
export { acquireTestUser, runCommand, testEnvironment, testsShareWorkerUser, type TestUser } from './test-run.ts';
