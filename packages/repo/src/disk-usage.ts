import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Bytes on disk (allocated blocks) under `paths`, as `du -s -B1` counts them: a file linked
 * twice counts once, missing paths count 0. du (coreutils, in C) rather than a walk in Node:
 * a slot's node_modules is tens of thousands of files. A file that vanishes under du (a slot
 * being rebuilt) makes it exit 1 with the rest counted; that count is used.
 */
export async function diskUsage(paths: string[]): Promise<number> {
  const present = paths.filter((p) => existsSync(p));
  if (present.length === 0) return 0;
  const { stdout, error } = await new Promise<{ stdout: string; error: Error | null }>((resolve) =>
    execFile(
      'du',
      ['-s', '-B1', '--', ...present],
      { env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' }, maxBuffer: 4 * 1024 * 1024 },
      (err, out) => resolve({ stdout: String(out), error: err }),
    ),
  );
  const sizes = stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => Number(l.split('\t')[0]));
  if (sizes.length === 0 || sizes.some((n) => !Number.isFinite(n)))
    throw new Error(`du -s -B1 ${present.join(' ')} failed: ${error?.message ?? 'no output'}`);
  return sizes.reduce((a, b) => a + b, 0);
}
