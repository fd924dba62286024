import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEMO_REPO,
  makeUpstream,
  startGiteaServer,
  startGithubServer,
  startGitHttpServer,
  listenLoopback,
  type FakeForge,
  type FakeForgeOptions,
  type GitHttpServer,
} from '@prbot/test-support';
import { ConfigError, RateLimited, createLogger } from '@prbot/core';
import { git } from '@prbot/repo';
import { parseConfig } from '@prbot/config';
import { GiteaForge } from './gitea/driver.ts';
import { forgePages } from './http.ts';
import { GithubForge } from './github/driver.ts';
import * as push from './push.ts';
import type { DraftPr, Forge } from './types.ts';

const TOKEN = 'tok-0123456789abcdef-SECRET';
type Kind = 'gitea' | 'github';

let dir: string | undefined;
let fake: FakeForge | undefined;
let gitHttp: GitHttpServer | undefined;
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  await fake?.stop();
  await gitHttp?.stop();
  for (const c of closers.splice(0)) await c();
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = fake = gitHttp = undefined;
});

/** A bare upstream with `main` and a pushed bot branch, a spec-validating stand-in, and a driver on it. */
async function world(
  kind: Kind,
  fo: Partial<FakeForgeOptions> = {},
  driver: { maxPages?: number; base?: string; baseUrl?: string; draftPrefix?: string } = {},
) {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-forge-'));
  const { bare, checkout } = await makeUpstream(DEMO_REPO, path.join(dir, 'repo'));
  await git(['push', '--quiet', bare, 'main:refs/heads/bot/x'], { cwd: checkout });
  fake = await (kind === 'gitea' ? startGiteaServer : startGithubServer)({
    owner: 'team',
    repo: 'app',
    token: TOKEN,
    bare,
    pageSize: 2,
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
    base: driver.base ?? 'main',
    draftPrefix: driver.draftPrefix ?? 'WIP: ',
    maxPages: driver.maxPages ?? 200,
    log,
  };
  const forge: Forge =
    kind === 'gitea'
      ? new GiteaForge({ ...common, baseUrl: driver.baseUrl ?? fake.url })
      : new GithubForge({ ...common, apiUrl: fake.url, rateLimitWaitMs: 5000 });
  return { forge, fake, bare, checkout, warnings };
}

const draft = (o: Partial<DraftPr> = {}): DraftPr => ({
  branch: 'bot/x',
  base: 'main',
  title: 'Add truncate',
  body: 'body',
  cycleId: 'c0000000000001',
  labels: ['prbot'],
  ...o,
});

describe('1. Gitea labels are in the issue scope', () => {
  it('a token with write:repository only opens the PR without the label and says why', async () => {
    const { forge, fake } = await world('gitea', { scopes: ['write:repository'] });
    const pr = await forge.openDraft(draft());
    expect(pr.state).toBe('open');
    expect(fake.pulls).toHaveLength(1);
    expect(fake.pulls[0]!.labels).toEqual([]);
    expect(pr.warnings?.join(' ')).toMatch(
      /labels not applied: .*HTTP 403.*read:issue.*write:issue or set forge\.labels to \[\]/,
    );
    expect(fake.violations).toEqual([]);
  });
});

describe('2. GitHub refuses drafts on private repositories of Free/Pro plans', () => {
  it('falls back to a normal PR with the draft title prefix, and says so in the body and the result', async () => {
    const { forge, fake } = await world('github', { private: true, draftsSupported: false });
    const pr = await forge.openDraft(draft());
    expect(pr.draft).toBe(false);
    expect(fake.pulls).toHaveLength(1);
    expect(fake.pulls[0]!.draft).toBe(false);
    expect(fake.pulls[0]!.title).toBe('WIP: Add truncate');
    expect(fake.pulls[0]!.body).toMatch(/^> \*\*Not a draft:\*\* GitHub refused a draft PR/);
    expect(pr.warnings?.join(' ')).toMatch(/drafts on private repositories need GitHub Team or Enterprise/);
    expect(fake.pulls[0]!.labels).toEqual(['prbot']);
    expect(fake.violations).toEqual([]);
  });
});

describe('3. GitHub secondary rate limits', () => {
  it('a short secondary limit is waited out inside the call and the PR opens', async () => {
    const { forge, fake } = await world('github');
    fake.secondaryLimitNext('POST', '/pulls', 1, 1);
    const pr = await forge.openDraft(draft());
    expect(pr.state).toBe('open');
    expect(fake.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/pulls')).map((q) => q.status)).toEqual([
      403, 201,
    ]);
  });

  it('a long one becomes RateLimited with the wait (the pr queue waits), not "lacks permission"', async () => {
    const { forge, fake } = await world('github');
    fake.secondaryLimitNext('POST', '/pulls', 1, 120);
    const err = await forge.openDraft(draft()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimited);
    expect((err as RateLimited).waitMs).toBe(120_000);
    expect((err as Error).message).toMatch(/secondary rate limit/);
    expect(fake.pulls).toHaveLength(0);
  });
});

