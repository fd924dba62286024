// Staleness of a bot PR against its base, on the mirror with git merge-tree (issue 25).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git } from './git.ts';
import { Mirror } from './mirror.ts';
import { rebuiltChangeSet, stalenessOf } from './staleness.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const who = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' };

async function repo() {
  const dir = await mkdtemp(path.join(tmpdir(), 'prbot-stale-'));
  dirs.push(dir);
  const mirror = new Mirror(dir, 'unused');
  await git(['init', '--quiet', '--bare', mirror.dir], { cwd: dir });
  const o = { cwd: mirror.dir, gitDir: mirror.dir };
  /** A commit on `parent` with these files (path → content) added or replaced. */
  const commit = async (parent: string | null, files: Record<string, string>) => {
    const idx = path.join(dir, `index-${Math.random()}`);
    const env = { ...who, GIT_INDEX_FILE: idx };
    if (parent) await git(['read-tree', parent], { ...o, env });
    for (const [p, c] of Object.entries(files)) {
      const blob = (await git(['hash-object', '-w', '--stdin'], { ...o, input: c })).stdout.trim();
      await git(['update-index', '--add', '--cacheinfo', `100644,${blob},${p}`], { ...o, env });
    }
    const tree = (await git(['write-tree'], { ...o, env })).stdout.trim();
    return (
      await git(['commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', 'c'], { ...o, env })
    ).stdout.trim();
  };
  return { mirror, commit };
}

describe('stalenessOf', () => {
  it('current, behind (with the merged change set) and conflicted', async () => {
    const { mirror, commit } = await repo();
    const base0 = await commit(null, { 'README.md': 'one\n', 'src/a.js': 'a\n' });
    const pr = await commit(base0, { 'src/new.js': 'new\n', 'src/a.js': 'a\nbot line\n' });
    expect(await stalenessOf(mirror, base0, pr)).toEqual({ state: 'current' });

    const moved = await commit(base0, { 'README.md': 'one\ntwo\n' });
    const behind = await stalenessOf(mirror, moved, pr);
    expect(behind.state).toBe('behind');
    const rebuilt = await rebuiltChangeSet(mirror, moved, (behind as { tree: string }).tree);
    expect('changes' in rebuilt && rebuilt.changes.map((c) => [c.path, c.action, c.content])).toEqual([
      ['src/a.js', 'UPDATE', 'a\nbot line\n'],
      ['src/new.js', 'ADD', 'new\n'],
    ]);

    const clash = await commit(base0, { 'src/new.js': 'a person wrote this first\n' });
    expect(await stalenessOf(mirror, clash, pr)).toEqual({ state: 'conflicted', conflicts: ['src/new.js'] });
  });

  it('a change the base already holds is not rebuilt', async () => {
    const { mirror, commit } = await repo();
    const base0 = await commit(null, { 'README.md': 'one\n' });
    const pr = await commit(base0, { 'src/new.js': 'new\n' });
    const same = await commit(base0, { 'src/new.js': 'new\n', 'README.md': 'two\n' });
    const st = await stalenessOf(mirror, same, pr);
    expect(st.state).toBe('behind');
    expect(await rebuiltChangeSet(mirror, same, (st as { tree: string }).tree)).toEqual({
      refused: 'the base branch already holds the whole change (nothing left to rebuild)',
    });
  });
});
