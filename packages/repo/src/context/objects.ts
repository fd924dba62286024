import { GitError } from '@prbot/core';

/** One file of a commit's tree: `git ls-tree -r -l` with the size in bytes. */
export interface TreeFile {
  path: string;
  mode: string;
  oid: string;
  size: number;
}

// The same isolation every prbot git process has: no prompts, no system config, C locale.
const ENV = { GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C' };

async function gitBuffer(dir: string, args: string[], input?: Buffer, okCodes: number[] = []): Promise<Buffer> {
  const { execa } = await import('execa'); // loaded at the first command, not at start
  const r = await execa('git', args, {
    cwd: dir,
    input,
    env: ENV,
    reject: false,
    encoding: 'buffer',
    stripFinalNewline: false,
    maxBuffer: 512 * 1024 * 1024,
  });
  const code = r.exitCode ?? -1;
  if (code !== 0 && !okCodes.includes(code))
    throw new GitError(args, Buffer.from(r.stderr ?? '').toString('utf8'), r.exitCode);
  return Buffer.from(r.stdout ?? '');
}

/** Every blob of a commit (files and symlinks; submodules left out), in one git process. */
export async function listTree(dir: string, commit: string): Promise<TreeFile[]> {
  const out = await gitBuffer(dir, ['ls-tree', '-r', '-l', '-z', '--full-tree', commit]);
  const files: TreeFile[] = [];
  for (const rec of out.toString('utf8').split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const [mode, type, oid, size] = rec.slice(0, tab).split(/\s+/) as [string, string, string, string];
    if (type !== 'blob') continue;
    files.push({ path: rec.slice(tab + 1), mode, oid, size: Number(size) || 0 });
  }
  return files;
}

/**
 * The contents of many blobs in one `git cat-file --batch` process (a process per file costs
 * ~2 ms each: 2,000 files would be seconds). Objects git does not have are absent from the map.
 */
export async function readBlobs(dir: string, oids: readonly string[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const unique = [...new Set(oids)];
  if (unique.length === 0) return out;
  const buf = await gitBuffer(dir, ['cat-file', '--batch'], Buffer.from(unique.join('\n') + '\n'));
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos);
    if (nl === -1) break;
    const header = buf.subarray(pos, nl).toString('utf8');
    pos = nl + 1;
    const [oid, type, size] = header.split(' ') as [string, string, string | undefined];
    if (type === 'missing' || size === undefined) continue;
    const n = Number(size);
    if (type === 'blob') out.set(oid, buf.subarray(pos, pos + n));
    pos += n + 1; // content, then a newline
  }
  return out;
}

/** Text of a blob, or null for binary content (a NUL in the first 8 KB, as git itself decides). */
export function blobText(b: Buffer | undefined): string | null {
  if (!b) return null;
  if (b.subarray(0, 8000).includes(0)) return null;
  return b.toString('utf8');
}
