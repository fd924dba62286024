import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { git } from './git.ts';
import { GitError, TransientError } from './errors/index.ts';

export interface TreeEntry {
  mode: string;
  type: 'blob' | 'tree' | 'commit';
  oid: string;
}

/**
 * This machine's bare clone of the target repository. Every stage works from it; it is
 * rebuilt from the remote whenever it is missing, so losing it loses nothing.
 */
export class Mirror {
  readonly dir: string;
  private syncing: Promise<void> | null = null;

  constructor(
    workdir: string,
    readonly url: string,
  ) {
    const name = createHash('sha256').update(url).digest('hex').slice(0, 12);
    this.dir = path.join(workdir, 'mirrors', `${name}.git`);
  }

  /** Clones or fetches all branches; concurrent callers in one process share one fetch. */
  sync(): Promise<void> {
    this.syncing ??= this.doSync().finally(() => {
      this.syncing = null;
    });
    return this.syncing;
  }

  private async doSync(): Promise<void> {
    if (!existsSync(path.join(this.dir, 'HEAD'))) {
      await this.cloneFresh();
      return;
    }
    try {
      await git(['fetch', '--quiet', '--prune', this.url, '+refs/heads/*:refs/heads/*'], { cwd: this.dir, gitDir: this.dir });
    } catch (err) {
      throw new TransientError(`fetching ${this.url} failed`, { cause: err });
    }
  }

  private async cloneFresh(): Promise<void> {
    // Clone beside the final place and rename, so a crash never leaves a half mirror behind.
    const tmp = `${this.dir}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(path.dirname(this.dir), { recursive: true });
    try {
      await git(['clone', '--quiet', '--bare', this.url, tmp], { cwd: path.dirname(this.dir) });
      await git(['config', 'gc.auto', '0'], { cwd: tmp, gitDir: tmp }); // objects of live cycles must not vanish
      await rename(tmp, this.dir).catch(async (err: NodeJS.ErrnoException) => {
        if (!existsSync(path.join(this.dir, 'HEAD'))) throw err; // another process won the race
        await rm(tmp, { recursive: true, force: true });
      });
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      if (err instanceof GitError) throw new TransientError(`cloning ${this.url} failed: ${err.stderr.trim()}`, { cause: err });
      throw err;
    }
  }

  /** The commit a branch points at in the mirror. */
  async resolve(branch: string): Promise<string> {
    const r = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`], { cwd: this.dir, gitDir: this.dir, okCodes: [1] });
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

  /**
   * Tree entries for the given paths at a commit, in one git process. Paths absent from the tree
   * are absent from the map. Directories show as `tree` entries, symlinks as mode 120000.
   */
  async lsTree(commit: string, paths: string[]): Promise<Map<string, TreeEntry>> {
    const out = new Map<string, TreeEntry>();
    if (paths.length === 0) return out;
    // `--literal-pathspecs` keeps `*` or `:` in a model's path from acting as pathspec magic.
    const r = await git(['--literal-pathspecs', 'ls-tree', '-t', '-z', '--full-tree', commit, '--', ...paths], { cwd: this.dir, gitDir: this.dir });
    for (const rec of r.stdout.split('\0')) {
      if (!rec) continue;
      const tab = rec.indexOf('\t');
      const [mode, type, oid] = rec.slice(0, tab).split(' ') as [string, TreeEntry['type'], string];
      out.set(rec.slice(tab + 1), { mode, type, oid });
    }
    return out;
  }
}
