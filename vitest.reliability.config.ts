import { defineConfig } from 'vitest/config';

/** `pnpm test:reliability`: fault injection, one file at a time (they kill processes and servers). */
export default defineConfig({
  test: {
    include: ['test/reliability/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 400_000,
    hookTimeout: 120_000,
    globalSetup: ['test/global-setup.ts', 'test/reliability/global.ts'],
    // Fault windows short enough for CI, each still outlasting what it must (see the tests);
    // set them in the environment for the long versions (60 s provider outage, 15 s Redis OOM).
    env: {
      PRBOT_OUTAGE_MS: process.env.PRBOT_OUTAGE_MS ?? '20000',
      PRBOT_OOM_MS: process.env.PRBOT_OOM_MS ?? '5000',
      PRBOT_FAILOVER_RUNS: process.env.PRBOT_FAILOVER_RUNS ?? '2',
    },
  },
});
