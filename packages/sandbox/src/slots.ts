import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InfraError } from '@prbot/core';
import { git } from '@prbot/repo';
import { sandboxDefences } from './defences.ts';
import { tryFileLock } from './pidlock.ts';
import { removeTree, scrubWorkTree } from './scrub.ts';
import { forgetSetup } from './setup-inputs.ts';
import type { Mirror } from '@prbot/repo';

export interface Slot {
  index: number;
  /** The work tree: the only part of the slot test code can write (and the sandbox shows). */
  dir: string;
  /** The slot's git dir, beside the work tree and never inside it: root's, out of the tests' reach. */
  gitDir: string;
  release(): Promise<void>;
}

/**
 * The cross-process slot lock, switchable for one purpose: the positive control of
 * test/reliability/slot-lock-race.test.ts turns it off inside its own child processes to show
 * that two holders of one slot then occur. No variable or config field reaches it.
 */
export const slotLockDefence = { crossProcess: true };

/**
 * One kept worktree per concurrency slot. Moving a kept worktree to the next cycle's commit
 * rewrites only the files that differ (measured ~27 ms on 2,000 files, against ~830 ms for a
 * fresh `worktree add`), and the cache directories (node_modules, target …) survive, so the
 * second cycle on a repo is not a cold build. A kernel lock (flock) per slot lets several worker
 * processes share one work directory; it vanishes with its holder, so nothing is taken over.
 *
 * Each slot is a git dir of its own (`slot-N.git`, borrowing the mirror's objects through
 * alternates) with the work tree `slot-N` addressed explicitly by --git-dir/--work-tree. The
 * work tree holds no `.git`: one written there by test code is removed before git runs and
 * would be ignored anyway, so it cannot point root's git at hooks or a foreign config.
 *
 * Root's git still reads the work tree (attributes, files it compares), and test code of the
 * last cycle wrote all of it: `moveTo` scrubs it first (scrubWorkTree), runs git with no
 * configuration from outside the slot's git dir, and kills git after `gitTimeoutMs`; a slot that
 * cannot be scrubbed or moved is rebuilt into an empty directory, where git reads nothing of
 * the tests'.
 */
export class SlotPool {
  readonly root: string;
  private readonly held = new Set<number>();
  private readonly gitTimeoutMs: number;

  constructor(
    private readonly mirror: Mirror,
    workdir: string,
    o: { gitTimeoutMs?: number } = {},
  ) {
    this.root = path.join(workdir, 'slots', path.basename(mirror.dir, '.git'));
    this.gitTimeoutMs = o.gitTimeoutMs ?? 10 * 60_000;
  }

  async acquire(): Promise<Slot> {
    await mkdir(this.root, { recursive: true });
    const takeLock = slotLockDefence.crossProcess ? tryFileLock : async () => ({ release: async () => {} });
    for (let i = 0; i < 1024; i++) {
      // Claimed before the first await, so two acquires in this process never try one slot.
      if (this.held.has(i)) continue;
      this.held.add(i);
      const lock = await takeLock(this.lockFile(i)).catch((err: Error) => {
        this.held.delete(i);
        throw err;
      });
      if (lock) {
        const dir = path.join(this.root, `slot-${i}`);
        return {
          index: i,
          dir,
          gitDir: `${dir}.git`,
          release: async () => {
            // The lock file's mtime is the slot's last use (the disk cap evicts the least recent).
            await utimes(this.lockFile(i), new Date(), new Date()).catch(() => {});
            await lock.release();
            this.held.delete(i);
          },
        };
      }
      this.held.delete(i);
    }
    throw new Error(`no free slot under ${this.root}`);
  }

  private lockFile(i: number): string {
    return path.join(this.root, `slot-${i}.lock`);
  }

