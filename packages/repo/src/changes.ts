import { createHash } from 'node:crypto';

import {
  countLines,
  lineStats,
  type Change,
  CycleEnded,
  proposedText,
  type Edit,
  type Proposal,
  type ProposedFile,
} from '@prbot/core';
import { blobText, readBlobs } from './context/objects.ts';
import { pathRefusal, type GuardContext } from './guardrails.ts';
import type { Mirror, TreeEntry } from './mirror.ts';

export interface Limits {
  maxFiles: number;
  maxFileBytes: number;
  maxTotalBytes: number;
}

/**
 * Why a proposal is refused before any git work, or null. Run at propose (→ proposal_rejected)
 * and again when a commit is built, so no path around the scorer reaches the tree.
 */
export function proposalRefusal(p: Proposal, guard: GuardContext, limits: Limits): string | null {
  if (p.files.length === 0) return 'the proposal changes no files';
  if (p.files.length > limits.maxFiles)
    return `the proposal touches ${p.files.length} files; the limit is ${limits.maxFiles}`;
  let total = 0;
  const seen = new Map<string, string>();
  for (const f of p.files) {
    const refusal = pathRefusal(f.path, guard);
    if (refusal) return refusal;
    const text = proposedText(f);
    const bytes = Buffer.byteLength(text);
    if (bytes > limits.maxFileBytes) return `${f.path} is ${bytes} bytes; the limit per file is ${limits.maxFileBytes}`;
    if (text.includes('\0')) return `${f.path} contains a NUL byte (binary content is not accepted)`;
    total += bytes;
    const key = f.path.toLowerCase();
    if (seen.has(key)) return `${f.path} is proposed twice (as ${seen.get(key)})`;
    seen.set(key, f.path);
  }
  if (total > limits.maxTotalBytes) return `the proposal is ${total} bytes; the limit is ${limits.maxTotalBytes}`;
  for (const f of p.files) {
    for (const dir of ancestors(f.path)) {
      if (seen.has(dir.toLowerCase()))
        return `${f.path} needs ${dir} to be a directory, but ${dir} is proposed as a file`;
    }
  }
  return null;
}

/** `a/b/c.ts` → `a`, `a/b`. */
function ancestors(p: string): string[] {
  const parts = p.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** The git object id a blob with this content gets, without running git. */
export function blobOid(content: string, oidLength: number): string {
  const body = Buffer.from(content, 'utf8');
  const algo = oidLength === 64 ? 'sha256' : 'sha1';
  return createHash(algo).update(`blob ${body.length}\0`).update(body).digest('hex');
}

/**
 * ADD (new, absent), UPDATE (exists, differs), NOOP (exists, identical), from the base commit's
 * tree in one `ls-tree`. A mismatch between `is_new` and the tree is the model being confused
 * about the repository: it ends the cycle with apply_failed naming the file, never guessed around.
 */
export async function classify(mirror: Mirror, baseCommit: string, proposal: Proposal): Promise<Change[]> {
  return (await resolveProposal(mirror, baseCommit, proposal)).changes;
}

export interface Resolved {
  changes: Change[];
  /** The base content of every UPDATE and NOOP, by path (for the shrink guard). */
  base: Map<string, string>;
}

/**
 * Classifies each file and computes its final content: whole content as given, edits applied to
 * the base blob (all base blobs read in one `cat-file --batch`). An edit whose search text does
 * not occur exactly once ends the cycle in apply_failed naming the file and the edit.
 */
export async function resolveProposal(mirror: Mirror, baseCommit: string, proposal: Proposal): Promise<Resolved> {
  const wanted = new Set<string>();
  for (const f of proposal.files) {
    wanted.add(f.path);
    for (const a of ancestors(f.path)) wanted.add(a);
  }
  const tree = await mirror.lsTree(baseCommit, [...wanted]);
  const entries = proposal.files.map((f) => ({ f, entry: checkEntry(f, tree) }));
  const blobs = await readBlobs(
    mirror.dir,
    entries.flatMap(({ entry }) => (entry ? [entry.oid] : [])),
  );
  const base = new Map<string, string>();
  const changes = entries.map(({ f, entry }): Change => {
    if (!entry) {
      if (!('content' in f))
        throw new CycleEnded(
          'apply_failed',
          `${f.path}: edits need an existing file; a new file is given whole ("content")`,
        );
      return {
        path: f.path,
        action: 'ADD',
        mode: '100644',
        content: f.content,
        lines: { added: countLines(f.content), removed: 0 },
      };
    }
    const old = blobText(blobs.get(entry.oid));
    if (old === null && !('content' in f))
      throw new CycleEnded('apply_failed', `${f.path}: is binary in the base tree; edits apply to text files only`);
    if (old !== null) base.set(f.path, old);
    const content = 'content' in f ? f.content : applyEdits(f.path, old!, f.edits);
    const mode = entry.mode === '100755' ? '100755' : '100644';
    const same = blobOid(content, entry.oid.length) === entry.oid;
    const lines = same ? { added: 0, removed: 0 } : old === null ? undefined : lineStats(old, content);
    return { path: f.path, action: same ? 'NOOP' : 'UPDATE', mode, content, ...(lines ? { lines } : {}) };
  });
  return { changes, base };
}

function checkEntry(f: ProposedFile, tree: Map<string, TreeEntry>): TreeEntry | undefined {
  const fail = (why: string) => new CycleEnded('apply_failed', `${f.path}: ${why}`);
  for (const dir of ancestors(f.path)) {
    const e = tree.get(dir);
    if (e?.mode === '120000')
      throw fail(`${dir} is a symlink in the base tree; writing under it could leave the worktree`);
    if (e && e.type !== 'tree') throw fail(`${dir} is a file in the base tree, not a directory`);
  }
  const entry = tree.get(f.path);
  if (entry?.type === 'tree') throw fail('is a directory in the base tree');
  if (entry?.type === 'commit') throw fail('is a submodule in the base tree');
  if (entry?.mode === '120000') throw fail('is a symlink in the base tree');
  if (f.is_new && entry) throw fail('proposed as new (is_new: true) but it already exists in the base commit');
  if (!f.is_new && !entry) throw fail('proposed as an update (is_new: false) but it does not exist in the base commit');
  return entry;
}

/**
 * Applies exact search/replace edits in order, each to the result of the ones before. Exact
 * means exact: no whitespace folding, no fuzzy match; a model that misremembers the file is
 * told so (the next prompt carries the reason) rather than having its edit land somewhere else.
 */
export function applyEdits(path: string, base: string, edits: Edit[]): string {
  let text = base;
  edits.forEach((e, i) => {
    const at = text.indexOf(e.search);
    const again = at === -1 ? -1 : text.indexOf(e.search, at + 1);
    if (at === -1 || again !== -1) {
      const where =
        at === -1
          ? 'matches nowhere in the file'
          : `matches more than once (at lines ${lineAt(text, at)} and ${lineAt(text, again)})`;
      throw new CycleEnded(
        'apply_failed',
        `${path}: edits[${i}] of ${edits.length}: the search text ${where}; it must match exactly once: ${excerpt(e.search)}`,
      );
    }
    // Slices, not String.replace: `$&` or `$1` in a model's replacement must stay literal.
    text = text.slice(0, at) + e.replace + text.slice(at + e.search.length);
  });
  return text;
}

function lineAt(text: string, index: number): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

function excerpt(s: string, max = 80): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return JSON.stringify(one.length > max ? one.slice(0, max - 1) + '…' : one);
}
