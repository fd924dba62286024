import { defineConfig } from 'vitest/config';

/**
 * `pnpm test:ecosystems`: the real pipeline over small real libraries, one per ecosystem
 * (test/fixtures/ecosystems), each running its own test suite with its own runner in the sandbox.
 * One file at a time: each compiles and tests a library (go, cargo, vitest) on a 2-core machine.
 */
export default defineConfig({
  test: {
    include: ['test/e2e/ecosystems/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 600_000,
    globalSetup: ['test/global-setup.ts'],
  },
});
