import { chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InfraError } from '@prbot/core';
import { tryFileLock, type FileLock } from './pidlock.ts';

/** Where the sandbox shows the machine's package cache; fixed, so paths recorded in it never change. */
export const SANDBOX_CACHE = '/prbot/cache';

/**
 * The read-only mount of the package cache into test commands, switchable for one purpose: the
 * positive control of test/sandbox/package-cache.test.ts turns it off in its own process to show
 * that a test command then poisons the cache. No variable, config field or job reaches it.
 */
export const packageCacheDefence = { readOnlyInTests: true };

/** The machine's package cache: one per worker directory, shared by every slot and repository. */
export function packageCacheDir(workdir: string): string {
  return path.join(workdir, 'package-cache');
}

/**
 * The variables that point npm, yarn and pip at the shared cache. npm's logs go to the run's
 * /tmp, not the cache. pnpm reads only npm_config_* names from the environment, and npm warns
 * about each one it does not know (in every command's output): pnpm gets its settings from
 * pnpmRc in the run's fresh $HOME instead.
 */
export function packageCacheEnv(tmp: string): Record<string, string> {
  return {
    npm_config_cache: `${SANDBOX_CACHE}/npm`,
    npm_config_logs_dir: `${tmp}/npm-logs`,
    // Its last check is kept in the cache, read-only to tests: without this npm tried every run.
    npm_config_update_notifier: 'false',
    YARN_CACHE_FOLDER: `${SANDBOX_CACHE}/yarn`,
    PIP_CACHE_DIR: `${SANDBOX_CACHE}/pip`,
  };
}

/**
 * pnpm's global rc (`$XDG_CONFIG_HOME/pnpm/rc`, under the run's $HOME), written into a $HOME
 * made empty for this cycle, so no earlier cycle's tests chose it. pnpm copies out of its store
 * instead of hard-linking: a hard link in node_modules is the store's own inode, which the run's
 * uid owns after the work tree is handed over, so test code could rewrite the store through it
 * past the read-only mount (across two bind mounts link(2) fails with EXDEV anyway, but a store
 * on the work tree's own mount would not).
 */
export async function writePnpmRc(home: string, owner: { uid: number; gid: number } | null): Promise<void> {
  const dirs = [path.join(home, '.config'), path.join(home, '.config', 'pnpm')];
  for (const d of dirs) await mkdir(d, { recursive: true, mode: 0o700 });
  const rc = path.join(dirs[1]!, 'rc');
  await writeFile(rc, `store-dir=${SANDBOX_CACHE}/pnpm-store\npackage-import-method=copy\n`);
  if (owner) for (const f of [...dirs, rc]) await chown(f, owner.uid, owner.gid);
}

/**
 * The cache, held for one slot's setup commands: a machine-wide lock (two setups never write it
 * at once) and the cache given to this run's uid, which may differ from the last setup's (every
 * run has a uid of its own). The chown runs only when the owner changed. Waits for the lock up
 * to `timeoutMs` (the setup's own timeout), then fails as the machine's fault.
 */
export async function holdCacheForSetup(
  dir: string,
  user: { uid: number; gid: number } | null,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<FileLock> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const until = Date.now() + timeoutMs;
  let lock: FileLock | null = null;
  while (!(lock = await tryFileLock(`${dir}.lock`))) {
    if (signal?.aborted) throw new Error('worker is shutting down; the test run was stopped and will be retried');
    if (Date.now() > until)
      throw new InfraError(`the package cache ${dir} stayed locked by another setup for ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    if (user) {
      const ownerFile = `${dir}.uid`;
      const last = await readFile(ownerFile, 'utf8').catch(() => '');
      if (last !== `${user.uid}:${user.gid}`) {
        const { execa } = await import('execa');
        await execa('chown', ['-R', `${user.uid}:${user.gid}`, dir]).catch((err: unknown) => {
          const why = String((err as { stderr?: string }).stderr ?? (err as Error).message).split('\n')[0];
          throw new InfraError(`handing the package cache ${dir} to the setup uid ${user.uid} failed: ${why}`, {
            cause: err,
          });
        });
        await writeFile(ownerFile, `${user.uid}:${user.gid}`);
      }
    }
    return lock;
  } catch (err) {
    await lock.release();
    throw err;
  }
}
