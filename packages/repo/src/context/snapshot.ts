import { countTestCases } from '../shrink.ts';
import { blobText, listTree, readBlobs, type TreeFile } from './objects.ts';
import { isTestFile } from './related.ts';
import { symbolsOf } from './symbols.ts';

/**
 * One commit of the mirror as the context builder reads it: the tree listing, blob texts read
 * so far, and each file's map entry (symbols, test count). A commit never changes, so all of it
 * can be shared: `produce` enqueues every gap on the same base commit, and without sharing each
 * propose job listed the tree and read every blob of a small tree again — 200 jobs on a
 * 2,000-file repository made ~1.5 GB of short-lived strings, and the worker's peak RSS followed
 * the garbage, not the live data.
 */
export class CommitSnapshot {
  readonly byPath: Map<string, TreeFile>;
  readonly paths: readonly string[];
  /** Bytes of all blobs. */
  readonly bytes: number;
  private tests: readonly string[] | undefined;
  private readonly texts = new Map<string, string | null>();
  private readonly reading = new Map<string, Promise<void>>();
  private readonly entries = new Map<string, string[]>();
  /** UTF-16 code units of the texts held (what the cache bounds). */
  textChars = 0;

  constructor(
    readonly dir: string,
    readonly commit: string,
    readonly tree: readonly TreeFile[],
  ) {
    this.byPath = new Map(tree.map((f) => [f.path, f]));
    this.paths = tree.map((f) => f.path);
    this.bytes = tree.reduce((n, f) => n + f.size, 0);
  }

  /** The paths that are test files (`isTestFile`). */
  get testPaths(): readonly string[] {
    return (this.tests ??= this.paths.filter(isTestFile));
  }

  static async read(dir: string, commit: string): Promise<CommitSnapshot> {
    return new CommitSnapshot(dir, commit, await listTree(dir, commit));
  }

  /**
   * Reads the texts of these paths not read yet, in one `cat-file --batch`; paths another
   * caller is reading already are awaited, not read twice.
   */
  async load(paths: readonly string[]): Promise<void> {
    const wanted = [...new Set(paths)].filter((p) => !this.texts.has(p) && this.byPath.has(p));
    const missing = wanted.filter((p) => !this.reading.has(p));
    if (missing.length) {
      const read = readBlobs(
        this.dir,
        missing.map((p) => this.byPath.get(p)!.oid),
      ).then((blobs) => {
        for (const p of missing) {
          const t = blobText(blobs.get(this.byPath.get(p)!.oid));
          this.texts.set(p, t);
          this.textChars += t?.length ?? 0;
        }
      });
      const settled = read.finally(() => {
        for (const p of missing) this.reading.delete(p);
      });
      for (const p of missing) this.reading.set(p, settled);
    }
    await Promise.all(new Set(wanted.map((p) => this.reading.get(p)).filter((r) => r !== undefined)));
  }

  /** The text, null for binary, undefined when not loaded (or not in the tree). */
  get(p: string): string | null | undefined {
    return this.texts.get(p);
  }

  /** The repository map's entry for a loaded file: "N test cases" first, then its top-level symbols. */
  mapEntry(p: string): string[] {
    let e = this.entries.get(p);
    if (!e) {
      const t = this.texts.get(p);
      e = t == null ? [] : symbolsOf(p, t).map((s) => s.name);
      const tests = t != null && isTestFile(p) ? countTestCases(t) : 0;
      if (tests) e.unshift(`${tests} test case${tests === 1 ? '' : 's'}`);
      if (t !== undefined) this.entries.set(p, e);
    }
    return e;
  }
}

export interface SnapshotCacheOptions {
  /** Snapshots kept (most recently used first). */
  max: number;
  /** A snapshot holding more text than this is not kept after its build. */
  maxTextChars: number;
  /** Dropped when unused this long, so an idle worker gives the memory back. */
  idleMs: number;
}

/**
 * The snapshots of the last few commits of one mirror, shared by concurrent and later builds.
 * Bounded by count and by text held; emptied after `idleMs` without use.
 */
export class SnapshotCache {
  private readonly kept = new Map<string, Promise<CommitSnapshot>>();
  private idle: NodeJS.Timeout | undefined;

  constructor(private readonly o: SnapshotCacheOptions) {}

  async get(dir: string, commit: string): Promise<CommitSnapshot> {
    // Only an object name is immutable; a ref ("main") is read afresh every time.
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) return CommitSnapshot.read(dir, commit);
    const key = `${dir}\0${commit}`;
    let s = this.kept.get(key);
    if (s)
      this.kept.delete(key); // re-inserted below: Map order is the LRU order
    else {
      const read = CommitSnapshot.read(dir, commit);
      read.catch(() => this.kept.get(key) === read && this.kept.delete(key)); // a failed read is not kept
      s = read;
    }
    this.kept.set(key, s);
    while (this.kept.size > this.o.max) this.kept.delete(this.kept.keys().next().value!);
    this.touch();
    return s;
  }

  /** After a build: a snapshot that grew past the text bound is not kept for the next one. */
  release(snap: CommitSnapshot): void {
    if (snap.textChars > this.o.maxTextChars) this.kept.delete(`${snap.dir}\0${snap.commit}`);
    this.touch();
  }

  get size(): number {
    return this.kept.size;
  }

  clear(): void {
    this.kept.clear();
    clearTimeout(this.idle);
  }

  private touch(): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.kept.clear(), this.o.idleMs);
    this.idle.unref();
  }
}
