export { delegatedCgroup, RunCgroup } from './cgroup.ts';
export { digestTestOutput } from './digest.ts';
export { memoryGuard } from './memory-guard.ts';
export { packageManagerPlan, readPackageManagerPin } from './package-manager.ts';
export { tryFileLock } from './pidlock.ts';
export { freshDir, SANDBOX_HOME, SANDBOX_TMP, type SandboxLimits, sandboxProblem } from './sandbox.ts';
export { handTo, lastSlotUid, rememberSlotUid, SlotPool } from './slots.ts';
export { acquireTestUser, type MemoryGuard, runCommand, type RunOptions, testEnvironment, testsShareWorkerUser, type TestUser } from './test-run.ts';
