import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import {
  acquireTestUser,
  runCommand,
  SANDBOX_HOME,
  SANDBOX_TMP,
  type RunOptions,
  type SandboxLimits,
} from '@prbot/sandbox';
import { type CommandResult } from '@prbot/core';

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
