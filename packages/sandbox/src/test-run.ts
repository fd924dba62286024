import { lstatSync } from 'node:fs';
import { mkdir, open, readdir, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { sandboxDefences } from './defences.ts';
import { tryFileLock } from './pidlock.ts';
import { InfraError } from '@prbot/core';
import { resolveProgram, SANDBOX_READY, sandboxArgv, visibleInSandbox, type SandboxSpec } from './sandbox.ts';
import type { CommandResult, LimitHit } from '@prbot/core';
import { RunCgroup, type CgroupParent } from './cgroup.ts';
import { startWatchdog, type WatchReport } from './memory-watchdog.ts';
import { runProcesses } from './run-processes.ts';

/**
 * How a run's resident memory is held to tests.limits.memoryMb: a cgroup of its own under the
 * worker's delegated cgroup v2 (memory.max, pids.max; the kernel counts), else the watchdog
 * (samples /proc); "off" only for tests that show what a limit prevents.
 */
export type MemoryGuard =
  { kind: 'cgroup'; parent: CgroupParent } | { kind: 'watchdog'; intervalMs?: number } | { kind: 'off' };

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
  /** The run's resident memory (all its processes together), in MiB, and what holds it. */
  memory?: { limitMb: number; guard: MemoryGuard } | null;
  /** tests.limits.processes, to tell a run that hit it (pids.max, or the watchdog's thread count) from one that failed. */
  processes?: number;
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
export async function acquireTestUser(
  runAs: 'auto' | null | { uid: number; gid: number },
  preferredUid?: number,
  lockDir = path.join(tmpdir(), 'prbot-test-uids'),
): Promise<TestUser | null> {
  if (runAs === null || (runAs === 'auto' && process.getuid?.() !== 0)) return null;
  if (runAs !== 'auto') return { ...runAs, exclusive: false, release: async () => {} };
  await mkdir(lockDir, { recursive: true, mode: 0o700 });
  if (sandboxDefences.lockDirOwnership) assertOwnDir(lockDir);
  // The slot's previous uid first: its files then already belong to it (see handTo).
  const start =
    preferredUid !== undefined && preferredUid >= UID_BASE && preferredUid < UID_BASE + UID_COUNT
      ? preferredUid - UID_BASE
      : Math.floor(Math.random() * UID_COUNT);
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
    throw new InfraError(
      `the test uid lock directory ${dir} is not root's own (${st.isSymbolicLink() ? 'a symbolic link' : `owner ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}`}): someone else created it; remove it and restart the worker`,
    );
  }
}

/** Whether tests would run as the worker's own user (and so could read its environment). */
export function testsShareWorkerUser(runAs: 'auto' | null | { uid: number; gid: number }): boolean {
  return runAs === null || (runAs === 'auto' && process.getuid?.() !== 0);
}

/** How long the sweep keeps killing before it calls the machine broken. */
const SWEEP_DEADLINE_MS = 15_000;

/**
 * Kills every process running as `uid`. A test may start children in a session of their own
 * (setsid, detached) that a process-group kill never reaches; they cannot leave their uid.
 * Repeats until none is left (a fork loop races the first pass), by time rather than by rounds:
 * on a loaded machine a SIGKILLed process can wait long for the CPU it needs to exit, and a sweep
 * that gave up after a fixed number of rounds let the worker exit with test processes alive.
 * Processes still there at the deadline are the machine's failure (InfraError), never ignored.
 */
