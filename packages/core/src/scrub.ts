import { execFile } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { InfraError } from './errors/index.ts';

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
 * Nothing is opened, followed or read: directory listings only (the entry types come with them;
 * an lstat per file to look for setuid bits cost 2,000 calls per cycle, and a setuid file of the
 * test uid is inert: bwrap mounts the work tree nosuid, sets no_new_privs, and root never runs
 * anything from a slot; git clean removes an untracked one).
 *
 * Cache directories (`spare`, matched like `git clean -e`: a name without `/` at any depth) are
 * not entered: git does not look inside them, and they may hold 100,000 files.
 * A tree that cannot be walked (deeper than PATH_MAX, unreadable) throws: the caller rebuilds the
 * slot from nothing.
 */
export async function scrubWorkTree(root: string, spare: string[]): Promise<number> {
  const names = new Set(spare.filter((s) => !s.includes('/')).map((s) => s.replace(/\/+$/, '')));
  const paths = new Set(spare.filter((s) => s.includes('/')).map((s) => s.replace(/^\/+|\/+$/g, '')));
  let removed = 0;
  const walk = async (rel: string): Promise<void> => {
    const dir = path.join(root, rel);
    const entries = await readdir(dir, { withFileTypes: true });
    await Promise.all(
      entries.map(async (e) => {
        const relPath = rel ? `${rel}/${e.name}` : e.name;
        const full = path.join(dir, e.name);
        const drop = async () => {
          await rm(full, { recursive: true, force: true });
          removed++;
        };
        if (GIT_NAMES.has(e.name) || e.isSymbolicLink()) return drop();
        if (e.isDirectory()) {
          if (names.has(e.name) || paths.has(relPath)) return;
          return walk(relPath);
        }
        if (!e.isFile()) return drop();
      }),
    );
  };
  await walk('');
  return removed;
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
  } catch {
    /* too deep for full paths, or odd: coreutils below */
  }
  await new Promise<void>((resolve, reject) => {
    execFile('rm', ['-rf', '--one-file-system', '--', dir], { env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' }, maxBuffer: 1024 * 1024 }, (err, _out, stderr) =>
      // rm -rf as root fails only on the machine (read-only file system, I/O error): not the change's fault.
      err ? reject(new InfraError(`removing ${dir} failed (rm -rf): ${String(stderr).trim().split('\n')[0]?.slice(0, 300) || err.message}`, { cause: err })) : resolve(),
    );
  });
}
