import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEMO_REPO,
  makeUpstream,
  startGiteaServer,
  startGithubServer,
  type FakeForge,
  type FakeForgeOptions,
} from '@prbot/test-support';
import { createLogger } from '@prbot/core';
import { git } from '@prbot/repo';
import { discoverRepos, type DiscoverSettings } from './discover.ts';
import { GiteaForge } from './gitea/driver.ts';
import { GithubForge } from './github/driver.ts';

const TOKEN = 'tok-discovery-0123456789-SECRET';
type Kind = 'gitea' | 'github';

let dir: string | undefined;
let fake: FakeForge | undefined;
afterEach(async () => {
  await fake?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = fake = undefined;
});

/** An owner on a spec-validating stand-in: the served repository `app` plus `ownerRepos`. */
async function owner(kind: Kind, fo: Partial<FakeForgeOptions>, maxPages = 200) {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-discover-'));
  const { bare, checkout } = await makeUpstream(DEMO_REPO, path.join(dir, 'repo'));
  fake = await (kind === 'gitea' ? startGiteaServer : startGithubServer)({
    owner: 'team',
    repo: 'app',
    token: TOKEN,
    bare,
    pageSize: 2,
    org: true,
    ...fo,
  });
  const warnings: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const j = JSON.parse(line) as { level: number; msg: string };
        if (j.level >= 40) warnings.push(j.msg);
      }
      cb();
    },
  });
  const log = createLogger('warn', { pretty: false, destination: sink });
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
    maxPages,
    log,
  };
  const dirOf =
    kind === 'gitea'
      ? new GiteaForge({ ...common, baseUrl: fake.url })
      : new GithubForge({ ...common, apiUrl: fake.url, rateLimitWaitMs: 5000 });
  return { dir: dirOf, fake, log, warnings, bare, checkout };
}

const settings = (s: Partial<DiscoverSettings> = {}): DiscoverSettings => ({
  topic: 'prbot',
  file: '.prbot.yaml',
  include: [],
  exclude: [],
  forks: false,
  maxRepos: 100,
  ...s,
});

const ORG = [
  { name: 'api', topics: ['go', 'PRBot'] },
  { name: 'web', files: ['.prbot.yaml'], defaultBranch: 'trunk' },
  { name: 'old', topics: ['prbot'], archived: true },
  { name: 'fork-of-x', topics: ['prbot'], fork: true },
  { name: 'docs' },
  { name: 'api-legacy', topics: ['prbot'] },
];

