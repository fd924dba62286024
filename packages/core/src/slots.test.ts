import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mirror } from './mirror.ts';
import { SlotPool } from './slots.ts';
import { DEMO_REPO } from '@prbot/test-support';
import { makeUpstream } from '@prbot/test-support';

let dir: string;
let mirror: Mirror;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-slots-'));
  const { bare } = await makeUpstream(DEMO_REPO, path.join(dir, 'repo'));
  mirror = new Mirror(path.join(dir, 'work'), bare);
  await mirror.sync();
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('SlotPool', () => {
  it('never hands one slot to two concurrent acquires, in one process or two pools', async () => {
    const a = new SlotPool(mirror, path.join(dir, 'work'));
    const b = new SlotPool(mirror, path.join(dir, 'work'));
    const slots = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).acquire()));
    expect(new Set(slots.map((s) => s.index)).size).toBe(16);
    await Promise.all(slots.map((s) => s.release()));
  });

  it('takes over a lock whose process is gone, keeps one whose process lives', async () => {
    const pool = new SlotPool(mirror, path.join(dir, 'work2'));
    const first = await pool.acquire();
    await first.release();
    await writeFile(path.join(pool.root, 'slot-0.lock'), '999999'); // no such pid
    await writeFile(path.join(pool.root, 'slot-1.lock'), String(process.ppid)); // alive
    const [x, y] = await Promise.all([pool.acquire(), pool.acquire()]);
    expect([x.index, y.index].sort()).toEqual([0, 2]);
    expect(await readFile(path.join(pool.root, 'slot-0.lock'), 'utf8')).toBe(String(process.pid));
  });

  it('does not steal a lock caught while it is being created (still empty)', async () => {
    const pool = new SlotPool(mirror, path.join(dir, 'work4'));
    const { mkdir } = await import('node:fs/promises');
    await mkdir(pool.root, { recursive: true });
    await writeFile(path.join(pool.root, 'slot-0.lock'), '');
    const s = await pool.acquire();
    expect(s.index).toBe(1);
  });

  it('restores a tracked file that test code rewrote with the same size and mtime', async () => {
    const pool = new SlotPool(mirror, path.join(dir, 'work5'));
    const slot = await pool.acquire();
    const head = await mirror.resolve('main');
    await pool.moveTo(slot, head, []);
    const file = path.join(slot.dir, 'src', 'strings.js');
    const { stat, utimes } = await import('node:fs/promises');
    const before = await readFile(file, 'utf8');
    const st = await stat(file);
    await new Promise((r) => setTimeout(r, 1100)); // ctime moves to a new second
    await writeFile(file, before.replace('capitalize', 'CAPITALIZE'));
    await utimes(file, st.atime, st.mtime);
    await pool.moveTo(slot, head, []);
    expect(await readFile(file, 'utf8')).toBe(before);
  });

  it('moves a kept worktree between commits and keeps cache directories', async () => {
    const pool = new SlotPool(mirror, path.join(dir, 'work3'));
    const slot = await pool.acquire();
    const head = await mirror.resolve('main');
    await pool.moveTo(slot, head, ['node_modules']);
    await writeFile(path.join(slot.dir, 'stray.txt'), 'x');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(path.join(slot.dir, 'node_modules'), { recursive: true });
    await writeFile(path.join(slot.dir, 'node_modules', 'cached.txt'), 'warm');
    await writeFile(path.join(slot.dir, 'README.md'), 'edited');
    await pool.moveTo(slot, head, ['node_modules']);
    const { existsSync } = await import('node:fs');
    expect(existsSync(path.join(slot.dir, 'stray.txt'))).toBe(false);
    expect(await readFile(path.join(slot.dir, 'node_modules', 'cached.txt'), 'utf8')).toBe('warm');
    expect(await readFile(path.join(slot.dir, 'README.md'), 'utf8')).not.toBe('edited');
  });
});
