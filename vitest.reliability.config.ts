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
  },
});