async function killUserProcesses(uid: number): Promise<number> {
  let killed = 0;
  if (!sandboxDefences.uidSweep) return killed;
  const deadline = Date.now() + SWEEP_DEADLINE_MS;
  for (let pause = 20; ; pause = Math.min(pause * 2, 200)) {
    const pids = await processesOf(uid);
    if (pids.length === 0) return killed;
    if (Date.now() > deadline)
      throw new InfraError(
        `${pids.length} process(es) of the test uid ${uid} still run ${SWEEP_DEADLINE_MS / 1000} s after SIGKILL (pids ${pids.slice(0, 5).join(', ')})`,
      );
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        /* gone already */
      }
    }
    await new Promise((r) => setTimeout(r, pause));
  }
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
export function testEnvironment(
  allow: string[],
  extra: Record<string, string>,
  home: string,
  from: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
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
  if (o.sandbox && !o.user)
    throw new InfraError('the test sandbox needs a uid of its own: run the test worker as root (tests.runAs "auto")');
  // A missing program is this machine's fault (a tool not installed), not the change's.
  const program = resolveProgram(
    argv[0]!,
    o.env.PATH,
    o.sandbox ? (p) => visibleInSandbox(p, o.sandbox!.toolDirs) : undefined,
  );
  // The cgroup is joined while the sandbox's shim waits at its gate, before any test code runs;
  // without a sandbox there is no such moment, so the watchdog holds the memory instead.
  const cgroupParent = o.sandbox && o.memory?.guard.kind === 'cgroup' ? o.memory.guard.parent : null;
  let joinCgroup: (() => Promise<void>) | null = null;
  const cgroupJoined = cgroupParent
    ? new Promise<void>((resolve, reject) => (joinCgroup = () => joined().then(resolve, reject)))
    : null;
  // Without a sandbox there is nothing to prepare: wait for the gate, then start.
  const gate = o.sandbox ? (cgroupJoined ? Promise.all([o.gate, cgroupJoined]) : o.gate) : undefined;
  if (!o.sandbox && o.gate) {
    await o.gate;
    started = Date.now();
  }
  const cmd = o.sandbox
    ? sandboxArgv({ ...o.sandbox, user: o.user! }, [program, ...argv.slice(1)], {
        status: 3,
        ...(gate ? { gate: 4 } : {}),
      })
    : [program, ...argv.slice(1)];
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
  const pid = sub.pid;
  let cgroup: RunCgroup | null = null;
  const joined = async () => {
    try {
      cgroup = await RunCgroup.create(cgroupParent!, `prbot-run-${pid}`, {
        memoryBytes: o.memory!.limitMb * 1024 * 1024,
        processes: o.processes,
      });
      // bwrap, its pid-1 and the waiting shim: every process the run has so far; the rest are born inside.
      await cgroup.join((await runProcesses({ rootPid: pid! })).map((p) => p.pid));
    } catch (err) {
      throw new InfraError(
        `could not put the run into a cgroup of its own under ${cgroupParent!.dir}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  };
  sub.stdio[3]?.on('data', (c: Buffer | string) => {
    status += String(c);
    if (joinCgroup && status.includes(SANDBOX_READY)) {
      joinCgroup();
      joinCgroup = null;
    }
  });
  // A sandbox that could not be made never writes its marker: nothing to join, nothing to wait for.
  sub.once('exit', () => joinCgroup?.());
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
      await cgroupJoined?.catch(() => undefined);
      await (cgroup as RunCgroup | null)?.destroy();
      o.signal?.removeEventListener('abort', onAbort);
      if (o.user?.exclusive) await killUserProcesses(o.user.uid);
      throw err;
    }
    started = Date.now();
    go?.end('go\n');
  }
  let memoryKilled = false;
  const watchdog =
    pid !== undefined && o.memory && o.memory.guard.kind !== 'off' && !cgroupParent
      ? startWatchdog(
          { rootPid: pid!, ...(o.user?.exclusive ? { uid: o.user.uid } : {}) },
          {
            memoryBytes: o.memory!.limitMb * 1024 * 1024,
            intervalMs: o.memory!.guard.kind === 'watchdog' ? o.memory!.guard.intervalMs : undefined,
            onOver: () => {
              memoryKilled = true;
              killGroup();
            },
          },
        )
      : null;
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
  const watched = await watchdog?.stop();
  const counted = cgroup ? await (cgroup as RunCgroup).events() : null;
  await (cgroup as RunCgroup | null)?.destroy();
  if (o.user?.exclusive) await killUserProcesses(o.user.uid);
  o.signal?.removeEventListener('abort', onAbort);
  if (partial && o.onLine) o.onLine(partial);
  if (r.failed && r.exitCode === undefined && !r.signal) {
    // The program could not even be started (EACCES, E2BIG, a failed setuid): the machine's fault.
    throw new InfraError(`could not start \`${argv.join(' ')}\`: ${r.shortMessage ?? r.message}`);
  }
  if (o.sandbox && !status.includes(SANDBOX_READY) && !timedOut && !o.signal?.aborted) {
    throw new InfraError(
      `the test sandbox could not be created: ${tail.text().trim().split('\n').slice(-2).join(' | ').slice(0, 400)}`,
    );
  }
  if (timedOut) tail.push(`\n[prbot] killed after ${o.timeoutMs} ms\n`);
  if (overflowed)
    tail.push(`\n[prbot] killed: more than ${o.outputBytes} bytes of output (tests.limits.outputBytes)\n`);
  const exitCode = overflowed || memoryKilled ? null : (r.exitCode ?? null);
  const limit = limitHit({ o, exitCode, timedOut, overflowed, outBytes, memoryKilled, watched, counted });
  if (limit?.kind === 'memory')
    tail.push(
      `\n[prbot] killed: the run's resident memory ${limit.observed !== null ? `reached ${limit.observed} MiB, ` : ''}over tests.limits.memoryMb (${limit.limit} MiB, held by ${limit.via})\n`,
    );
  if (limit?.kind === 'processes')
    tail.push(
      `\n[prbot] the run reached tests.limits.processes (${limit.limit} threads, held by ${limit.via}): a fork failed\n`,
    );
  const ok = exitCode === 0 && !timedOut && !overflowed && !memoryKilled;
  if (!ok && !limit) await assertDiskNotFull(o.cwd, tail.text());
  return {
    phase,
    argv,
    exitCode,
    signal: r.signal ?? null,
    timedOut,
    durationMs: Date.now() - started,
    ok,
    tail: tail.text(),
    limit,
  };
}

/** Which limit, if any, ended a run: one named reason, so the record never blames the change for the machine's bound. */
function limitHit(a: {
  o: RunOptions;
  exitCode: number | null;
  timedOut: boolean;
  overflowed: boolean;
  outBytes: number;
  memoryKilled: boolean;
  watched: WatchReport | undefined;
  counted: { oomKills: number; pidsMax: number; peakBytes: number | null } | null;
}): LimitHit | null {
  const mib = (b: number) => Math.round(b / (1024 * 1024));
  const memLimit = a.o.memory?.limitMb ?? 0;
  if (a.memoryKilled)
    return { kind: 'memory', limit: memLimit, unit: 'MiB', observed: mib(a.watched?.overBytes ?? 0), via: 'watchdog' };
  if (a.counted && a.counted.oomKills > 0)
    return {
      kind: 'memory',
      limit: memLimit,
      unit: 'MiB',
      observed: a.counted.peakBytes === null ? null : mib(a.counted.peakBytes),
      via: 'cgroup',
    };
  if (a.overflowed)
    return { kind: 'output', limit: a.o.outputBytes!, unit: 'bytes', observed: a.outBytes, via: 'counter' };
  if (a.timedOut) return { kind: 'time', limit: a.o.timeoutMs, unit: 'ms', observed: null, via: 'timer' };
  if (a.exitCode === 0 || a.o.processes === undefined) return null;
  if (a.counted && a.counted.pidsMax > 0)
    return { kind: 'processes', limit: a.o.processes, unit: 'threads', observed: null, via: 'cgroup' };
  // RLIMIT_NPROC makes fork fail with EAGAIN; the watchdog saw the run at the limit. A run that
  // only prints "Resource temporarily unavailable" is not believed: that text is the change's to write.
  // Sampled, so a short burst to the limit can be missed (then the run stays tests_failed): 90% of it counts.
  if (a.watched && a.watched.peakThreads >= a.o.processes * 0.9)
    return { kind: 'processes', limit: a.o.processes, unit: 'threads', observed: a.watched.peakThreads, via: 'rlimit' };
  return null;
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
    throw new InfraError(
      `disk full: the file system of ${dir} has ${Math.round(free / 1024)} KiB free (No space left on device); free space, or keep fewer tests.cacheDirs`,
    );
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
