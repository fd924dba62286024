import { defineConfig } from 'vitest/config';

/**
 * Files that kill workers or a Redis and lean on lock and stall timings of one or two seconds:
 * each runs alone, one after another (its own project, its own sequence group), so a neighbour's
 * CPU load cannot stretch a live worker past its lock and make a stall that is not the fault
 * injected. The Redis they kill or fill is their own (startRedisServer), never the shared one.
 */
const ALONE = ['worker-kill', 'exactly-once', 'redis-kill', 'shutdown'];

/**
 * `pnpm test:reliability`: fault injection. The other files (model and forge outages, hostile
 * input, budget races, full disk, lock races) touch nothing shared but the Redis at
 * 127.0.0.1:6379, under key prefixes of their own, and spend much of their time waiting (fault
 * windows, backoffs, model delays): they run two at a time, before the ones that run alone.
 */
export default defineConfig({
  test: {
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 400_000,
    hookTimeout: 120_000,
    globalSetup: ['test/global-setup.ts', 'test/reliability/global.ts'],
    // Fault windows short enough for CI, each still outlasting what it must (see the tests);
    // set them in the environment for the long versions (60 s provider outage, 15 s Redis OOM).
    env: { PRBOT_OUTAGE_MS: process.env.PRBOT_OUTAGE_MS ?? '20000', PRBOT_OOM_MS: process.env.PRBOT_OOM_MS ?? '5000' },
    projects: [
      {
        extends: true,
        test: { name: 'beside', include: ['test/reliability/**/*.test.ts'], exclude: ALONE.map((f) => `test/reliability/${f}.test.ts`), sequence: { groupOrder: 0 } },
      },
      ...ALONE.map((f, i) => ({
        extends: true as const,
        test: { name: f, include: [`test/reliability/${f}.test.ts`], sequence: { groupOrder: i + 1 } },
      })),
    ],
  },
});