describe.each<Kind>(['gitea', 'github'])('4 + 6. %s: paging follows Link to the end', (kind) => {
  it('sees all 45 bot PRs over 23 pages (no silent stop at 20)', async () => {
    const { forge, fake } = await world(kind);
    for (let i = 0; i < 45; i++)
      fake.seedPull({ head: `bot/gap-${i}`, body: `<!-- prbot-cycle: c${i.toString(36).padStart(6, '0')} -->` });
    const prs = await forge.listBotPrs();
    expect(prs).toHaveLength(45);
    expect(new Set(prs.map((p) => p.branch)).size).toBe(45);
    expect(fake.violations).toEqual([]);
  });

  it('the page cap warns naming the forge and the count', async () => {
    const { forge, fake, warnings } = await world(kind, {}, { maxPages: 3 });
    for (let i = 0; i < 10; i++) fake.seedPull({ head: `bot/gap-${i}` });
    expect(await forge.listBotPrs()).toHaveLength(6);
    expect(warnings.join('\n')).toMatch(new RegExp(`${kind} .*team/app: stopped listing pull requests after 3 pages`));
  });
});

describe('6. Gitea under a ROOT_URL sub-path', () => {
  it('every paged call works at https://host/gitea/ (Link URLs used as given)', async () => {
    const { forge, fake } = await world('gitea', { subPath: '/gitea', version: '1.21.11' }, {});
    expect(fake.url).toMatch(/\/gitea$/);
    for (let i = 0; i < 7; i++) fake.seedPull({ head: `bot/gap-${i}` });
    fake.seedPull({ head: 'bot/x', state: 'closed' });
    for (let i = 0; i < 5; i++) fake.labels.push({ id: 100 + i, name: `l${i}` });
    fake.labels.push({ id: 200, name: 'prbot' });
    expect(await forge.listBotPrs()).toHaveLength(8);
    expect(await forge.findByBranch('bot/x')).toMatchObject({ state: 'closed' });
    await forge.openDraft(draft());
    expect(fake.pulls.at(-1)!.labels).toEqual([200]);
    expect(fake.violations).toEqual([]);
    expect(fake.requests.every((q) => q.path.startsWith('/gitea/api/v1/'))).toBe(true);
    expect(fake.requests.filter((q) => q.path.includes('page=4')).length).toBeGreaterThan(0);
  });

  it('a Link on another origin (ROOT_URL differs from the address prbot uses) is re-based and the token stays home', async () => {
    const { forge, fake } = await world('gitea', { subPath: '/gitea' }, {});
    // Same server, reached as localhost: the stand-in's Links say 127.0.0.1.
    const alt = fake.url.replace('127.0.0.1', 'localhost');
    const via = new GiteaForge({
      ...(forge as unknown as { o: ConstructorParameters<typeof GiteaForge>[0] }).o,
      baseUrl: alt,
    });
    for (let i = 0; i < 5; i++) fake.seedPull({ head: `bot/gap-${i}` });
    expect(await via.listBotPrs()).toHaveLength(5);
    expect(fake.violations).toEqual([]);
  });
});

