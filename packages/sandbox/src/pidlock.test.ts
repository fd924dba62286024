import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tryFileLock } from './pidlock.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'prbot-pidlock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('tryFileLock (kernel flock, no native addon)', () => {
  it('excludes a second holder in this process until the first releases', async () => {
    const file = path.join(dir, 'a.lock');
    const first = await tryFileLock(file);
    expect(first).not.toBeNull();
    expect(await tryFileLock(file)).toBeNull();
    await first!.release();
    const again = await tryFileLock(file);
    expect(again).not.toBeNull();
    await again!.release();
  });

  it('is the same lock flock(1) takes in another process, and the holder dying releases it', async () => {
    const file = path.join(dir, 'b.lock');
    const mine = await tryFileLock(file);
    // Another process cannot take it while this one holds it...
    const other = await execa('flock', ['--nonblock', file, 'true'], { reject: false });
    expect(other.exitCode).toBe(1);
    await mine!.release();
    // ...and a holder in another process that is killed leaves nothing behind.
    const holder = execa('flock', ['--nonblock', file, 'sh', '-c', 'echo held; exec sleep 30'], { detached: true });
    await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
    expect(await tryFileLock(file)).toBeNull();
    holder.kill('SIGKILL');
    await holder.catch(() => {});
    const after = await tryFileLock(file);
    expect(after).not.toBeNull();
    await after!.release();
  });
});
