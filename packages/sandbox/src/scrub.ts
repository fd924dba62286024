import { execFile } from 'node:child_process';
import { closeSync, constants, fchmodSync, fstatSync, lstatSync, openSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { InfraError } from '@prbot/core';
import { sandboxDefences } from './defences.ts';

/**
 * Names that git reads from a work tree as configuration, or as a repository of its own. Root's
 * git opens `.gitattributes` of every directory it writes into or hashes a file in (checkout
 * reads the work tree's copy before the index's when it compares), so one written by test code
 * chose how root checks out the next cycle's files, and one that is a FIFO blocked root's git in
 * open(2) for ever. Tracked copies are removed too: the checkout that follows writes them anew
 * from the commit.
 */
const GIT_NAMES = new Set(['.git', '.gitattributes', '.gitignore', '.gitmodules']);

/**
 * Makes a slot's work tree safe for root's git, before git runs in it. Test code of the last
 * cycle could write anything there; afterwards only regular files and directories remain, none
 * of them named like git metadata. Removed: GIT_NAMES at any depth, every symlink (a tracked one
 * is written again by the checkout; an untracked one would be cleaned anyway), every FIFO,
 * socket or device node (git clean leaves those: it only knows files, links and directories).
 * Nothing is opened, followed or read: directory listings and lstat only.
 *
 * Modes are given back too. Root is not stopped by them, but the next run's uid is: a tracked
 * file the tests made unreadable (chmod 000) keeps that mode through git (it compares content,
 * and of the mode only the executable bit), and git restores no directory's mode, so the next
 * cycle's tests failed on EACCES and an innocent change was blamed. Owner read/write (and
 * search, for directories) are set again, setuid/setgid bits dropped (nothing tracked has them),
 * and group/other write too: the work tree is a host directory, and one made world-writable
 * would let any local user change the next cycle's files, or swap links under root's checkout.
 * lstat is synchronous: 2,000 calls through the thread pool cost ~40 ms under load, a loop a few.
 *
 * Cache directories (`spare`, matched like `git clean -e`: a name without `/` at any depth) are
 * not entered: git does not look inside them, and they may hold 100,000 files.
 * A tree that cannot be walked (deeper than PATH_MAX, unreadable) throws: the caller rebuilds the
 * slot from nothing.
 */
export async function scrubWorkTree(root: string, spare: string[]): Promise<number> {
  const names = new Set(spare.filter((s) => !s.includes('/')).map((s) => s.replace(/\/+$/, '')));
  const paths = new Set(spare.filter((s) => s.includes('/')).map((s) => s.replace(/^\/+|\/+$/g, '')));
  let changed = 0;
  const restore = (full: string, need: number) => {
    if (!sandboxDefences.modesGivenBack) return;
    const st = lstatSync(full);
    const mode = st.mode & 0o7777;
    if ((mode & need) === need && !(mode & 0o6022)) return;
    // Through a descriptor of the very inode lstat saw, never a path that could have become a
    // link since (O_NOFOLLOW), nor a FIFO that would block the open (O_NONBLOCK).
    const fd = openSync(full, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const now = fstatSync(fd);
      if (now.ino !== st.ino || now.dev !== st.dev || !(now.isFile() || now.isDirectory())) return;
      fchmodSync(fd, (mode & 0o755) | need);
      changed++;
    } finally {
      closeSync(fd);
    }
  };
  const walk = async (rel: string): Promise<void> => {
    const dir = path.join(root, rel);
    restore(dir, 0o700);
    const entries = await readdir(dir, { withFileTypes: true });
    await Promise.all(
      entries.map(async (e) => {
        const relPath = rel ? `${rel}/${e.name}` : e.name;
        const full = path.join(dir, e.name);
        const remove = GIT_NAMES.has(e.name) || e.isSymbolicLink() || !(e.isFile() || e.isDirectory());
        if (remove && !sandboxDefences.scrubBeforeGit) return;
        if (remove) {
          await rm(full, { recursive: true, force: true });
          changed++;
          return;
        }
        if (e.isFile()) return restore(full, 0o600);
        if (names.has(e.name) || paths.has(relPath)) return restore(full, 0o700); // kept, not entered
        return walk(relPath);
      }),
    );
  };
  await walk('');
  return changed;
}

/**
 * Deletes a directory tree test code may have written (rm -rf). Node's fs.rm works on full
 * paths, so a tree deeper than PATH_MAX (made with relative mkdir/chdir) fails with
 * ENAMETOOLONG and would stay for ever; coreutils rm walks with openat and removes any depth.
 * Neither follows symlinks. The fast path first: rm(1) costs a process.
 */
export async function removeTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
    return;
  } catch (err) {
    if (!sandboxDefences.deepTreeRemoval) throw err;
    /* too deep for full paths, or odd: coreutils below */
  }
  await new Promise<void>((resolve, reject) => {
    execFile(
      'rm',
      ['-rf', '--one-file-system', '--', dir],
      { env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' }, maxBuffer: 1024 * 1024 },
      (err, _out, stderr) =>
        // rm -rf as root fails only on the machine (read-only file system, I/O error): not the change's fault.
        err
          ? reject(
              new InfraError(
                `removing ${dir} failed (rm -rf): ${String(stderr).trim().split('\n')[0]?.slice(0, 300) || err.message}`,
                { cause: err },
              ),
            )
          : resolve(),
    );
  });
}
