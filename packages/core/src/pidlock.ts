import { closeSync, constants, openSync, writeSync, ftruncateSync } from 'node:fs';
import { createRequire } from 'node:module';

// fs-ext is CommonJS with a native binding and no types: the one call we use, typed here.
const fsExt = createRequire(import.meta.url)('fs-ext') as { flockSync(fd: number, flags: 'ex' | 'exnb' | 'un'): void };

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
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW, 0o600);
  try {
    fsExt.flockSync(fd, 'exnb');
  } catch (err) {
    closeSync(fd);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return null;
    throw err;
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