  /**
   * Moves a slot's worktree to `commit`: `checkout -f` then `clean -ffdx` sparing the cache
   * directories. A slot that is missing or broken (its mirror was rebuilt) is made anew.
   */
  async moveTo(slot: Slot, commit: string, cacheDirs: string[]): Promise<void> {
    const at = { cwd: this.root, gitDir: slot.gitDir, workTree: slot.dir, timeoutMs: this.gitTimeoutMs };
    if (existsSync(path.join(slot.gitDir, 'HEAD')) && existsSync(slot.dir)) {
      try {
        // Before any git: `.git*` files, links, FIFOs and setuid files the tests left go (a
        // `.git` at the top is a name git's clean would even skip).
        await scrubWorkTree(slot.dir, cacheDirs);
        await git(['checkout', '--quiet', '--force', '--detach', commit], at);
        await git(['clean', '-ffdxq', ...cacheDirs.flatMap((d) => ['-e', d])], at);
        return;
      } catch (err) {
        if (/No space left|ENOSPC/i.test((err as Error).message)) throw diskFull(this.root, err);
        // fall through: rebuild the slot
      }
    }
    try {
      await forgetSetup(slot.dir); // what setup installed goes with the tree
      await removeTree(slot.dir); // any depth: test code may have nested directories past PATH_MAX
      await rm(slot.gitDir, { recursive: true, force: true });
      await mkdir(slot.dir, { recursive: true });
      await git(['init', '--quiet'], at);
      // The mirror's objects, read in place: commits built there later are seen at once.
      await writeFile(
        path.join(slot.gitDir, 'objects', 'info', 'alternates'),
        path.join(this.mirror.dir, 'objects') + '\n',
      );
      await rm(path.join(slot.gitDir, 'hooks'), { recursive: true, force: true });
      await git(['checkout', '--quiet', '--force', '--detach', commit], at);
    } catch (err) {
      if (/No space left|ENOSPC/i.test(String((err as Error).message))) throw diskFull(this.root, err);
      throw err;
    }
  }
}

/** A slot on disk under a pool's root, and its last use (its lock file's mtime, ms). */
export interface SlotOnDisk {
  root: string;
  index: number;
  lastUse: number;
}

/** The slots under a pool's root (`slots/<mirror>/slot-N`), whether or not any process holds one. */
export async function slotsOnDisk(root: string): Promise<SlotOnDisk[]> {
  const names = await readdir(root).catch(() => [] as string[]);
  const out: SlotOnDisk[] = [];
  for (const n of names) {
    const m = /^slot-(\d+)$/.exec(n);
    if (!m) continue;
    const lock = await stat(path.join(root, `${n}.lock`)).catch(() => null);
    const dir = await stat(path.join(root, n)).catch(() => null);
    out.push({ root, index: Number(m[1]), lastUse: Math.max(lock?.mtimeMs ?? 0, dir?.mtimeMs ?? 0) });
  }
  return out;
}

/**
 * Removes slot `index` under `root` (work tree, git dir, setup marker, uid note) if no process
 * holds it: its flock is taken without waiting, so a slot in use is never touched (false). The
 * lock file stays (see tryFileLock: a lock file is never unlinked). The next acquire of this
 * index rebuilds it from the mirror, as after any broken slot.
 */
export async function evictIdleSlot(root: string, index: number): Promise<boolean> {
  const dir = path.join(root, `slot-${index}`);
  const lock = await tryFileLock(`${dir}.lock`);
  if (!lock) return false;
  try {
    await forgetSetup(dir);
    await removeTree(dir);
    await rm(`${dir}.git`, { recursive: true, force: true });
    await rm(`${dir}.uid`, { force: true });
    return true;
  } finally {
    await lock.release();
  }
}

function diskFull(dir: string, cause: unknown): InfraError {
  return new InfraError(
    `disk full under ${dir} (No space left on device) while moving a slot worktree: free space, or keep fewer tests.cacheDirs`,
    { cause },
  );
}

/**
 * Gives a directory tree to the test user, so tests can write in their worktree. When the tree
 * already belongs to that user, only what root wrote since (the checkout's files) changes owner:
 * chown updates a file's ctime even to the same owner, and a changed ctime makes git re-read
 * the file on the next checkout (measured: 2,000 files, test stage 595 ms instead of 88 ms).
 * Ctime stays trusted, so a tracked file rewritten by test code is always noticed and restored.
 */
export async function handTo(dir: string, user: { uid: number; gid: number }, alreadyOwned: boolean): Promise<void> {
  const { execa } = await import('execa'); // loaded at the first command, not at start
  try {
    await execa('chown', [
      '-R',
      ...(sandboxDefences.chownFollowsNoLink ? [] : ['-L']),
      ...(alreadyOwned ? ['--from=0:0'] : []),
      `${user.uid}:${user.gid}`,
      dir,
    ]);
  } catch (err) {
    // The machine's fault (read-only or full file system, no CAP_CHOWN), never the change's.
    const why = String((err as { stderr?: string }).stderr ?? (err as Error).message)
      .trim()
      .split('\n')[0];
    throw new InfraError(`handing ${dir} to the test uid ${user.uid} failed (chown): ${why}`, { cause: err });
  }
}

/** The uid a slot's files were last handed to (kept beside the slot, outside the worktree). */
export async function lastSlotUid(slot: Slot): Promise<number | undefined> {
  const n = Number(await readFile(`${slot.dir}.uid`, 'utf8').catch(() => ''));
  return n > 0 ? n : undefined;
}

export async function rememberSlotUid(slot: Slot, uid: number): Promise<void> {
  await writeFile(`${slot.dir}.uid`, String(uid));
}
