import { z } from 'zod';
import { argv, positiveInt } from './common.ts';

export const testsSection = z
  .strictObject({
    setup: z.array(argv).default([]),
    commands: z
      .array(argv)
      .min(1, 'at least one test command')
      .default([['npm', 'test']]),
    timeoutMs: positiveInt.default(10 * 60_000),
    setupTimeoutMs: positiveInt.default(10 * 60_000),
    /** Names copied from the worker's environment; everything else is withheld. */
    envAllow: z.array(z.string()).default(['PATH', 'LANG', 'LC_ALL', 'TZ', 'TERM']),
    /** Fixed, non-secret variables for the tests. */
    env: z.record(z.string(), z.string()).default({}),
    /** Kept between cycles in a slot worktree so the second cycle is not a cold build. */
    cacheDirs: z.array(z.string().min(1)).default(['node_modules', 'target', '.venv']),
    /**
     * Globs (over the commit's tracked files; `*` within a name, `**` across directories) whose
     * contents, with the setup commands, decide whether a slot's setup must run again. Unset: the
     * manifests and lockfiles of npm/pnpm/yarn, Python, Go and Cargo. Same hash as the slot's last
     * successful setup and its cache directories still there: setup is skipped, and the record
     * says so. [] : setup runs every cycle.
     */
    setupInputs: z.array(z.string().min(1)).optional(),
    /**
     * "shared": one package cache per machine (npm cache, pnpm store, yarn and pip caches under the
     * worker's workdir), writable by setup commands only and mounted read-only into test commands
     * (tests.sandbox "bwrap"; see docs/SECURITY.md). "off": every cycle's $HOME cache, thrown away.
     */
    packageCache: z.enum(['shared', 'off']).default('shared'),
    tailBytes: positiveInt.default(8192),
    logLines: positiveInt.default(500),
    /**
     * The user test commands run as. "auto": when the worker runs as root, a uid of the run's
     * own (61000-64999, group nogroup, locked machine-wide), so model-written code cannot read
     * the worker's secrets from /proc/<parent>/environ and whatever it leaves running is
     * found by uid; otherwise the worker's own user. null: always the worker's user.
     */
    runAs: z
      .union([
        z.literal('auto'),
        z.null(),
        z.strictObject({ uid: z.number().int().min(0), gid: z.number().int().min(0) }),
      ])
      .default('auto'),
    /**
     * "bwrap": every setup and test command runs in a bubblewrap sandbox (own uid, pid, network
     * and user namespaces, system read-only, writable only the work tree, $HOME and /tmp; see
     * docs/SECURITY.md); a test worker that cannot create one refuses to start. "off": commands
     * run directly as the run's uid, with the worker's network and file system in view: for
     * trusted setups only (logged as a warning at start).
     */
    sandbox: z.enum(['bwrap', 'off']).default('bwrap'),
    /**
     * "none": no command has a network (Redis, dashboard, model gateway, forge and the internet
     * are unreachable). "setup": setup commands share the host's network so they can install
     * packages. Risk: model-written code runs during setup too (npm lifecycle scripts, a
     * package.json the change edited), so with "setup" it can reach anything this host reaches,
     * loopback services included (Redis: keep its password out of the test worker; jobs are
     * signed, so it cannot forge work, but it can read or delete). Prefer "none" with a
     * pre-filled cache directory.
     */
    network: z.enum(['none', 'setup']).default('none'),
    limits: z
      .strictObject({
        /**
         * Resident memory of the whole run (every process of one setup or test command together),
         * in MiB: cgroup v2 memory.max when the worker has a delegated cgroup, else a watchdog that
         * sums the run's RSS from /proc and kills it over the limit. Not address space: V8
         * reserves far more than it uses, and vitest dies under RLIMIT_AS 4096.
         */
        memoryMb: positiveInt.default(4096),
        /** "auto": a delegated cgroup v2 when there is one, else the watchdog; "cgroup": refuse to start without one; "watchdog": always the watchdog. */
        memoryVia: z.enum(['auto', 'cgroup', 'watchdog']).default('auto'),
        /** Address space per process (RLIMIT_AS), in MiB, on top of memoryMb; unset by default (see memoryMb). */
        addressSpaceMb: positiveInt.optional(),
        /** Processes and threads of the run's uid together (RLIMIT_NPROC). */
        processes: positiveInt.default(512),
        /** Bytes of output a command may print before it is killed. */
        outputBytes: positiveInt.default(64 * 1024 * 1024),
      })
      .prefault({}),
    /** Host directories shown read-only inside the sandbox, for tools installed outside /usr and /opt. */
    toolDirs: z.array(z.string().startsWith('/', 'an absolute path')).default([]),
  })
  .prefault({});
