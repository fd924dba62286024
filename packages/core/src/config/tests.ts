import { z } from 'zod';
import { argv, positiveInt } from './common.ts';

export const testsSection = z
  .strictObject({
    setup: z.array(argv).default([]),
    commands: z.array(argv).min(1, 'at least one test command').default([['npm', 'test']]),
    timeoutMs: positiveInt.default(10 * 60_000),
    setupTimeoutMs: positiveInt.default(10 * 60_000),
    /** Names copied from the worker's environment; everything else is withheld. */
    envAllow: z.array(z.string()).default(['PATH', 'LANG', 'LC_ALL', 'TZ', 'TERM']),
    /** Fixed, non-secret variables for the tests. */
    env: z.record(z.string(), z.string()).default({}),
    /** Kept between cycles in a slot worktree so the second cycle is not a cold build. */
    cacheDirs: z.array(z.string().min(1)).default(['node_modules', 'target', '.venv']),
    tailBytes: positiveInt.default(8192),
    logLines: positiveInt.default(500),
    /**
     * The user test commands run as. "auto": when the worker runs as root, a uid of the run's
     * own (61000-64999, group nogroup, locked machine-wide), so model-written code cannot read
     * the worker's secrets from /proc/<parent>/environ and whatever it leaves running is
     * found by uid; otherwise the worker's own user. null: always the worker's user.
     */
    runAs: z.union([z.literal('auto'), z.null(), z.strictObject({ uid: z.number().int().min(0), gid: z.number().int().min(0) })]).default('auto'),
  })
  .prefault({});
