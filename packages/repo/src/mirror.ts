import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { diskUsage } from './disk-usage.ts';
import { git } from './git.ts';
import { GitError, TransientError } from '@prbot/core';

export interface TreeEntry {
  mode: string;
  type: 'blob' | 'tree' | 'commit';
  oid: string;
}

const CYCLE_REFS = 'refs/prbot/cycles/';

/**
 * This machine's bare clone of the target repository. Every stage works from it; it is
 * rebuilt from the remote whenever it is missing, so losing it loses nothing.
 */
export interface MirrorOptions {
  /** Deleted cycle refs after which a `git gc --auto` is started in the background. */
  gcAfterDeletions?: number;
  /**
   * gc.auto for that gc: loose objects before it packs. fast-import leaves a bot commit's few
   * objects loose (under fastimport.unpackLimit), so ~5-10 per cycle: 6,700 ≈ a thousand cycles.
   */
  gcAuto?: number;
  /** Told what each clone of this process cost (the first cycle of a repository on a machine, or after an eviction). */
  onClone?: (cost: CloneCost) => void;
}

/** What making the mirror cost: wall time and bytes on disk right after the clone. */
export interface CloneCost {
  ms: number;
  bytes: number;
}

export class Mirror {
  readonly dir: string;
  private syncing: Promise<void> | null = null;
  private gcRunning: Promise<void> | null = null;
  private deletedSinceGc = 0;
  /** gc runs this process started (observable by tests and logs). */
  gcRuns = 0;
  private readonly gcAfterDeletions: number;
  private readonly gcAuto: number;
  private readonly onClone: ((cost: CloneCost) => void) | undefined;
  /** Clones this process made, the last one's cost: a stage compares the count before and after. */
  clones = 0;
  lastClone: CloneCost | null = null;

  constructor(
    workdir: string,
    readonly url: string,
    o: MirrorOptions = {},
  ) {
    const name = createHash('sha256').update(url).digest('hex').slice(0, 12);
    this.dir = path.join(workdir, 'mirrors', `${name}.git`);
    this.gcAfterDeletions = o.gcAfterDeletions ?? 100;
    this.gcAuto = o.gcAuto ?? 6700;
    this.onClone = o.onClone;
  }

  /** Clones or fetches all branches; concurrent callers in one process share one fetch. */
  sync(): Promise<void> {
    // A fetch writes packs and refs as gc rewrites them: never both at once in this process.
    this.syncing ??= (this.gcRunning ?? Promise.resolve())
      .then(() => this.doSync())
      .finally(() => {
        this.syncing = null;
      });
    return this.syncing;
  }

  /** Ids of the cycles whose bot commit has a ref here (`refs/prbot/cycles/<id>`, written by fast-import). */
  async cycleRefs(): Promise<string[]> {
    if (!existsSync(path.join(this.dir, 'HEAD'))) return [];
    const r = await git(['for-each-ref', '--format=%(refname)', CYCLE_REFS], { cwd: this.dir });
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map((ref) => ref.slice(CYCLE_REFS.length));
  }

  /**
   * Deletes the refs of cycles that ended (one `update-ref --stdin`), so their commits become
   * unreachable and a later gc can drop them. Every `gcAfterDeletions` deletions, a
   * `git gc --auto` runs in the background. Only for ended cycles: the test and pr stages
   * rebuild a live cycle's commit from its payload, but would find it here first.
   */
  async deleteCycleRefs(ids: string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const input = ids.map((id) => `delete ${CYCLE_REFS}${id}\n`).join('');
    await git(['update-ref', '--stdin'], { cwd: this.dir, input });
    this.deletedSinceGc += ids.length;
    if (this.deletedSinceGc >= this.gcAfterDeletions) {
      this.deletedSinceGc = 0;
      void this.gc();
    }
    return ids.length;
  }

  /**
   * `git gc --auto` (the clone keeps gc.auto 0 so no git command starts one on its own):
   * single-flight, after any fetch in flight and before the next. Commands that only read or
   * add objects (cat-file, ls-tree, fast-import) may run beside it: gc replaces packs by rename
   * and prunes only objects unreachable for gc.pruneExpire (2 weeks), so a commit a stage just
   * wrote never vanishes under it. Errors are left for the next run: gc is housekeeping.
   */
  gc(): Promise<void> {
    this.gcRunning ??= (this.syncing ?? Promise.resolve())
      .catch(() => {})
      .then(() => {
        this.gcRuns++;
        return git(['-c', `gc.auto=${this.gcAuto}`, 'gc', '--auto', '--quiet'], { cwd: this.dir });
      })
      .then(
        () => {},
        () => {},
      )
      .finally(() => {
        this.gcRunning = null;
      });
    return this.gcRunning;
  }

  /** Resolves when no gc of this process is running (tests, shutdown). */
  async idle(): Promise<void> {
    await this.gcRunning;
  }