describe('5. Gitea labels: every page, and the organisation', () => {
  // Gitea's label listings send X-Total-Count and no Link (FACTS.md): the stand-in does the same.
  it('a label on page 2 of 50 is found, not created again (61 labels, no Link header)', async () => {
    const { forge, fake } = await world('gitea', { pageSize: 50 });
    for (let i = 0; i < 61; i++) fake.labels.push({ id: 10 + i, name: i === 55 ? 'prbot' : `area/${i}` });
    await forge.openDraft(draft());
    const listings = fake.requests.filter((r) => /\/repos\/team\/app\/labels\?/.test(r.path) && r.method === 'GET');
    expect(listings.map((r) => new URL(r.path, 'http://x').searchParams.get('page'))).toEqual(['1', '2']);
    expect(fake.labels.filter((l) => l.name === 'prbot')).toHaveLength(1);
    expect(fake.pulls[0]!.labels).toEqual([65]);
    expect(fake.violations).toEqual([]);
  });

  it("an organisation's label on page 2 is found, not created in the repository", async () => {
    const { forge, fake } = await world('gitea', { org: true, pageSize: 50 });
    for (let i = 0; i < 61; i++) fake.orgLabels.push({ id: 500 + i, name: i === 58 ? 'prbot' : `team/${i}` });
    await forge.openDraft(draft());
    expect(fake.labels).toHaveLength(0);
    expect(fake.pulls[0]!.labels).toEqual([558]);
  });

  it("a PR's reviews are read past page 1 (Gitea's review listing sends no Link either)", async () => {
    const { forge, fake } = await world('gitea', { pageSize: 50 });
    await forge.openDraft(draft({ labels: [] }));
    const n = fake.pulls[0]!.number;
    for (let i = 0; i < 55; i++) fake.comment(n, `reviewer-${i}`, `inline ${i}`, { kind: 'review', path: 'src/a.js' });
    const comments = await (forge as GiteaForge).listPrComments(n);
    expect(comments.filter((c) => c.kind === 'review')).toHaveLength(55);
  });

  // Gitea's timeline sends no Link and an X-Total-Count that is the length of the page it sent
  // (ListIssueCommentsAndTimeline): counting against it stops after page 1, every time.
  it('who put the label on is read past page 1 of the timeline (its count is the page length)', async () => {
    const { forge, fake } = await world('gitea', { pageSize: 50 });
    await forge.openDraft(draft({ labels: [] }));
    const n = fake.pulls[0]!.number;
    fake.label(n, 'prbot:revise', 'maintainer');
    for (let i = 0; i < 60; i++) fake.comment(n, `user-${i}`, `comment ${i}`);
    fake.label(n, 'prbot:revise', 'triager');
    expect(await (forge as GiteaForge).labeledBy(n, 'prbot:revise')).toBe('triager');
    const pages = fake.requests.filter((r) => /\/issues\/\d+\/timeline\?/.test(r.path));
    // Pages 1 and 2 hold the 62 entries; page 3 comes back empty and ends the listing.
    expect(pages.map((r) => new URL(r.path, 'http://x').searchParams.get('page'))).toEqual(['1', '2', '3']);
    expect(fake.violations).toEqual([]);
  });

  it('positive control: counting against that X-Total-Count reads page 1 only and names the stale labeler', async () => {
    const { fake } = await world('gitea', { pageSize: 50 });
    const n = fake.seedPull({ title: 'x', body: '', head: 'bot/x', base: 'main' }).number;
    fake.label(n, 'prbot:revise', 'maintainer');
    for (let i = 0; i < 60; i++) fake.comment(n, `user-${i}`, `comment ${i}`);
    fake.label(n, 'prbot:revise', 'triager');
    const http = {
      label: 'gitea',
      baseUrl: `${fake.url}/api/v1`,
      headers: { authorization: `token ${TOKEN}` },
      timeoutMs: 5000,
      tokenEnv: 'FORGE_TOKEN',
    };
    const read = async (countIsPageLength: boolean) => {
      const seen: string[] = [];
      for await (const t of forgePages<{ type?: string; user?: { login?: string } }>(
        http,
        `/repos/team/app/issues/${n}/timeline?limit=50&page=1`,
        { maxPages: 20, log: createLogger('silent'), what: 'timeline', countIsPageLength },
      ))
        if (t.type === 'label') seen.push(t.user?.login ?? '');
      return seen;
    };
    expect(await read(false)).toEqual(['maintainer']);
    expect(await read(true)).toEqual(['maintainer', 'triager']);
  });

  it('a listing that sends neither Link nor X-Total-Count is read until a page comes back empty', async () => {
    const pages: string[] = [];
    const srv = await listenLoopback((r, res) => {
      const page = Number(new URL(r.url ?? '/', 'http://x').searchParams.get('page'));
      pages.push(String(page));
      const items =
        page <= 2 ? Array.from({ length: 50 }, (_, i) => ({ id: page * 100 + i, name: `l${page}-${i}` })) : [];
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(items));
    });
    try {
      const http = { label: 'gitea', baseUrl: srv.url, headers: {}, timeoutMs: 5000, tokenEnv: 'FORGE_TOKEN' };
      const got = [];
      for await (const l of forgePages<{ id: number }>(http, '/repos/team/app/labels?limit=50&page=1', {
        maxPages: 20,
        log: createLogger('silent'),
        what: 'labels',
      }))
        got.push(l.id);
      expect(got).toHaveLength(100);
      expect(pages).toEqual(['1', '2', '3']);
    } finally {
      await srv.stop();
    }
  });

  it("an organisation's label is used for its repository", async () => {
    const { forge, fake } = await world('gitea', { org: true });
    fake.orgLabels.push({ id: 7, name: 'prbot' });
    await forge.openDraft(draft());
    expect(fake.labels).toHaveLength(0);
    expect(fake.pulls[0]!.labels).toEqual([7]);
  });
});

