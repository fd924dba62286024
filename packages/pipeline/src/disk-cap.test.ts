import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@prbot/core';
import { diskUsage } from '@prbot/repo';
import { tryFileLock } from '@prbot/sandbox';
import { DiskCap, evictLeastRecent, repoArea } from './disk-cap.ts';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('evictLeastRecent: the LRU choice', () => {
  it('tries the least recently used first, skips what is held, stops once under the cap', async () => {
    const c = [
      { id: 'c', lastUse: 30, bytes: 10 },
      { id: 'a', lastUse: 10, bytes: 10 },
      { id: 'd', lastUse: 40, bytes: 10 },
      { id: 'b', lastUse: 20, bytes: 10 },
      { id: 'e', lastUse: 50, bytes: 10 },
    ];
    const held = new Set(['a', 'c']);
    let total = 50;
    const tried: string[] = [];
    const evicted = await evictLeastRecent(
      c,
      () => total > 25,
      async (x) => {
        tried.push(x.id);
        if (held.has(x.id)) return false;
        total -= x.bytes;
        return true;
      },
    );
    // a (held) is skipped, b goes, c (held) is skipped, d goes: 30 → still over; e goes: 20.
    expect(tried).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(evicted.map((x) => x.id)).toEqual(['b', 'd', 'e']);
    expect(total).toBe(20);
  });

  it('evicts nothing when under the cap, and nothing held even when everything is over it', async () => {
    const c = [
      { id: 'a', lastUse: 1 },
      { id: 'b', lastUse: 2 },
    ];
    expect(
      await evictLeastRecent(
        c,
        () => false,
        async () => true,
      ),
    ).toEqual([]);
    expect(
      await evictLeastRecent(
        c,
        () => true,
        async () => false,
      ),
    ).toEqual([]);
  });
});

/** A file of `kb` KiB of incompressible-enough bytes (allocated blocks, as du counts). */
async function blob(file: string, kb: number): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, Buffer.alloc(kb * 1024, 7));
}

/** A repository area with a 200 KiB mirror and `slots` slots of 100 KiB, last used at `at` (s). */
async function area(workdir: string, name: string, at: number, slots: number) {
  const a = repoArea(path.join(workdir, 'repos', name));
  await blob(path.join(a.mirrors, 'm.git', 'objects', 'pack'), 200);
  await writeFile(a.useLock, '');
  await utimes(a.useLock, at, at);
  await utimes(path.join(a.mirrors), at, at);
  for (let i = 0; i < slots; i++) {
    const root = path.join(a.slots, 'm');
    await blob(path.join(root, `slot-${i}`, 'file'), 100);
    await mkdir(path.join(root, `slot-${i}.git`), { recursive: true });
    await writeFile(path.join(root, `slot-${i}.lock`), '');
    await utimes(path.join(root, `slot-${i}.lock`), at + i, at + i);
    await utimes(path.join(root, `slot-${i}`), at + i, at + i);
  }
  return a;
}

describe('DiskCap on real files and locks', () => {
  it('evicts the least recently used idle slots and mirrors; a held slot and a repository in use stay', async () => {
    const workdir = await mkdtemp(path.join(tmpdir(), 'prbot-diskcap-'));
    dirs.push(workdir);
    const old = await area(workdir, 'old', 1000, 2); // least recent
    const mid = await area(workdir, 'mid', 2000, 1);
    const cur = await area(workdir, 'cur', 3000, 1); // most recent
    const slotOf = (a: typeof old, i: number) => path.join(a.slots, 'm', `slot-${i}`);
    const all = await diskUsage([old.root, mid.root, cur.root].flatMap((r) => [`${r}/mirrors`, `${r}/slots`]));
    // Held: old's slot 0 (a cycle has it) — the least recent thing of all.
    const held = (await tryFileLock(`${slotOf(old, 0)}.lock`))!;
    // Room for all but 250 KiB: three idle slots (~108 KiB each with their dirs) must go.
    const max = all - 250 * 1024;
    const cap = new DiskCap(workdir, max, createLogger('silent'));
    try {
      // mid is in use (a stage job of it runs) while the cap is enforced.
      const total = await cap.inUse(mid, () => cap.enforce());
      expect(total).toBeLessThanOrEqual(max);
      expect(total).toBe(
        await diskUsage([old.root, mid.root, cur.root].flatMap((r) => [`${r}/mirrors`, `${r}/slots`])),
      );
      // Never evicted: the held slot, old's mirror (its slot is held), mid's mirror (in use).
      expect(existsSync(slotOf(old, 0))).toBe(true);
      expect(existsSync(old.mirrors)).toBe(true);
      expect(existsSync(mid.mirrors)).toBe(true);
      // Evicted in LRU order, the held and in-use skipped: old's slot 1 (t=1001), mid's slot 0
      // (2000), cur's slot 0 (3000); then under the cap, so cur's mirror (3000, tried after its
      // slot) stays.
      expect(existsSync(slotOf(old, 1))).toBe(false);
      expect(existsSync(slotOf(mid, 0))).toBe(false);
      expect(existsSync(slotOf(cur, 0))).toBe(false);
      expect(existsSync(cur.mirrors)).toBe(true);
      expect(cap.evictions).toBe(3);
      // The lock files stay (a lock file is never unlinked).
      expect(existsSync(`${slotOf(old, 1)}.lock`)).toBe(true);
    } finally {
      await held.release();
    }
  });

  it('when everything is in use the total stays over the cap and nothing is removed', async () => {
    const workdir = await mkdtemp(path.join(tmpdir(), 'prbot-diskcap-'));
    dirs.push(workdir);
    const a = await area(workdir, 'a', 1000, 1);
    const lock = (await tryFileLock(path.join(a.slots, 'm', 'slot-0.lock')))!;
    const cap = new DiskCap(workdir, 1024, createLogger('silent'));
    try {
      const total = await cap.inUse(a, () => cap.enforce());
      expect(total).toBeGreaterThan(1024);
      expect(cap.evictions).toBe(0);
      expect(existsSync(path.join(a.slots, 'm', 'slot-0', 'file'))).toBe(true);
      expect(existsSync(path.join(a.mirrors, 'm.git'))).toBe(true);
    } finally {
      await lock.release();
    }
  });

  it('a stage job marks its repository used (in-use.lock mtime); the mirror sweep holds it without making it recent', async () => {
    const workdir = await mkdtemp(path.join(tmpdir(), 'prbot-diskcap-'));
    dirs.push(workdir);
    const a = await area(workdir, 'a', 1000, 0);
    const cap = new DiskCap(workdir, 1 << 30, createLogger('silent'));
    const mtime = async () => (await stat(a.useLock)).mtimeMs;
    await cap.inUse(a, async () => {}, { housekeeping: true });
    expect(await mtime()).toBe(1000 * 1000);
    await cap.inUse(a, async () => {});
    expect(await mtime()).toBeGreaterThan(Date.now() - 60_000);
  });
});
