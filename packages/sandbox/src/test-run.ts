import { lstatSync } from 'node:fs';
import { mkdir, open, readdir, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { tryFileLock } from './pidlock.ts';
import { InfraError } from '@prbot/core';
import { resolveProgram, SANDBOX_READY, sandboxArgv, visibleInSandbox, type SandboxSpec } from './sandbox.ts';
import type { CommandResult } from '@prbot/core';

export interface RunOptions {
  cwd: string;
  /** The whole environment of the command: built from an allow-list, never the worker's own. */
  env: Record<string, string>;
  timeoutMs: number;
  tailBytes: number;
  onLine?: (line: string) => void;
  signal?: AbortSignal;
  /** Run as this user (needs a root worker); see tests.runAs. */
  user?: { uid: number; gid: number; exclusive?: boolean } | null;
  /** Run inside bubblewrap (needs `user`); null or absent: directly (tests.sandbox: off). */
  sandbox?: Omit<SandboxSpec, 'user'> | null;
  /** Total bytes of output after which the command is killed. */
  outputBytes?: number;
  /**
   * The command starts only once this resolves. With a sandbox, bwrap is started at once and
   * builds the sandbox meanwhile (its shim waits inside, before any test code runs), so that
   * work overlaps whatever the caller still does (the chown of the work tree, a progress
   * write). If it rejects, the waiting sandbox is killed and runCommand rejects with its error.
   */
  gate?: Promise<unknown>;
}

export interface TestUser {
  uid: number;
  gid: number;
  /** True when no other run uses this uid, so every process of it may be killed afterwards. */
  exclusive: boolean;
  release(): Promise<void>;
}

const UID_BASE = 61000;
const UID_COUNT = 4000;

/**
 * The user one test run executes as, per tests.runAs. "auto" under a root worker: a uid of its
 * own from 61000-64999 (group nogroup), locked machine-wide while the run lasts, so that killing
 * every process of that uid afterwards never touches another slot's, another worker's or
 * another repository's tests, and no test can read the worker's /proc/<pid>/environ.
 * null: the worker's own user.
 */
export async function acquireTestUser(runAs: 'auto' | null | { uid: number; gid: number }, preferredUid?: number, lockDir = path.join(tmpdir(), 'prbot-test-uids')): Promise<TestUser | null> {
  if (runAs === null || (runAs === 'auto' && process.getuid?.() !== 0)) return null;
  if (runAs !== 'auto') return { ...runAs, exclusive: false, release: async () => {} };
  await mkdir(lockDir, { recursive: true, mode: 0o700 });
  assertOwnDir(lockDir);
  // The slot's previous uid first: its files then already belong to it (see handTo).
  const start = preferredUid !== undefined && preferredUid >= UID_BASE && preferredUid < UID_BASE + UID_COUNT ? preferredUid - UID_BASE : Math.floor(Math.random() * UID_COUNT);
  for (let k = 0; k < UID_COUNT; k++) {
    const uid = UID_BASE + ((start + k) % UID_COUNT);
    const lock = await tryFileLock(path.join(lockDir, `${uid}.lock`));
    if (lock) return { uid, gid: 65534, exclusive: true, release: () => lock.release() };
  }
  throw new Error(`no free test uid in ${UID_BASE}-${UID_BASE + UID_COUNT - 1} (locks in ${lockDir})`);
}

/**
 * The uid locks usually live in /tmp, which tests without the sandbox (tests.sandbox: off) and
 * every local user share. A directory of that name someone else made first is theirs: its lock
 * files could be links into root's files, or held for ever. Only one that is this process's
 * user's own, a real directory, writable by no one else, is used.
 */
function assertOwnDir(dir: string): void {
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.getuid?.() || st.mode & 0o022) {
    throw new InfraError(`the test uid lock directory ${dir} is not root's own (${st.isSymbolicLink() ? 'a symbolic link' : `owner ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}`}): someone else created it; remove it and restart the worker`);
  }
}

/** Whether tests would run as the worker's own user (and so could read its environment). */
export function testsShareWorkerUser(runAs: 'auto' | null | { uid: number; gid: number }): boolean {
  return runAs === null || (runAs === 'auto' && process.getuid?.() !== 0);
}

