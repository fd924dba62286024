// The lease on a refresh push (issue 25): a branch someone pushed to after prbot read it is never
// overwritten. Real git, a real bare remote; the positive control shows a plain --force, in the
// same race, does overwrite.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git } from '@prbot/repo';
import { LeaseRefused, pushBranch, pushWithLeaseBranch } from './push.ts';
import { LocalForge } from './local/driver.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const who = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' };

/** A mirror with three commits (prbot's push A, a person's B on top, prbot's rebuild C) and a remote whose branch is at A. */
async function world() {
  const dir = await mkdtemp(path.join(tmpdir(), 'prbot-lease-'));
  dirs.push(dir);
  const mirror = path.join(dir, 'mirror.git');
  const remote = path.join(dir, 'remote.git');
  await git(['init', '--quiet', '--bare', mirror], { cwd: dir });
  await git(['init', '--quiet', '--bare', remote], { cwd: dir });
  const tree = (await git(['mktree'], { cwd: mirror, input: '' })).stdout.trim();
  const commit = async (msg: string, parent?: string) =>
    (
      await git(['commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', msg], { cwd: mirror, env: who })
    ).stdout.trim();
  const a = await commit('prbot: the PR');
  const b = await commit('a person pushes', a);
  const c = await commit('prbot: the refresh');
  await git(['push', '--quiet', remote, `${a}:refs/heads/bot/x`], { cwd: mirror });
  const head = async () =>
    (
      await git(['rev-parse', '--verify', '--quiet', 'refs/heads/bot/x'], { cwd: remote, okCodes: [1, 128] })
    ).stdout.trim();
  const someonePushes = () => git(['push', '--quiet', remote, `${b}:refs/heads/bot/x`], { cwd: mirror });
  return { mirror, remote, a, b, c, head, someonePushes, dir };
}

describe('push with a lease', () => {
  it('replaces the branch while it is at the leased commit', async () => {
    const w = await world();
    await pushWithLeaseBranch(w.mirror, w.remote, w.c, 'bot/x', w.a);
    expect(await w.head()).toBe(w.c);
  });

  it('a push that landed after prbot read the branch → refused, nothing overwritten; positive control: a plain --force overwrites it', async () => {
    const w = await world();
    await w.someonePushes();
    const err = await pushWithLeaseBranch(w.mirror, w.remote, w.c, 'bot/x', w.a).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LeaseRefused);
    expect((err as Error).message).toMatch(
      /no longer at [0-9a-f]{12}, the commit prbot last pushed \(someone else pushed; nothing was overwritten\)/,
    );
    expect(await w.head()).toBe(w.b);
    // The same race with the lease switched off (the force push new bot branches use): the person's commit is gone.
    await pushBranch(w.mirror, w.remote, w.c, 'bot/x');
    expect(await w.head()).toBe(w.c);
  });

  it('deletes a branch only under the lease (local forge)', async () => {
    const w = await world();
    const forge = new LocalForge(w.remote, path.join(w.dir, 'prs'));
    await w.someonePushes();
    expect(await forge.deleteBranch(w.mirror, 'bot/x', w.a)).toBe(false);
    expect(await w.head()).toBe(w.b);
    expect(await forge.deleteBranch(w.mirror, 'bot/x', w.b)).toBe(true);
    expect(await w.head()).toBe('');
  });
});