describe.each(['gitea', 'github'] as const)('discovery on %s', (kind) => {
  it('serves the repositories with the topic or the file, over every page, and says why each other one is left out', async () => {
    const o = await owner(kind, { ownerRepos: ORG, topics: [] });
    const found = await discoverRepos(o.dir, settings({ exclude: ['*-legacy'] }), o.log);
    expect(found.repos).toEqual([
      { name: 'api', defaultBranch: 'main', via: 'topic' },
      { name: 'web', defaultBranch: 'trunk', via: 'file' },
    ]);
    expect(Object.fromEntries(found.left.map((l) => [l.name, l.why]))).toEqual({
      app: 'no topic "prbot" and no .prbot.yaml on main',
      old: 'archived (read-only: no branch can be pushed)',
      'fork-of-x': 'a fork (discover.forks is false)',
      docs: 'no topic "prbot" and no .prbot.yaml on main',
      'api-legacy': 'not matched by discover.include / discover.exclude',
    });
    // Seven repositories at two a page: four pages, each validated against the published API.
    expect(o.fake.violations).toEqual([]);
    const listing = o.fake.requests.filter((r) => /\/(orgs|organizations)\/[^/]+\/repos/.test(r.path));
    expect(listing).toHaveLength(4);
  });

  it('finds the file in the served repository itself, on its default branch', async () => {
    const o = await owner(kind, { ownerRepos: [] });
    await writeFile(path.join(o.checkout, '.prbot.yaml'), 'prd: docs/PRD.md\n');
    await git(['add', '.prbot.yaml'], { cwd: o.checkout });
    await git(['-c', 'user.name=t', '-c', 'user.email=t@x', 'commit', '-qm', 'settings'], { cwd: o.checkout });
    await git(['push', '--quiet', o.bare, 'HEAD:refs/heads/main'], { cwd: o.checkout });
    const found = await discoverRepos(o.dir, settings(), o.log);
    expect(found.repos).toEqual([{ name: 'app', defaultBranch: 'main', via: 'file' }]);
  });

  it('an owner that is a user, not an organisation, is listed as a user', async () => {
    const o = await owner(kind, { ownerRepos: ORG.slice(0, 2), org: false });
    const found = await discoverRepos(o.dir, settings(), o.log);
    expect(found.repos.map((r) => r.name)).toEqual(['api', 'web']);
    expect(o.fake.violations).toEqual([]);
  });

  it('include narrows to the names it matches; forks only when asked', async () => {
    const o = await owner(kind, { ownerRepos: ORG });
    const found = await discoverRepos(o.dir, settings({ include: ['api*', 'fork-*'], forks: true }), o.log);
    expect(found.repos.map((r) => r.name)).toEqual(['api', 'fork-of-x', 'api-legacy']);
  });

  it('over maxRepos: the first ones are served, the rest named, and a warning', async () => {
    const o = await owner(kind, { ownerRepos: ORG });
    const found = await discoverRepos(o.dir, settings({ maxRepos: 1 }), o.log);
    expect(found.repos.map((r) => r.name)).toEqual(['api']);
    expect(found.left.filter((l) => l.why.startsWith('over discover.maxRepos')).map((l) => l.name)).toEqual([
      'web',
      'api-legacy',
    ]);
    expect(o.warnings.join('\n')).toMatch(/more repositories qualify than discover\.maxRepos \(1\)/);
  });

  it('a listing cut at forge.maxPages says so', async () => {
    const o = await owner(kind, { ownerRepos: ORG }, 2);
    const found = await discoverRepos(o.dir, settings(), o.log);
    expect(found.repos.map((r) => r.name)).toEqual(['api', 'web']);
    expect(o.warnings.join('\n')).toMatch(/after 2 pages/);
  });
});

describe('discovery reads what a forge lists as hostile input', () => {
  const items = (list: unknown[]) => ({
    async *ownerRepos() {
      yield* list;
    },
    hasFile: () => Promise.resolve(false),
  });
  const log = createLogger('silent', { pretty: false });
  const good = { name: 'ok', default_branch: 'main', topics: ['prbot'], archived: false, fork: false };

  it('a name or branch that could reach a path or an argv is left out, named, with the field', async () => {
    const found = await discoverRepos(
      items([
        { ...good, name: '../etc' },
        { ...good, name: 'x', default_branch: '--upload-pack=evil' },
        { ...good, name: 'y', default_branch: 'a..b' },
        { ...good, name: 'z\u202e' },
        { ...good, name: 'q', archived: 'no' },
        'not an object',
        good,
      ]),
      settings(),
      log,
    );
    expect(found.repos).toEqual([{ name: 'ok', defaultBranch: 'main', via: 'topic' }]);
    expect(found.left.map((l) => [l.name, l.why.replace(/ \(.*$/, ''), /\((\S+):/.exec(l.why)?.[1]])).toEqual([
      ['../etc', "not a repository as the forge's API describes one", 'name'],
      ['x', "not a repository as the forge's API describes one", 'default_branch'],
      ['y', "not a repository as the forge's API describes one", 'default_branch'],
      [expect.not.stringContaining('\u202e'), "not a repository as the forge's API describes one", 'name'],
      ['q', "not a repository as the forge's API describes one", 'archived'],
      ['(item 6 of the listing)', "not a repository as the forge's API describes one", undefined],
    ]);
  });

  it('a repository listed twice (a page repeated) is served once', async () => {
    const found = await discoverRepos(items([good, { ...good, name: 'OK' }]), settings(), log);
    expect(found.repos).toHaveLength(1);
  });
});
