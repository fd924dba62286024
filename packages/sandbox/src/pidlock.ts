import { spawn } from 'node:child_process';
import { closeSync, constants, openSync, writeSync, ftruncateSync } from 'node:fs';
import { sandboxDefences } from './defences.ts';

/** Exit status flock(1) gives when the lock is held elsewhere (EX_TEMPFAIL; its default, 1, is also its error status). */
const HELD = 75;

/**
 * flock(2) LOCK_EX|LOCK_NB on `fd`, taken by util-linux's flock(1) on the descriptor it inherits.
 * A flock belongs to the open file description, which the child shares with this process, so
 * the lock stays held after flock(1) exits and lasts until this process closes `fd` (or dies).
 * Node has no flock; this replaced the native addon fs-ext, whose install-time build needed a
 * C++ toolchain and the Node headers from nodejs.org, and so failed `pnpm install` on a fresh
 * machine (util-linux is on every Debian/Ubuntu system). Returns false when held elsewhere.
 */
async function flockExclusiveNonBlocking(fd: number, file: string): Promise<boolean> {
  return flockFd(fd, file, ['--nonblock']);
}

/** flock(1) on the inherited descriptor 3 with `mode` (`--nonblock`, `--shared`, `--wait N`). */
async function flockFd(fd: number, file: string, mode: string[]): Promise<boolean> {
  // spawn, not spawnSync: a worker takes these locks between jobs, and a synchronous child
  // (some ms on a busy machine) would stall its event loop (lock renewals, heartbeats).
  const r = await new Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string; error?: Error }>(
    (resolve) => {
      let stderr = '';
      const child = spawn('flock', [...mode, '--conflict-exit-code', String(HELD), '3'], {
        stdio: ['ignore', 'ignore', 'pipe', fd],
      });
      child.stderr!.on('data', (c: Buffer) => (stderr += String(c)));
      child.once('error', (error) => resolve({ status: null, signal: null, stderr, error }));
      child.once('close', (status, signal) => resolve({ status, signal, stderr }));
    },
  );
  if (r.status === 0) return true;
  if (r.status === HELD) return false;
  const why = r.error
    ? `${r.error.message}${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? ' (flock(1) is in util-linux: apt-get install util-linux)' : ''}`
    : `exit ${r.status ?? r.signal}: ${r.stderr.trim()}`;
  throw Object.assign(new Error(`could not lock ${file} with flock(1): ${why}`), { code: 'EFLOCK' });
}

export interface FileLock {
  readonly file: string;
  release(): Promise<void>;
}

/**
 * A machine-wide lock held as a kernel flock(2) on an open file. The kernel drops it when the
 * descriptor closes, which includes the holder dying in any way (SIGKILL, OOM), so there is no
 * stale lock to detect and take over: the previous pid-file lock took over stale locks by
 * check-then-write and let two workers hold one slot in 1 of 40 trials. Two opens of one file
 * are separate open file descriptions, so the lock also excludes other holders in this process.
 * The lock file itself is never deleted: unlinking it would let a second holder lock a new
 * inode under the same name while the first still holds the old one.
 * flock is local to this machine (and unreliable on NFS): never share lock directories between hosts.
 */
export async function tryFileLock(file: string): Promise<FileLock | null> {
  // 'a+' without following a link: a lock file that is a link (planted in a directory someone
  // else could write) would send the truncate and pid write below into the link's target.
  const noFollow = sandboxDefences.lockFileNoFollow ? constants.O_NOFOLLOW : 0;
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND | noFollow, 0o600);
  let locked: boolean;
  try {
    locked = await flockExclusiveNonBlocking(fd, file);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  if (!locked) {
    closeSync(fd);
    return null;
  }
  // The holder's pid, for people reading the directory; the lock is the flock, not this text.
  try {
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`);
  } catch {
    /* informational only */
  }
  let open = true;
  return {
    file,
    async release() {
      if (!open) return;
      open = false;
      closeSync(fd); // closing the last descriptor of the description drops the flock
    },
  };
}

/**
 * A shared flock(2) on `file`, waited for up to `waitSeconds`: many holders at once, in any
 * process of this machine, and none while someone holds it exclusively (tryFileLock). The disk
 * cap's "repository in use" lock: every stage job of a repository holds it shared, the evictor
 * takes it exclusively without waiting, so it never removes a mirror a job is reading. Null
 * when the wait ran out. The file is opened without following a link and never deleted.
 */
export async function sharedFileLock(file: string, waitSeconds: number): Promise<FileLock | null> {
  const noFollow = sandboxDefences.lockFileNoFollow ? constants.O_NOFOLLOW : 0;
  const fd = openSync(file, constants.O_RDONLY | constants.O_CREAT | noFollow, 0o600);
  let locked: boolean;
  try {
    locked = await flockFd(fd, file, ['--shared', '--wait', String(waitSeconds)]);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  if (!locked) {
    closeSync(fd);
    return null;
  }
  let open = true;
  return {
    file,
    async release() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}
