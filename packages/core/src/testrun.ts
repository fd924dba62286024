import { readdir, readFile } from 'node:fs/promises';
import { execa } from 'execa';
import type { CommandResult } from './testresult.ts';

export interface RunOptions {
  cwd: string;
  /** The whole environment of the command: built from an allow-list, never the worker's own. */
  env: Record<string, string>;
  timeoutMs: number;
  tailBytes: number;
  onLine?: (line: string) => void;
  signal?: AbortSignal;
  /** Run as this user (needs a root worker); see tests.runAs. */
  user?: { uid: number; gid: number } | null;
}

/**
 * tests.runAs resolved for this process and slot. "auto", under a root worker: a uid of the
 * slot's own (61000 + slot) in group nogroup, so each slot's processes can be found and killed
 * by uid, and none can read the worker's /proc/<pid>/environ. Otherwise the worker's own user.
 */
export function resolveRunAs(runAs: 'auto' | null | { uid: number; gid: number }, slot = 0): { uid: number; gid: number } | null {
  if (runAs === 'auto') return process.getuid?.() === 0 ? { uid: 61000 + slot, gid: 65534 } : null;
  return runAs;
}

/**
 * Kills every process running as `uid`. A test may start children in a session of their own
 * (setsid, detached) that a process-group kill never reaches; they cannot leave their uid.
 * Repeats until none is left (a fork loop races the first pass). Returns how many it killed.
 */
export async function killUserProcesses(uid: number): Promise<number> {
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
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const out: number[] = [];
  await Promise.all(
    entries.filter((e) => /^\d+$/.test(e)).map(async (e) => {
      const status = await readFile(`/proc/${e}/status`, 'utf8').catch(() => '');
      const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
      const state = /^State:\s+(\S)/m.exec(status)?.[1];
      if (uids && (Number(uids[1]) === uid || Number(uids[2]) === uid) && state !== 'Z') out.push(Number(e));
    }),
  );
  return out;
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
  const started = Date.now();
  let timedOut = false;
  const tail = new Tail(o.tailBytes);
  const sub = execa(argv[0]!, argv.slice(1), {
    cwd: o.cwd,
    env: o.env,
    extendEnv: false,
    detached: true,
    stdin: 'ignore',
    all: true,
    buffer: false,
    reject: false,
    encoding: 'utf8',
    ...(o.user ? { uid: o.user.uid, gid: o.user.gid } : {}),
  });
  const pid = sub.pid;
  const killGroup = () => {
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, o.timeoutMs);
  const onAbort = () => killGroup();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  sub.once('exit', killGroup);

  let partial = '';
  sub.all?.on('data', (chunk: string | Buffer) => {
    const text = String(chunk);
    tail.push(text);
    if (!o.onLine) return;
    const lines = (partial + text).split('\n');
    partial = lines.pop()!.slice(-4096);
    for (const l of lines) o.onLine(l);
  });
  const r = await sub;
  clearTimeout(timer);
  if (o.user) await killUserProcesses(o.user.uid);
  o.signal?.removeEventListener('abort', onAbort);
  if (partial && o.onLine) o.onLine(partial);
  if (r.failed && r.exitCode === undefined && !r.signal) tail.push(`\n[prbot] ${r.shortMessage ?? r.message}\n`);
  if (timedOut) tail.push(`\n[prbot] killed after ${o.timeoutMs} ms\n`);
  const exitCode = r.exitCode ?? null;
  return {
    phase,
    argv,
    exitCode,
    signal: r.signal ?? null,
    timedOut,
    durationMs: Date.now() - started,
    ok: exitCode === 0 && !timedOut,
    tail: tail.text(),
  };
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