describe('5b. who put a label on, when the listing is longer than forge.maxPages', () => {
  it.each(['gitea', 'github'] as const)(
    '%s: a listing cut at the cap names nobody, not an earlier labeller; one that fits names the last',
    async (kind) => {
      const { forge, fake, warnings } = await world(kind, { pageSize: 2 }, { maxPages: 2 });
      await forge.openDraft(draft({ labels: [] }));
      const n = fake.pulls[0]!.number;
      const f = forge as GiteaForge | GithubForge;
      // GitHub's Link says when the listing ends; Gitea's timeline ends only at an empty page.
      const fits = kind === 'github' ? ['maintainer', 'a', 'b', 'fourth'] : ['maintainer', 'fourth'];
      for (const who of fits) fake.label(n, 'prbot:revise', who);
      expect(await f.labeledBy(n, 'prbot:revise')).toBe('fourth');
      for (const who of ['x', 'y', 'triager']) fake.label(n, 'prbot:revise', who);
      expect(await f.labeledBy(n, 'prbot:revise')).toBeNull();
      expect(warnings.join('\n')).toMatch(/after 2 pages \(.*forge\.maxPages\)/);
    },
  );
});

describe('7. push keeps the operator environment and scopes the auth header', () => {
  it('passes proxy, CA and SSH variables (upper and lower case) and scopes http.<url>.extraheader', () => {
    const from: NodeJS.ProcessEnv = Object.fromEntries(push.PUSH_ENV_NAMES.map((k) => [k, `v-${k}`]));
    from.GIT_DIR = '/elsewhere';
    from.OPENAI_API_KEY = 'sk-no';
    const env = push.pushEnv('https://git.example.com/gitea/team/app.git', TOKEN, from);
    for (const k of [
      'HTTPS_PROXY',
      'https_proxy',
      'NO_PROXY',
      'no_proxy',
      'ALL_PROXY',
      'GIT_SSL_CAINFO',
      'GIT_SSL_CAPATH',
      'SSL_CERT_FILE',
      'SSL_CERT_DIR',
      'GIT_SSH_COMMAND',
      'GIT_SSH',
      'SSH_AUTH_SOCK',
      'HOME',
    ])
      expect(env[k]).toBe(`v-${k}`);
    expect(env.GIT_DIR).toBeUndefined();
    expect(env.OPENAI_API_KEY).toBeUndefined();
    expect(env.GIT_CONFIG_KEY_0).toBe('http.https://git.example.com/gitea/team/app.git.extraheader');
    expect(Buffer.from(env.GIT_CONFIG_VALUE_0!.replace('Authorization: Basic ', ''), 'base64').toString()).toBe(
      `x-access-token:${TOKEN}`,
    );
  });

  it('GIT_SSH_COMMAND from the environment is the one git runs for an SSH remote', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'prbot-push-'));
    const { bare, checkout } = await makeUpstream(DEMO_REPO, path.join(dir, 'repo'));
    const marker = path.join(dir, 'ssh-ran');
    const ssh = path.join(dir, 'fake-ssh');
    await writeFile(ssh, `#!/bin/sh\necho "$@" > ${marker}\nexit 1\n`);
    await chmod(ssh, 0o755);
    const head = (await git(['rev-parse', 'HEAD'], { cwd: checkout })).stdout.trim();
    await git(['fetch', '--quiet', checkout, 'main'], { cwd: bare });
    const saved = process.env.GIT_SSH_COMMAND;
    process.env.GIT_SSH_COMMAND = ssh;
    try {
      await expect(push.pushBranch(bare, 'ssh://git@forge.invalid/team/app.git', head, 'bot/ssh')).rejects.toThrow(
        /pushing bot\/ssh failed/,
      );
    } finally {
      if (saved === undefined) delete process.env.GIT_SSH_COMMAND;
      else process.env.GIT_SSH_COMMAND = saved;
    }
    expect(await readFile(marker, 'utf8')).toMatch(/forge\.invalid/);
  });

  it('an HTTP push goes through the operator http_proxy', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'prbot-push-'));
    const { bare, checkout } = await makeUpstream(DEMO_REPO, path.join(dir, 'repo'));
    gitHttp = await startGitHttpServer(path.dirname(bare), TOKEN);
    const proxied: string[] = [];
    const proxy = http.createServer((req, res) => {
      proxied.push(`${req.method} ${req.url}`);
      const u = new URL(req.url!);
      const up = http.request(
        { host: u.hostname, port: u.port, path: u.pathname + u.search, method: req.method, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode!, r.headers);
          r.pipe(res);
        },
      );
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise((r) => proxy.close(() => r())));
    const head = (await git(['rev-parse', 'HEAD'], { cwd: checkout })).stdout.trim();
    const saved = {
      http_proxy: process.env.http_proxy,
      no_proxy: process.env.no_proxy,
      NO_PROXY: process.env.NO_PROXY,
    };
    process.env.http_proxy = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
    delete process.env.no_proxy;
    delete process.env.NO_PROXY;
    try {
      await push.pushBranch(bare, `${gitHttp.url}/${path.basename(bare)}`, head, 'bot/proxied', TOKEN);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    expect(proxied.some((l) => l.includes('git-receive-pack'))).toBe(true);
    expect((await git(['rev-parse', 'refs/heads/bot/proxied'], { cwd: bare })).stdout.trim()).toBe(head);
  });
});

