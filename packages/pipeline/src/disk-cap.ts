import { mkdir, readdir, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { type Logger, TransientError } from '@prbot/core';
import { diskUsage } from '@prbot/repo';
import { evictIdleSlot, sharedFileLock, slotsOnDisk, tryFileLock } from '@prbot/sandbox';

/**
 * The disk cap's eviction, switchable for one purpose: the positive control of
 * apps/worker/test/e2e/disk-cap.test.ts turns it off in its own process to show the work
 * directory then grows past the cap. No variable or config field reaches it.
 */
export const diskCapDefence = { evict: true };

/** How long a stage job waits for an eviction of its repository to finish before giving up (transient). */
const USE_WAIT_SECONDS = 600;

/**
 * One repository's part of the work directory: its mirror(s) and slots, and the lock every user
 * of them holds shared (`in-use.lock`, whose mtime is the repository's last use). The legacy
 * repository's part is the work directory's own `mirrors/` and `slots/`; any other's is under
 * `repos/<name>/`.
 */
export interface RepoArea {
  root: string;
  mirrors: string;
  slots: string;
  useLock: string;
}

export function repoArea(root: string): RepoArea {
  return {
    root,
    mirrors: path.join(root, 'mirrors'),
    slots: path.join(root, 'slots'),
    useLock: path.join(root, 'in-use.lock'),
  };
}

/** Something the cap may remove: one slot, or a repository's mirror (with every slot of it). */
type EvictionCandidate =
  | { kind: 'slot'; area: RepoArea; root: string; index: number; lastUse: number }
  | { kind: 'mirror'; area: RepoArea; lastUse: number };

/**
 * Tries candidates least recently used first while `over()` says the total is above the cap;
 * `tryEvict` answers false for one in use (it takes the candidate's lock without waiting), which
 * is then left alone. Returns those evicted, in order.
 */
export async function evictLeastRecent<C extends { lastUse: number }>(
  candidates: readonly C[],
  over: () => boolean | Promise<boolean>,
  tryEvict: (c: C) => Promise<boolean>,
): Promise<C[]> {
  const evicted: C[] = [];
  for (const c of [...candidates].sort((a, b) => a.lastUse - b.lastUse)) {
    if (!(await over())) break;
    if (await tryEvict(c)) evicted.push(c);
  }
  return evicted;
}

/**
 * `workdir.maxBytes`: the bytes on disk of every repository's mirrors and slots under one work
 * directory, kept under the cap by evicting least recently used idle slots and mirrors. One per
 * process, shared by its repositories' views; several processes on one machine agree through
 * the disk itself: last use is a lock file's mtime, "in use" a flock (a slot's own, held while a
 * cycle has it; a repository's `in-use.lock`, held shared by every stage job of it), so nothing
 * in use is ever removed. When everything over the cap is in use the total stays over and a
 * warning names the numbers; no cycle fails for the cap. An evicted mirror is cloned again by the
 * next stage that needs it (a stage rebuilds its commit from the job's payload).
 *
 * Sizes are `du` of each repository's area, cached and measured again only when that area was
 * used since (a lock's mtime newer than the measure) or is in use by this process: another
 * process's cycle in flight is counted as of its start until it ends, and it enforces at its end.
 */
export class DiskCap {
  /** Slots and mirrors this process evicted (tests, logs). */
  evictions = 0;
  private readonly sizes = new Map<string, { bytes: number; measuredAt: number }>();
  private readonly usedHere = new Map<string, number>();
  private running: Promise<number> | null = null;

  constructor(
    readonly workdir: string,
    readonly maxBytes: number | undefined,
    private readonly log: Logger,
  ) {}

  /**
   * Runs `fn` (a stage job, a produce run) with the repository's area marked in use: no process
   * evicts its mirror meanwhile. Without a cap nothing is evicted, so nothing is locked.
   * `housekeeping` (the mirror sweep, which visits every repository every 10 minutes): locked
   * but not a use, so an idle repository still ages towards eviction.
   */
  async inUse<T>(area: RepoArea, fn: () => Promise<T>, o: { housekeeping?: boolean } = {}): Promise<T> {
    if (this.maxBytes === undefined) return fn();
    await mkdir(area.root, { recursive: true });
    const lock = await sharedFileLock(area.useLock, USE_WAIT_SECONDS);
    if (!lock)
      throw new TransientError(
        `${area.useLock} stayed locked for ${USE_WAIT_SECONDS} s (an eviction of this repository's mirror never ended)`,
      );
    this.usedHere.set(area.root, (this.usedHere.get(area.root) ?? 0) + 1);
    if (!o.housekeeping) await touch(area.useLock);
    try {
      return await fn();
    } finally {
      if (!o.housekeeping) await touch(area.useLock);
      const n = (this.usedHere.get(area.root) ?? 1) - 1;
      if (n > 0) this.usedHere.set(area.root, n);
      else this.usedHere.delete(area.root);
      await lock.release();
    }
  }

  /**
   * Brings the total under the cap if it is over (before a cycle takes a slot and after it gives
   * it back). One run at a time per process; returns the total after it.
   */
  enforce(): Promise<number> {
    // (-1: the check failed and was logged.)
    if (this.maxBytes === undefined) return Promise.resolve(0);
    // Housekeeping: a failed measure or removal is logged, never a cycle's failure.
    this.running ??= this.evictOverCap(this.maxBytes)
      .catch((err: Error) => {
        this.log.warn({ err: err.message }, 'disk cap: the check failed; the next cycle tries again');
        return -1;
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  /** Every repository area under the work directory, whichever process or config made it. */
  async areas(): Promise<RepoArea[]> {
    const out: RepoArea[] = [];
    const top = repoArea(this.workdir);
    if ((await exists(top.mirrors)) || (await exists(top.slots))) out.push(top);
    const reposDir = path.join(this.workdir, 'repos');
    for (const e of await readdir(reposDir, { withFileTypes: true }).catch(() => []))
      if (e.isDirectory()) out.push(repoArea(path.join(reposDir, e.name)));
    return out;
  }

  /** The bytes on disk of every area's mirrors and slots, re-measuring only areas used since their last measure. */
  async total(): Promise<number> {
    let sum = 0;
    for (const a of await this.areas()) sum += await this.areaBytes(a);
    return sum;
  }

  private async areaBytes(a: RepoArea): Promise<number> {
    const cached = this.sizes.get(a.root);
    // A second of slack: a touch and a measure in the same tick must not leave a stale size.
    if (cached && !this.usedHere.has(a.root) && (await lastUse(a)) < cached.measuredAt - 1000) return cached.bytes;
    const measuredAt = Date.now();
    const bytes = await diskUsage([a.mirrors, a.slots]);
    this.sizes.set(a.root, { bytes, measuredAt });
    return bytes;
  }

  private async evictOverCap(cap: number): Promise<number> {
    let total = await this.total();
    if (total <= cap) return total;
    if (!diskCapDefence.evict) {
      this.log.warn({ totalBytes: total, maxBytes: cap }, 'work directory over its cap; eviction is switched off');
      return total;
    }
    const candidates: EvictionCandidate[] = [];
    for (const area of await this.areas()) {
      for (const s of await slotsOf(area))
        if (
          (await exists(path.join(s.root, `slot-${s.index}`))) ||
          (await exists(path.join(s.root, `slot-${s.index}.git`)))
        )
          candidates.push({ kind: 'slot', area, ...s });
      if (await exists(area.mirrors))
        candidates.push({
          kind: 'mirror',
          area,
          lastUse: Math.max(await mtime(area.useLock), await mtime(area.mirrors)),
        });
    }
    await evictLeastRecent(
      candidates,
      () => total > cap,
      async (c) => {
        const done = c.kind === 'slot' ? await evictIdleSlot(c.root, c.index) : await this.evictMirror(c.area);
        if (!done) return false;
        this.evictions++;
        const before = total;
        this.sizes.delete(c.area.root);
        total = await this.total();
        this.log.info(
          {
            evicted: c.kind === 'slot' ? path.join(c.root, `slot-${c.index}`) : c.area.mirrors,
            freedBytes: before - total,
            totalBytes: total,
            maxBytes: cap,
          },
          `disk cap: evicted the least recently used idle ${c.kind}`,
        );
        return true;
      },
    );
    if (total > cap)
      this.log.warn(
        { totalBytes: total, maxBytes: cap, overBytes: total - cap },
        'work directory over its cap: what is left is in use (cycles go on; the next cycle end evicts again)',
      );
    return total;
  }

  /**
   * A repository's mirror and all its slots, only when no process uses the repository (its
   * in-use lock taken exclusively without waiting) and no slot of it is held.
   */
  private async evictMirror(area: RepoArea): Promise<boolean> {
    await mkdir(area.root, { recursive: true });
    const lock = await tryFileLock(area.useLock);
    if (!lock) return false;
    try {
      // Slots borrow the mirror's objects (alternates): without it they are only rebuilt.
      for (const s of await slotsOf(area)) if (!(await evictIdleSlot(s.root, s.index))) return false;
      await rm(area.mirrors, { recursive: true, force: true });
      return true;
    } finally {
      await lock.release();
    }
  }
}

/** The slots of every pool (one per mirror url the repository had) under an area's `slots/`. */
async function slotsOf(area: RepoArea) {
  const pools = await readdir(area.slots, { withFileTypes: true }).catch(() => []);
  const out = [];
  for (const p of pools) if (p.isDirectory()) out.push(...(await slotsOnDisk(path.join(area.slots, p.name))));
  return out;
}

/** An area's last use: its in-use lock's mtime or any slot's, whichever is latest. */
async function lastUse(a: RepoArea): Promise<number> {
  let t = await mtime(a.useLock);
  for (const s of await slotsOf(a)) t = Math.max(t, s.lastUse);
  return t;
}

async function mtime(p: string): Promise<number> {
  return (await stat(p).catch(() => null))?.mtimeMs ?? 0;
}

async function exists(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null)) !== null;
}

async function touch(file: string): Promise<void> {
  const now = new Date();
  await utimes(file, now, now).catch(() => {});
}
