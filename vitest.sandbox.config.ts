import { defineConfig } from 'vitest/config';

/** `pnpm test:sandbox`: each attack on the test sandbox performed for real, as root, one file at a time. */
export default defineConfig({
  test: {
    include: ['test/sandbox/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    globalSetup: ['test/global-setup.ts'],
  },
});