describe('8. draftPrefix is checked against the WIP prefixes Gitea knows', () => {
  const base = {
    repo: { url: '/srv/r.git' },
    models: { providers: { l: { kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1' } }, propose: ['l/m'] },
  };
  const gitea = (f: Record<string, unknown>) =>
    parseConfig(
      { ...base, forge: { kind: 'gitea', baseUrl: 'https://git.example.com', owner: 'o', repo: 'r', ...f } },
      'prbot.config.json',
      {},
    );

  it('"Draft: " would open a normal PR on Gitea: refused naming forge.draftPrefix', () => {
    expect(() => gitea({ draftPrefix: 'Draft: ' })).toThrow(ConfigError);
    expect(() => gitea({ draftPrefix: 'Draft: ' })).toThrow(/forge\.draftPrefix: .*WORK_IN_PROGRESS_PREFIXES/);
  });

  it('"WIP: ", "[wip] " pass; a server list in forge.wipPrefixes allows its own', () => {
    expect(gitea({ draftPrefix: 'WIP: ' }).forge.draftPrefix).toBe('WIP: ');
    expect(gitea({ draftPrefix: '[wip] ' }).forge.draftPrefix).toBe('[wip] ');
    expect(gitea({ draftPrefix: 'Draft: ', wipPrefixes: ['Draft:'] }).forge.draftPrefix).toBe('Draft: ');
  });

  it('the stand-in marks a WIP: title as a draft, as Gitea does', async () => {
    const { forge, fake } = await world('gitea');
    await forge.openDraft(draft({ labels: [] }));
    expect(fake.pulls[0]!.draft).toBe(true);
  });
});

describe('9. the smaller ones', () => {
  it('GitHub: a branch whose open PR is past page 1 (newer closed ones from it first) is found open', async () => {
    const { forge, fake } = await world('github', { pageSize: 2 });
    fake.seedPull({ title: 'open one', body: '', head: 'bot/x', base: 'main' });
    for (const t of ['closed 1', 'closed 2'])
      fake.seedPull({ title: t, body: '', head: 'bot/x', base: 'release', state: 'closed' });
    const ref = await forge.findByBranch('bot/x');
    expect(ref).toMatchObject({ state: 'open', url: expect.stringMatching(/\/pull\/1$/) });
  });

  it('GitHub: a label answered 410 (issues off) is a warning, not silence', async () => {
    const { forge, fake } = await world('github', { issuesDisabled: true });
    const pr = await forge.openDraft(draft());
    expect(pr.state).toBe('open');
    expect(pr.warnings?.join(' ')).toMatch(/labels prbot not applied: .*HTTP 410.*Issues are disabled/);
    expect(fake.violations).toEqual([]);
  });

  it('GitHub: a fine-grained token without Issues write opens the PR and names the permission', async () => {
    const { forge, fake } = await world('github', {
      grant: { permissions: { contents: 'write', pull_requests: 'write', metadata: 'read' } },
    });
    const pr = await forge.openDraft(draft());
    expect(fake.pulls).toHaveLength(1);
    expect(pr.warnings?.join(' ')).toMatch(/HTTP 403.*issues=write.*Issues: read and write/);
  });

  it.each<Kind>(['gitea', 'github'])('%s: a missing base branch is named with the setting to fix', async (kind) => {
    const { forge } = await world(kind, {}, { base: 'trunk' });
    await expect(forge.openDraft(draft({ base: 'trunk', labels: [] }))).rejects.toThrow(
      /base branch \(repo\.base\) "trunk" does not exist in team\/app.*set repo\.base/,
    );
  });

  it("GitHub: a 422's errors[] details reach the reason", async () => {
    const { forge } = await world('github');
    await expect(forge.openDraft(draft({ branch: 'bot/never-pushed', labels: [] }))).rejects.toThrow(
      /bot branch "bot\/never-pushed".*PullRequest head invalid/,
    );
  });

  it.each<[string, Kind, Partial<FakeForgeOptions>]>([
    ['gitea 1.22 (/pulls/{base}/{head})', 'gitea', {}],
    ['gitea 1.21 (list and match)', 'gitea', { version: '1.21.11' }],
    ['github', 'github', {}],
  ])('%s: lookup by branch finds a closed or merged PR too, however many PRs there are', async (_n, kind, fo) => {
    const { forge, fake } = await world(kind, fo);
    const old = fake.seedPull({ head: 'bot/x' });
    fake.close(old.number, true);
    for (let i = 0; i < 50; i++) fake.seedPull({ head: `bot/other-${i}` });
    expect(await forge.findByBranch('bot/x')).toMatchObject({ state: 'merged', branch: 'bot/x' });
    expect(await forge.findByBranch('bot/none')).toBeNull();
    expect(fake.violations).toEqual([]);
  });

  it('Gitea: a 409 resolves to the PR it names', async () => {
    const { forge, fake } = await world('gitea');
    const a = await forge.openDraft(draft({ labels: [] }));
    const b = await forge.openDraft(draft({ labels: [] }));
    expect(b.url).toBe(a.url);
    expect(fake.requests.filter((q) => q.method === 'POST').map((q) => q.status)).toEqual([201, 409]);
  });
});
