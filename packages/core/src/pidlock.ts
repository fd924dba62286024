import { randomBytes } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';

/**
 * A lock file holding its owner's pid, created with its content in one step (a temp file linked
 * into place; link() fails when the lock exists), so no reader ever sees an empty lock. A lock
 * whose process is gone is taken over; when two takers race, link() lets exactly one win.
 * The pid only means something on this machine: never share lock directories between hosts.
 */
export async function tryPidLock(file: string): Promise<boolean> {
  if (await linkLock(file)) return true;
  const pid = Number(await readFile(file, 'utf8').catch(() => ''));
  if (!(pid > 0) || isAlive(pid)) return false;
  await unlink(file).catch(() => {});
  return linkLock(file);
}

export async function releasePidLock(file: string): Promise<void> {
  await unlink(file).catch(() => {});
}

async function linkLock(file: string): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, String(process.pid));
  try {
    await link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
