// The forge calls revise cycles make, each driver against its spec-validating stand-in.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEMO_REPO,
  makeUpstream,
  startGiteaServer,
  startGithubServer,
  type FakeForge,
  type FakeForgeOptions,
} from '@prbot/test-support';
import { git } from '@prbot/repo';
import { createLogger } from '@prbot/core';
import { GiteaForge } from './gitea/driver.ts';
import { GithubForge } from './github/driver.ts';
import { ForgeRefused } from './forge-errors.ts';
import { PushRejected } from './push.ts';
import { signedMarker } from './types.ts';

const TOKEN = 'tok-0123456789abcdef-REVISE';
type Kind = 'gitea' | 'github';
let dir: string | undefined;
let fake: FakeForge | undefined;

afterEach(async () => {
  await fake?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = fake = undefined;
});

async function world(kind: Kind, fo: Partial<FakeForgeOptions> = {}) {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-revise-forge-'));
  const { bare, checkout } = await makeUpstream(DEMO_REPO, path.join(dir, 'repo'));
  await git(['push', '--quiet', bare, 'main:refs/heads/bot/x'], { cwd: checkout });
  fake = await (kind === 'gitea' ? startGiteaServer : startGithubServer)({
    owner: 'team',
    repo: 'app',
    token: TOKEN,
    bare,
    ...fo,
  });
  const common = {
    owner: 'team',
    repo: 'app',
    token: TOKEN,
    tokenEnv: 'FORGE_TOKEN',
    remote: bare,
    branchPrefix: 'bot/',
    timeoutMs: 5000,
    base: 'main',
    draftPrefix: 'WIP: ',
    maxPages: 200,
    log: createLogger('silent', { pretty: false }),
  };
  const forge =
    kind === 'gitea'
      ? new GiteaForge({ ...common, baseUrl: fake.url })
      : new GithubForge({ ...common, apiUrl: fake.url });
  return { forge, fake, bare };
}

describe.each<Kind>(['gitea', 'github'])('%s driver for revise cycles', (kind) => {
  it('reads a PR (head commit, labels, verified marker), its comments in order, and replies', async () => {
    const { forge, fake, bare } = await world(kind);
    fake.seedPull({ head: 'bot/x', body: `text\n\n${signedMarker('c0000000001abcd', 'g0123456789ab')}` });
    fake.comment(1, 'alice', 'first');
    fake.comment(1, 'bob', 'inline', { kind: 'review', path: 'src/a.js' });
    fake.comment(1, 'carol', 'third');
    const pr = (await forge.getPr(1))!;
    expect(pr.headSha).toBe((await git(['rev-parse', 'refs/heads/bot/x'], { cwd: bare })).stdout.trim());
    expect(pr).toMatchObject({
      number: 1,
      branch: 'bot/x',
      state: 'open',
      cycleId: 'c0000000001abcd',
      gapId: 'g0123456789ab',
    });
    expect(await forge.getPr(99)).toBeNull();
    const comments = await forge.listPrComments(1);
    expect(comments.map((c) => [c.author, c.kind, c.body, c.path])).toEqual([
      ['alice', 'issue', 'first', undefined],
      ['bob', 'review', 'inline', 'src/a.js'],
      ['carol', 'issue', 'third', undefined],
    ]);
    await forge.commentOnPr(1, 'a reply');
    expect(fake.comments.at(-1)).toMatchObject({ author: 'prbot-bot', body: 'a reply', kind: 'issue' });
    expect(await forge.whoami()).toBe('prbot-bot');
    expect(fake.violations).toEqual([]);
  });

  it("reads a user's permission: write, read, and none for a user the forge does not know", async () => {
    const { forge, fake } = await world(kind);
    fake.setPermission('w', 'write');
    fake.setPermission('r', 'read');
    fake.setPermission('o', 'admin');
    expect(await forge.permissionOf('w')).toBe('write');
    expect(await forge.permissionOf('r')).toBe('read');
    expect(await forge.permissionOf('o')).toBe('admin');
    expect(await forge.permissionOf('nobody')).toBe('none');
    expect(fake.violations).toEqual([]);
  });

  it('pushes only fast-forwards: a branch someone else moved is refused by the remote (PushRejected), not overwritten', async () => {
    const { forge, bare } = await world(kind);
    const start = (await git(['rev-parse', 'refs/heads/bot/x'], { cwd: bare })).stdout.trim();
    expect(await forge.branchHead(bare, 'bot/x')).toBe(start);
    expect(await forge.branchHead(bare, 'bot/none')).toBeNull();
    const tree = (await git(['rev-parse', `${start}^{tree}`], { cwd: bare })).stdout.trim();
    const env = { GIT_AUTHOR_NAME: 'a', GIT_AUTHOR_EMAIL: 'a@x', GIT_COMMITTER_NAME: 'a', GIT_COMMITTER_EMAIL: 'a@x' };
    const ours = (await git(['commit-tree', tree, '-p', start, '-m', 'ours'], { cwd: bare, env })).stdout.trim();
    const theirs = (await git(['commit-tree', tree, '-p', start, '-m', 'theirs'], { cwd: bare, env })).stdout.trim();
    await git(['update-ref', 'refs/heads/bot/x', theirs, start], { cwd: bare });
    await expect(forge.pushFastForward(bare, ours, 'bot/x')).rejects.toBeInstanceOf(PushRejected);
    expect((await git(['rev-parse', 'refs/heads/bot/x'], { cwd: bare })).stdout.trim()).toBe(theirs);
    const next = (await git(['commit-tree', tree, '-p', theirs, '-m', 'next'], { cwd: bare, env })).stdout.trim();
    await forge.pushFastForward(bare, next, 'bot/x');
    expect((await git(['rev-parse', 'refs/heads/bot/x'], { cwd: bare })).stdout.trim()).toBe(next);
  });
});

describe('gitea specifics', () => {
  it("another user's permission needs a repository admin: the 403 says so", async () => {
    const { forge } = await world('gitea', { botRepoAdmin: false });
    const err = await forge.permissionOf('alice').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ForgeRefused);
    expect((err as ForgeRefused).reason).toMatch(/make the bot user a repository admin for revise cycles/);
  });

  it('comments are in the issue scope: a write:repository-only token is refused naming write:issue', async () => {
    const { forge, fake } = await world('gitea', { scopes: ['write:repository'] });
    fake.seedPull({ head: 'bot/x' });
    await expect(forge.commentOnPr(1, 'x')).rejects.toThrow(/lacks the scope write:issue/);
    await expect(forge.listPrComments(1)).rejects.toThrow(/lacks the scope read:issue/);
  });
});
