import { defineConfig } from 'vitest/config';

/**
 * `pnpm test:mutation` (stryker.config.mjs): only the unit tests that judge the module Stryker is
 * mutating (PRBOT_MUTATION_TESTS, set by stryker.config.mjs), so each mutant costs seconds. No
 * reliability, sandbox or e2e suites.
 */
const tests = process.env.PRBOT_MUTATION_TESTS?.split(',').filter(Boolean);
if (!tests?.length) throw new Error('PRBOT_MUTATION_TESTS is not set: run pnpm test:mutation');

export default defineConfig({
  test: {
    include: tests,
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    globalSetup: ['test/global-setup.ts'],
  },
});
