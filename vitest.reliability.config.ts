import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files whose checks a stall that is not the injected fault could upset: a live worker's job
 * re-run because a neighbour's CPU load stretched it past its 1.5-2 s lock would be a second
 * model call (exactly-once counts extra calls: 0), a kill that misses its stage (worker-kill), a
 * slow shutdown (shutdown), an OOM that outlasts the wait it should fall within (redis-config).
 * Each runs alone, one after another (its own project, its own sequence group). The Redis
 * that exactly-once and redis-config kill or fill is their own (startRedisServer).
 */
const ALONE = ['exactly-once', 'worker-kill', 'redis-config', 'shutdown'];
/**
 * exactly-once goes first, before the files that run two at a time: it mostly waits (OOM and
 * blocked-Redis windows, in-process workers), so `.ci/run`'s sandbox suite, which starts at the
 * same moment and is busy for its first minute, overlaps it instead of two CPU-bound files.
 */
const BEFORE_BESIDE = 1;

/**
 * `pnpm test:reliability`: fault injection. The other files (model and forge outages, hostile
 * input, budget races, full disk, lock races, a Redis of its own killed and restarted) touch
 * nothing shared but the Redis at 127.0.0.1:6379, under key prefixes of their own (none kills or
 * fills it), and spend much of their time waiting (fault windows, backoffs, model delays): they
 * run two at a time, between the ones that run alone (exactly-once before them, the rest after).
 */
/**
 * The files that run two at a time, longest first (as measured on the 2-core CI machine), so the
 * two lanes end together: in vitest's default order (largest file first, without a results
 * cache, as on a fresh clone) a 40 s file started last and ran on alone. Files not named here
 * come after these, in vitest's order.
 */
const LONGEST_FIRST = ['hostile-output', 'model-outage', 'redis-kill', 'bad-input', 'outages', 'budget-race', 'slot-lock-race', 'echoed-secrets'];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = LONGEST_FIRST.findIndex((name) => f.moduleId.endsWith(`/${name}.test.ts`));
      return i < 0 ? LONGEST_FIRST.length : i;
    };
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    sequence: { sequencer: LongestFirst },
    testTimeout: 400_000,
    hookTimeout: 120_000,
    globalSetup: ['test/global-setup.ts', 'test/reliability/global.ts'],
    // Fault windows short enough for CI, each still outlasting what it must (see the tests);
    // set them in the environment for the long versions (60 s provider outage, 15 s Redis OOM).
    env: { PRBOT_OUTAGE_MS: process.env.PRBOT_OUTAGE_MS ?? '20000', PRBOT_OOM_MS: process.env.PRBOT_OOM_MS ?? '5000' },
    projects: [
      {
        extends: true,
        test: { name: 'beside', include: ['test/reliability/**/*.test.ts'], exclude: ALONE.map((f) => `test/reliability/${f}.test.ts`), sequence: { groupOrder: BEFORE_BESIDE } },
      },
      ...ALONE.map((f, i) => ({
        extends: true as const,
        test: { name: f, include: [`test/reliability/${f}.test.ts`], sequence: { groupOrder: i < BEFORE_BESIDE ? i : i + 1 } },
      })),
    ],
  },
});
