import { git } from './git.ts';
import { lineStats, type Change } from '@prbot/core';
import type { Mirror } from './mirror.ts';

/**
 * Where an open bot PR stands against its base branch, computed on this machine's mirror (never
 * a forge's lazily computed `mergeable`, which may be stale or "unknown"):
 * - `current`: the base's head is in the PR's history; nothing to do.
 * - `behind`: the base moved and the PR's change merges onto it cleanly.
 * - `conflicted`: it does not (`git merge-tree --write-tree` exits 1).
 */
export type Staleness =
  { state: 'current' } | { state: 'behind'; tree: string } | { state: 'conflicted'; conflicts: string[] };

/** `git merge-tree --write-tree` (git ≥ 2.38): a real three-way merge, in objects only, no work tree. */
export async function stalenessOf(mirror: Pick<Mirror, 'dir'>, base: string, head: string): Promise<Staleness> {
  const o = { cwd: mirror.dir, gitDir: mirror.dir };
  const anc = await git(['merge-base', '--is-ancestor', base, head], { ...o, okCodes: [1] });
  if (anc.exitCode === 0) return { state: 'current' };
  const r = await git(['merge-tree', '--write-tree', '--name-only', '--no-messages', '-z', base, head], {
    ...o,
    okCodes: [1],
  });
  const [tree, ...rest] = r.stdout.split('\0');
  if (r.exitCode === 0) return { state: 'behind', tree: tree!.trim() };
  return { state: 'conflicted', conflicts: [...new Set(rest.filter(Boolean))] };
}

/**
 * The PR's change set rebuilt on the new base: every path where the merged tree differs from the
 * base, with its merged content. The bot never deletes, links or vendors a submodule, so a merge
 * that would delete a file or carry a non-regular file is not a rebuild (null + why): the caller
 * treats it as a change that no longer applies.
 */
export async function rebuiltChangeSet(
  mirror: Mirror,
  base: string,
  tree: string,
): Promise<{ changes: Change[] } | { refused: string }> {
  const o = { cwd: mirror.dir, gitDir: mirror.dir };
  const r = await git(['diff-tree', '-r', '-z', '--no-renames', base, tree], o);
  const parts = r.stdout.split('\0').filter((x, i, a) => x !== '' || i < a.length - 1);
  const changes: Change[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const [, newMode, , , status] = parts[i]!.replace(/^:/, '').split(' ') as [string, string, string, string, string];
    const path = parts[i + 1]!;
    if (status !== 'A' && status !== 'M')
      return {
        refused: `the merge would ${status === 'D' ? 'delete' : `change (${status})`} ${JSON.stringify(path)}, which prbot never does`,
      };
    if (newMode !== '100644' && newMode !== '100755')
      return { refused: `${JSON.stringify(path)} would be mode ${newMode}, not a regular file` };
    const content = (await mirror.readFile(tree, path)) ?? '';
    const before = status === 'M' ? ((await mirror.readFile(base, path)) ?? '') : '';
    changes.push({
      path,
      action: status === 'A' ? 'ADD' : 'UPDATE',
      mode: newMode,
      content,
      lines: lineStats(before, content),
    });
  }
  if (changes.length === 0)
    return { refused: 'the base branch already holds the whole change (nothing left to rebuild)' };
  return { changes };
}
