import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import {
  acquireTestUser,
  runCommand,
  runTestPlan,
  SANDBOX_HOME,
  SlotPool,
  SANDBOX_TMP,
  type RunOptions,
  type SandboxLimits,
} from '@prbot/sandbox';
import { type CommandResult } from '@prbot/core';
import { configSchema, type ConfigInput } from '@prbot/config';
import { Mirror } from '@prbot/repo';
import { commitAll, makeUpstream } from '@prbot/test-support';

/**
 * How an attack is run: `bwrap` is what the test stage does; `off` is tests.sandbox: off (the
 * run's own uid, no namespaces); `worker-uid` is off with tests.runAs: null (the worker's user).
 * Each attack is shown to fail under `bwrap` and, where that means something, to work without
 * it, so a test that cannot fail is caught.
 */
export type Mode = 'bwrap' | 'off' | 'worker-uid';

export interface Attack {
  result: CommandResult;
  /** The JSON the attack printed on its last `RESULT ` line. */
  out: Record<string, unknown>;
  dirs: { work: string; home: string; tmp: string };
}

export const DEFAULT_LIMITS: SandboxLimits = { processes: 512 };

const roots: string[] = [];

/** Runs `script` (CommonJS for node) as a test command would run it, in the given mode. */
export async function attack(
  mode: Mode,
  script: string,
  o: {
    limits?: SandboxLimits;
    hide?: string[];
    toolDirs?: string[];
    timeoutMs?: number;
    dirs?: Attack['dirs'];
    memory?: RunOptions['memory'];
  } = {},
): Promise<Attack> {
  const dirs = o.dirs ?? (await makeDirs());
  const user = mode === 'worker-uid' ? null : await acquireTestUser('auto');
  try {
    if (user) await execa('chown', ['-R', `${user.uid}:${user.gid}`, dirs.work, dirs.home, dirs.tmp]);
    await writeFile(path.join(dirs.work, 'attack.cjs'), script);
    const sandboxed = mode === 'bwrap';
    const result = await runCommand('test', ['node', 'attack.cjs'], {
      cwd: dirs.work,
      env: {
        PATH: '/usr/local/bin:/usr/bin:/bin',
        HOME: sandboxed ? SANDBOX_HOME : dirs.home,
        TMPDIR: sandboxed ? SANDBOX_TMP : dirs.tmp,
      },
      timeoutMs: o.timeoutMs ?? 60_000,
      tailBytes: 64 * 1024,
      user,
      memory: o.memory ?? null,
      processes: (o.limits ?? DEFAULT_LIMITS).processes,
      sandbox: sandboxed
        ? {
            workTree: dirs.work,
            home: dirs.home,
            tmp: dirs.tmp,
            network: false,
            limits: o.limits ?? DEFAULT_LIMITS,
            toolDirs: o.toolDirs ?? [],
            hide: o.hide ?? [],
          }
        : null,
    });
    const line = result.tail
      .split('\n')
      .reverse()
      .find((l) => l.startsWith('RESULT '));
    return { result, out: line ? (JSON.parse(line.slice(7)) as Record<string, unknown>) : {}, dirs };
  } finally {
    await user?.release();
  }
}

export async function makeDirs(): Promise<Attack['dirs']> {
  const root = await mkdtemp(path.join(tmpdir(), 'prbot-sandbox-t-'));
  roots.push(root);
  await chmod(root, 0o755);
  const dirs = { work: path.join(root, 'work'), home: path.join(root, 'home'), tmp: path.join(root, 'tmp') };
  for (const d of Object.values(dirs)) await mkdir(d);
  return dirs;
}

export async function cleanupDirs(): Promise<void> {
  await Promise.all(roots.splice(0).map((r) => rm(r, { recursive: true, force: true })));
}

/** A node one-liner prelude: `done(obj)` prints the RESULT line and exits 0. */
export const PRELUDE = `const done = (o) => { console.log('RESULT ' + JSON.stringify(o)); process.exit(0); };\n`;

/**
 * A real repository, mirror and slot pool for runTestPlan: `cycle(commit, tests)` moves slot 0 to
 * the commit and runs the plan there as the test stage does, with the worker directory `work`.
 */
export async function planRig(files: Record<string, string>) {
  const root = await mkdtemp(path.join(tmpdir(), 'prbot-plan-t-'));
  roots.push(root);
  await chmod(root, 0o755);
  const src = path.join(root, 'src');
  for (const [f, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(src, f)), { recursive: true });
    await writeFile(path.join(src, f), text);
  }
  const { bare, checkout } = await makeUpstream(src, path.join(root, 'repo'));
  const work = path.join(root, 'work');
  const mirror = new Mirror(path.join(work, 'mirrors'), bare);
  await mirror.sync();
  const pool = new SlotPool(mirror, work);
  return {
    work,
    pool,
    head: () => mirror.resolve('main'),
    /** Commits `change` upstream and returns the new commit, fetched into the mirror. */
    commit: async (change: Record<string, string>) => {
      for (const [f, text] of Object.entries(change)) await writeFile(path.join(checkout, f), text);
      await commitAll(checkout, 'change', true);
      await mirror.sync();
      return mirror.resolve('main');
    },
    cycle: async (commit: string, tests: TestsInput, slotWanted?: Slot) => {
      const t = configSchema.shape.tests.parse(tests);
      const slot = slotWanted ?? (await pool.acquire());
      const lines: string[] = [];
      try {
        await pool.moveTo(slot, commit, t.cacheDirs);
        const run = await runTestPlan(slot, t, {
          commit,
          workdir: work,
          hide: [],
          env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
          onCommand: async () => {},
          output: () => ({ line: (l) => void lines.push(l), flush: async () => {} }),
        });
        return { ...run, lines, slot };
      } finally {
        if (!slotWanted) await slot.release();
      }
    },
  };
}
type TestsInput = NonNullable<ConfigInput['tests']>;
type Slot = Awaited<ReturnType<SlotPool['acquire']>>;
