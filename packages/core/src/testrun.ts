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

/** tests.runAs resolved for this process: "auto" drops to nobody only when running as root. */
export function resolveRunAs(runAs: 'auto' | null | { uid: number; gid: number }): { uid: number; gid: number } | null {
  if (runAs === 'auto') return process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : null;
  return runAs;
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