/**
 * Kills every process running as `uid`. A test may start children in a session of their own
 * (setsid, detached) that a process-group kill never reaches; they cannot leave their uid.
 * Repeats until none is left (a fork loop races the first pass). Returns how many it killed.
 */
async function killUserProcesses(uid: number): Promise<number> {
  let killed = 0;
  for (let round = 0; round < 20; round++) {
    const pids = await processesOf(uid);
    if (pids.length === 0) return killed;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        /* gone already */
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return killed;
}

async function processesOf(uid: number): Promise<number[]> {
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((e) => /^\d+$/.test(e));
  const out: number[] = [];
  // A sweep runs after every test command and reads the status of every process on the machine:
  // `readFile` (64 KB for a size-0 /proc file) of all of them at once was most of a busy
  // worker's short-lived memory. Now 16 at a time, 1 KB each (Uid is the ninth line), reused.
  const bufs = Array.from({ length: 16 }, () => Buffer.allocUnsafe(1024));
  for (let i = 0; i < pids.length; i += bufs.length) {
    await Promise.all(
      pids.slice(i, i + bufs.length).map(async (pid, j) => {
        const status = await readHead(`/proc/${pid}/status`, bufs[j]!);
        const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
        const state = /^State:\s+(\S)/m.exec(status)?.[1];
        if (uids && (Number(uids[1]) === uid || Number(uids[2]) === uid) && state !== 'Z') out.push(Number(pid));
      }),
    );
  }
  return out;
}

/** The start of a file into `buf` ("" when it is gone: the process ended). */
async function readHead(file: string, buf: Buffer): Promise<string> {
  const fh = await open(file, 'r').catch(() => null);
  if (!fh) return '';
  try {
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.toString('latin1', 0, bytesRead);
  } catch {
    return '';
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** The environment tests get: allow-listed names from the worker's, fixed extras, and a HOME of ours. */
export function testEnvironment(allow: string[], extra: Record<string, string>, home: string, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of allow) {
    const v = from[name];
    if (v !== undefined) env[name] = v;
  }
  // A HOME of prbot's own keeps ~/.npmrc, ~/.git-credentials and the like out of reach.
  return { ...env, ...extra, HOME: home, CI: 'true' };
}

/**
 * Runs one command: argv array, no shell, in its own process group. On timeout or abort the
 * whole group is killed; when the command exits, whatever it left running in its group is
 * killed too. Output is streamed line by line and only its tail is kept, so a command that
 * prints gigabytes costs bounded memory.
 */
export async function runCommand(phase: CommandResult['phase'], argv: string[], o: RunOptions): Promise<CommandResult> {
  let started = Date.now();
  let timedOut = false;
  let overflowed = false;
  let outBytes = 0;
  const tail = new Tail(o.tailBytes);
  if (o.sandbox && !o.user) throw new InfraError('the test sandbox needs a uid of its own: run the test worker as root (tests.runAs "auto")');
  // A missing program is this machine's fault (a tool not installed), not the change's.
  const program = resolveProgram(argv[0]!, o.env.PATH, o.sandbox ? (p) => visibleInSandbox(p, o.sandbox!.toolDirs) : undefined);
  // Without a sandbox there is nothing to prepare: wait for the gate, then start.
  const gate = o.sandbox ? o.gate : undefined;
  if (!o.sandbox && o.gate) {
    await o.gate;
    started = Date.now();
  }
  const cmd = o.sandbox ? sandboxArgv({ ...o.sandbox, user: o.user! }, [program, ...argv.slice(1)], { status: 3, ...(gate ? { gate: 4 } : {}) }) : [program, ...argv.slice(1)];
  const { execa } = await import('execa'); // loaded at the first command, not at start
  const sub = execa(cmd[0]!, cmd.slice(1), {
    cwd: o.cwd,
    env: o.env,
    extendEnv: false,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe', ...(gate ? (['pipe'] as const) : [])],
    all: true,
    buffer: false,
    reject: false,
    encoding: 'utf8',
    ...(o.user ? { uid: o.user.uid, gid: o.user.gid } : {}),
  });
  let status = '';
  sub.stdio[3]?.on('data', (c: Buffer | string) => (status += String(c)));
  const pid = sub.pid;
  const killGroup = () => {
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  const onAbort = () => killGroup();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  sub.once('exit', killGroup);
  if (gate) {
    const go = (sub.stdio as unknown as (Writable | null | undefined)[])[4];
    go?.on('error', () => {}); // the sandbox may already be gone (it could not be made, or an abort)
    try {
      await gate;
    } catch (err) {
      killGroup();
      await sub;
      o.signal?.removeEventListener('abort', onAbort);
      if (o.user?.exclusive) await killUserProcesses(o.user.uid);
      throw err;
    }
    started = Date.now();
    go?.end('go\n');
  }
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, o.timeoutMs);

  let partial = '';
  sub.all?.on('data', (chunk: string | Buffer) => {
    const text = String(chunk);
    outBytes += Buffer.byteLength(text);
    if (o.outputBytes !== undefined && outBytes > o.outputBytes && !overflowed) {
      overflowed = true;
      killGroup();
    }
    tail.push(text);
    if (!o.onLine) return;
    const lines = (partial + text).split('\n');
    partial = lines.pop()!.slice(-4096);
    for (const l of lines) o.onLine(l);
  });
  const r = await sub;
  clearTimeout(timer);
  if (o.user?.exclusive) await killUserProcesses(o.user.uid);
  o.signal?.removeEventListener('abort', onAbort);
  if (partial && o.onLine) o.onLine(partial);
  if (r.failed && r.exitCode === undefined && !r.signal) {
    // The program could not even be started (EACCES, E2BIG, a failed setuid): the machine's fault.
    throw new InfraError(`could not start \`${argv.join(' ')}\`: ${r.shortMessage ?? r.message}`);
  }
  if (o.sandbox && !status.includes(SANDBOX_READY) && !timedOut && !o.signal?.aborted) {
    throw new InfraError(`the test sandbox could not be created: ${tail.text().trim().split('\n').slice(-2).join(' | ').slice(0, 400)}`);
  }
  if (timedOut) tail.push(`\n[prbot] killed after ${o.timeoutMs} ms\n`);
  if (overflowed) tail.push(`\n[prbot] killed: more than ${o.outputBytes} bytes of output (tests.limits.outputBytes)\n`);
  const exitCode = overflowed ? null : (r.exitCode ?? null);
  const ok = exitCode === 0 && !timedOut && !overflowed;
  if (!ok && !timedOut && !overflowed) await assertDiskNotFull(o.cwd, tail.text());
  return {
    phase,
    argv,
    exitCode,
    signal: r.signal ?? null,
    timedOut,
    durationMs: Date.now() - started,
    ok,
    tail: tail.text(),
  };
}

/** Headroom below which a failed command is blamed on the disk, not on the change. */
const DISK_FULL_BYTES = 4 * 1024 * 1024;

/**
 * A command that failed on a full disk says nothing about the change: InfraError naming the
 * file system, so the cycle is retried (perhaps on another machine), never ends tests_failed.
 */
async function assertDiskNotFull(dir: string, output = ''): Promise<void> {
  const s = await statfs(dir).catch(() => null);
  const free = s ? s.bavail * s.bsize : Number.POSITIVE_INFINITY;
  if (free < DISK_FULL_BYTES || (/ENOSPC|No space left on device/.test(output) && free < 64 * 1024 * 1024)) {
    throw new InfraError(`disk full: the file system of ${dir} has ${Math.round(free / 1024)} KiB free (No space left on device); free space, or keep fewer tests.cacheDirs`);
  }
}

/** The last `max` bytes of a stream, in bounded memory. */
class Tail {
  private chunks: string[] = [];
  private size = 0;
  constructor(private readonly max: number) {}
  push(s: string): void {
    this.chunks.push(s);
    this.size += s.length;
    while (this.size > this.max * 2 && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }
  text(): string {
    const all = this.chunks.join('');
    return all.length > this.max ? all.slice(all.length - this.max) : all;
  }
}
