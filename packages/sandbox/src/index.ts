export { delegatedCgroup, RunCgroup } from './cgroup.ts';
export { sandboxDefences } from './defences.ts';
export { memoryGuard } from './memory-guard.ts';
export { sharedFileLock, tryFileLock } from './pidlock.ts';
export { packageCacheDefence } from './package-cache.ts';
export { setupDefence } from './setup-inputs.ts';
export { SANDBOX_HOME, SANDBOX_TMP, type SandboxLimits, sandboxProblem } from './sandbox.ts';
export { evictIdleSlot, SlotPool, slotLockDefence, slotsOnDisk } from './slots.ts';
export { runTestPlan } from './test-plan.ts';
export {
  acquireTestUser,
  type MemoryGuard,
  runCommand,
  type RunOptions,
  testsShareWorkerUser,
  type TestUser,
} from './test-run.ts';
