import { createHash } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '@prbot/config';
import { git } from '@prbot/repo';

type TestsConfig = Config['tests'];

/**
 * What decides a setup's result when tests.setupInputs is unset: the manifests and lockfiles of
 * the ecosystems prbot knows, at any depth (workspaces have one per package). Only tracked files
 * count, so an installed node_modules/…/package.json never does.
 */
export const DEFAULT_SETUP_INPUTS = [
  '**/package.json',
  '**/package-lock.json',
  '**/npm-shrinkwrap.json',
  '**/pnpm-lock.yaml',
  '**/pnpm-workspace.yaml',
  '**/yarn.lock',
  '**/.npmrc',
  '**/.yarnrc.yml',
  '**/pyproject.toml',
  '**/requirements*.txt',
  '**/setup.cfg',
  '**/setup.py',
  '**/poetry.lock',
  '**/uv.lock',
  '**/go.mod',
  '**/go.sum',
  '**/Cargo.toml',
  '**/Cargo.lock',
];

/** A glob as a RegExp over a slash-separated path: `**` spans directories, `*` and `?` stay within a name. */
export function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      re += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * The key of a slot's setup at `commit`: the blob ids of the tracked files matching the inputs
 * (git hashed their contents already; one ls-tree, no file read), the setup commands and every
 * setting that changes what setup produces. Anything else in the change leaves it equal.
 */
export async function setupInputsKey(
  gitDir: string,
  commit: string,
  t: TestsConfig,
  extra: Record<string, unknown> = {},
): Promise<{ key: string; inputs: string[] }> {
  const globs = (t.setupInputs ?? DEFAULT_SETUP_INPUTS).map(globRegExp);
  const out = await git(['ls-tree', '-r', '-z', '--full-tree', commit], { cwd: path.dirname(gitDir), gitDir });
  const files: [string, string][] = [];
  for (const rec of out.stdout.split('\0')) {
    const tab = rec.indexOf('\t');
    if (tab < 0) continue;
    const [, type, oid] = rec.slice(0, tab).split(/\s+/) as [string, string, string];
    const file = rec.slice(tab + 1);
    if (type === 'blob' && globs.some((g) => g.test(file))) files.push([file, oid]);
  }
  files.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const what = { v: 1, setup: t.setup, env: t.env, network: t.network, files, ...extra };
  return { key: createHash('sha256').update(JSON.stringify(what)).digest('hex'), inputs: files.map(([f]) => f) };
}

interface SetupMarker {
  key: string;
  /** The cache directories setup left at the top of the work tree: the result a skip relies on. */
  dirs: string[];
  /** Their contents as setup left them (`treeFingerprint`); null when they were too large to hash. */
  contents: string | null;
}

function parseMarker(raw: string): SetupMarker | null {
  try {
    const m = JSON.parse(raw) as Partial<SetupMarker>;
    if (typeof m.key !== 'string' || !Array.isArray(m.dirs) || !m.dirs.every((d) => typeof d === 'string')) return null;
    if (typeof m.contents !== 'string') return null;
    return { key: m.key, dirs: m.dirs, contents: m.contents };
  } catch {
    return null;
  }
}

/** Past this many bytes the cache dirs are not hashed, and setup is never skipped for them. */
const FINGERPRINT_MAX_BYTES = 2 * 1024 ** 3;

/**
 * A hash of what the directories hold: every name, its kind, each file's bytes and each link's
 * target, in a fixed order, never following a link nor opening anything but a regular file.
 * Test code runs after setup and may write into node_modules (a planted module the next cycle's
 * tests would load); a skip needs the directories byte for byte as setup left them. Modes and
 * owners are left out: the scrub and the hand-over to the next run's uid change those. Null when
 * the tree cannot be read whole (too deep, too large, gone).
 */
async function treeFingerprint(root: string, dirs: string[]): Promise<string | null> {
  const h = createHash('sha256');
  let bytes = 0;
  const stack = [...dirs].sort().reverse();
  try {
    while (stack.length) {
      const rel = stack.pop()!;
      const abs = path.join(root, rel);
      const entries = (await readdir(abs, { withFileTypes: true })).sort((a, b) =>
        a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
      );
      h.update(`d\0${rel}\0`);
      const subdirs: string[] = [];
      for (const e of entries) {
        const child = `${rel}/${e.name}`;
        if (e.isDirectory()) subdirs.push(child);
        else if (e.isFile()) {
          const content = await readFile(path.join(abs, e.name));
          bytes += content.length;
          if (bytes > FINGERPRINT_MAX_BYTES) return null;
          h.update(`f\0${child}\0${content.length}\0`).update(content);
        } else if (e.isSymbolicLink()) h.update(`l\0${child}\0${await readlink(path.join(abs, e.name))}\0`);
        else h.update(`o\0${child}\0`); // a FIFO, socket or device: named, never opened
      }
      stack.push(...subdirs.reverse());
    }
  } catch {
    return null;
  }
  return h.digest('hex');
}
/**
 * The marker of a slot's last successful setup. It sits beside the slot (`slot-N.setup`), in a
 * directory of root's that no sandbox shows and no test uid may write: test code can neither
 * forge it nor see it. A file of that name inside the work tree is just a file.
 */
function markerFile(slotDir: string): string {
  return `${slotDir}.setup`;
}

/**
 * Whether the slot's last successful setup had this key and its result is still there, as it
 * was: every cache directory it left is still a real directory (a slot rebuilt from nothing has
 * none) and holds what setup left in it (tests that wrote into node_modules undo the skip).
 */
export async function setupStillValid(slotDir: string, key: string): Promise<boolean> {
  const raw = await readFile(markerFile(slotDir), 'utf8').catch(() => null);
  if (raw === null) return false;
  const m = parseMarker(raw);
  if (!m || m.key !== key) return false;
  const present = m.dirs.every((d) => {
    try {
      return lstatSync(path.join(slotDir, d)).isDirectory();
    } catch {
      return false;
    }
  });
  return present && setupDefence.contentsChecked ? (await treeFingerprint(slotDir, m.dirs)) === m.contents : present;
}

/**
 * Test-only switch for the positive control: with `contentsChecked` off, a skip looks only at
 * whether the directories exist (what it did first). Set only by tests, in their own process.
 */
export const setupDefence = { contentsChecked: true };

/** Forgets the slot's setup: before setup runs (a failed one leaves no marker) and when the slot is rebuilt. */
export async function forgetSetup(slotDir: string): Promise<void> {
  await rm(markerFile(slotDir), { force: true });
}

/**
 * Records a setup that succeeded, with the top-level cache directories it left and their
 * contents. Called after the last setup command, before any test command runs. No marker when
 * the contents cannot be hashed: such a slot runs setup every time.
 */
export async function rememberSetup(slotDir: string, key: string, cacheDirs: string[]): Promise<void> {
  const dirs = cacheDirs
    .filter((d) => !d.includes('/'))
    .filter((d) => {
      try {
        return lstatSync(path.join(slotDir, d)).isDirectory();
      } catch {
        return false;
      }
    });
  const contents = await treeFingerprint(slotDir, dirs);
  if (contents === null) return;
  const marker: SetupMarker = { key, dirs, contents };
  await writeFile(markerFile(slotDir), JSON.stringify(marker), { mode: 0o600 });
}