  private async doSync(): Promise<void> {
    if (!existsSync(path.join(this.dir, 'HEAD'))) {
      await this.cloneFresh();
      return;
    }
    try {
      await git(['fetch', '--quiet', '--prune', this.url, '+refs/heads/*:refs/heads/*'], {
        cwd: this.dir,
        gitDir: this.dir,
      });
    } catch (err) {
      throw new TransientError(`fetching ${this.url} failed`, { cause: err });
    }
  }

  private async cloneFresh(): Promise<void> {
    // Clone beside the final place and rename, so a crash never leaves a half mirror behind.
    const tmp = `${this.dir}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(path.dirname(this.dir), { recursive: true });
    const started = Date.now();
    try {
      await git(['clone', '--quiet', '--bare', this.url, tmp], { cwd: path.dirname(this.dir) });
      await git(['config', 'gc.auto', '0'], { cwd: tmp, gitDir: tmp }); // objects of live cycles must not vanish
      // Measured before the rename, so no other process's fetch or commit is counted in it.
      const cost = { ms: Date.now() - started, bytes: await diskUsage([tmp]).catch(() => 0) };
      this.clones++;
      this.lastClone = cost;
      this.onClone?.(cost);
      await rename(tmp, this.dir).catch(async (err: NodeJS.ErrnoException) => {
        if (!existsSync(path.join(this.dir, 'HEAD'))) throw err; // another process won the race
        await rm(tmp, { recursive: true, force: true });
      });
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      if (err instanceof GitError)
        throw new TransientError(`cloning ${this.url} failed: ${err.stderr.trim()}`, { cause: err });
      throw err;
    }
  }

  /** The commit a branch points at in the mirror. */
  async resolve(branch: string): Promise<string> {
    const r = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`], {
      cwd: this.dir,
      gitDir: this.dir,
      okCodes: [1],
    });
    const sha = r.stdout.trim();
    if (!sha) throw new GitError(['rev-parse', branch], `branch "${branch}" not found in ${this.url}`, 1);
    return sha;
  }

  async hasCommit(sha: string): Promise<boolean> {
    if (!existsSync(path.join(this.dir, 'HEAD'))) return false;
    const r = await git(['cat-file', '-e', `${sha}^{commit}`], { cwd: this.dir, gitDir: this.dir, okCodes: [1, 128] });
    return r.exitCode === 0;
  }

  /** Makes sure a commit is here, fetching once if it is not (another machine may have produced it). */
  async ensureCommit(sha: string): Promise<void> {
    if (await this.hasCommit(sha)) return;
    await this.sync();
    if (!(await this.hasCommit(sha))) throw new TransientError(`commit ${sha} is not in ${this.url} (yet)`);
  }

  /** A file's text at a commit, or null when absent. */
  async readFile(commit: string, file: string): Promise<string | null> {
    const r = await git(['cat-file', 'blob', `${commit}:${file}`], { cwd: this.dir, gitDir: this.dir, okCodes: [128] });
    return r.exitCode === 0 ? r.stdout : null;
  }

  /** A blob's size in bytes at a commit (`git cat-file -s`), or null when absent. */
  async blobSize(commit: string, file: string): Promise<number | null> {
    const r = await git(['cat-file', '-s', `${commit}:${file}`], { cwd: this.dir, gitDir: this.dir, okCodes: [128] });
    return r.exitCode === 0 ? Number(r.stdout.trim()) : null;
  }

  /**
   * Tree entries for the given paths at a commit, in one git process. Paths absent from the tree
   * are absent from the map. Directories show as `tree` entries, symlinks as mode 120000.
   */
  /** The entries (full paths) directly inside each directory (`''` is the root) of the commit's tree. */
  async listDirs(commit: string, dirs: string[]): Promise<string[]> {
    const names = async (args: string[]) =>
      (
        await git(['--literal-pathspecs', 'ls-tree', '-z', '--full-tree', '--name-only', commit, ...args], {
          cwd: this.dir,
          gitDir: this.dir,
        })
      ).stdout
        .split('\0')
        .filter(Boolean);
    const sub = dirs.filter((d) => d !== '');
    return [
      ...(dirs.includes('') ? await names([]) : []),
      ...(sub.length ? await names(['--', ...sub.map((d) => `${d}/`)]) : []),
    ];
  }

  async lsTree(commit: string, paths: string[]): Promise<Map<string, TreeEntry>> {
    const out = new Map<string, TreeEntry>();
    if (paths.length === 0) return out;
    // `--literal-pathspecs` keeps `*` or `:` in a model's path from acting as pathspec magic.
    const r = await git(['--literal-pathspecs', 'ls-tree', '-t', '-z', '--full-tree', commit, '--', ...paths], {
      cwd: this.dir,
      gitDir: this.dir,
    });
    for (const rec of r.stdout.split('\0')) {
      if (!rec) continue;
      const tab = rec.indexOf('\t');
      const [mode, type, oid] = rec.slice(0, tab).split(' ') as [string, TreeEntry['type'], string];
      out.set(rec.slice(tab + 1), { mode, type, oid });
    }
    return out;
  }
}
