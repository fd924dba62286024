import { createHash } from 'node:crypto';

import { z } from 'zod';
import { CycleEnded } from './errors/index.ts';
import { pathRefusal, type GuardContext } from './guardrails.ts';
import type { Mirror, TreeEntry } from './mirror.ts';
import type { Proposal } from './proposal.ts';

export const changeSchema = z.object({
  path: z.string(),
  action: z.enum(['ADD', 'UPDATE', 'NOOP']),
  mode: z.enum(['100644', '100755']),
  content: z.string(),
});
export type Change = z.infer<typeof changeSchema>;

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
  if (p.files.length > limits.maxFiles) return `the proposal touches ${p.files.length} files; the limit is ${limits.maxFiles}`;
  let total = 0;
  const seen = new Map<string, string>();
  for (const f of p.files) {
    const refusal = pathRefusal(f.path, guard);
    if (refusal) return refusal;
    const bytes = Buffer.byteLength(f.content);
    if (bytes > limits.maxFileBytes) return `${f.path} is ${bytes} bytes; the limit per file is ${limits.maxFileBytes}`;
    if (f.content.includes('\0')) return `${f.path} contains a NUL byte (binary content is not accepted)`;
    total += bytes;
    const key = f.path.toLowerCase();
    if (seen.has(key)) return `${f.path} is proposed twice (as ${seen.get(key)})`;
    seen.set(key, f.path);
  }
  if (total > limits.maxTotalBytes) return `the proposal is ${total} bytes; the limit is ${limits.maxTotalBytes}`;
  for (const f of p.files) {
    for (const dir of ancestors(f.path)) {
      if (seen.has(dir.toLowerCase())) return `${f.path} needs ${dir} to be a directory, but ${dir} is proposed as a file`;
    }
  }
  return null;
}

/** `a/b/c.ts` → `a`, `a/b`. */
export function ancestors(p: string): string[] {
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
  const wanted = new Set<string>();
  for (const f of proposal.files) {
    wanted.add(f.path);
    for (const a of ancestors(f.path)) wanted.add(a);
  }
  const tree = await mirror.lsTree(baseCommit, [...wanted]);
  return proposal.files.map((f) => classifyOne(f, tree));
}

function classifyOne(f: Proposal['files'][number], tree: Map<string, TreeEntry>): Change {
  const fail = (why: string) => new CycleEnded('apply_failed', `${f.path}: ${why}`);
  for (const dir of ancestors(f.path)) {
    const e = tree.get(dir);
    if (e?.mode === '120000') throw fail(`${dir} is a symlink in the base tree; writing under it could leave the worktree`);
    if (e && e.type !== 'tree') throw fail(`${dir} is a file in the base tree, not a directory`);
  }
  const entry = tree.get(f.path);
  if (entry?.type === 'tree') throw fail('is a directory in the base tree');
  if (entry?.type === 'commit') throw fail('is a submodule in the base tree');
  if (entry?.mode === '120000') throw fail('is a symlink in the base tree');
  if (f.is_new && entry) throw fail('proposed as new (is_new: true) but it already exists in the base commit');
  if (!f.is_new && !entry) throw fail('proposed as an update (is_new: false) but it does not exist in the base commit');
  if (!entry) return { path: f.path, action: 'ADD', mode: '100644', content: f.content };
  const mode = entry.mode === '100755' ? '100755' : '100644';
  const same = blobOid(f.content, entry.oid.length) === entry.oid;
  return { path: f.path, action: same ? 'NOOP' : 'UPDATE', mode, content: f.content };
}

export function countActions(changes: Pick<Change, 'action'>[]): Record<Change['action'], number> {
  const c = { ADD: 0, UPDATE: 0, NOOP: 0 };
  for (const ch of changes) c[ch.action]++;
  return c;
}

