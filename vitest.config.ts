import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'test/*.test.ts'],
    pool: 'forks',
    // Each file uses its own Redis key prefix and temp dirs, so files run in parallel safely.
    fileParallelism: true,
    // Vitest's default is one fork per core less one: a single fork on the 2-core CI machine,
    // while most files wait on child processes (git, sandboxed tests, Redis). Two forks there.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    globalSetup: ['test/global-setup.ts'],
  },
});
