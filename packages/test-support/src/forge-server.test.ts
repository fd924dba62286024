import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startGiteaServer, startGithubServer, type FakeForge } from './forge-server.ts';
import { DEMO_REPO } from './harness.ts';
import { makeUpstream } from './upstream.ts';

const TOKEN = 'tok-standin';
let dir: string | undefined;
let fake: FakeForge | undefined;
afterEach(async () => {
  await fake?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = fake = undefined;
});

async function bare() {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-standin-'));
  return (await makeUpstream(DEMO_REPO, path.join(dir, 'repo'))).bare;
}

const call = async (url: string, init: RequestInit & { auth?: string } = {}) => {
  const r = await fetch(url, {
    ...init,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'test',
      'x-github-api-version': '2022-11-28',
      ...(init.auth ? { authorization: init.auth } : {}),
    },
  });
  return { status: r.status, headers: r.headers, body: (await r.text()) as string };
};

describe('the Gitea stand-in refuses what Gitea would', () => {
  it('checks body fields and types, query enums and names, and token scopes by route group', async () => {
    fake = await startGiteaServer({
      owner: 'team',
      repo: 'app',
      token: TOKEN,
      bare: await bare(),
      scopes: ['write:repository'],
      subPath: '/gitea',
    });
    const api = `${fake.url}/api/v1/repos/team/app`;
    const auth = `token ${TOKEN}`;
    const labelsAsNames = await call(`${api}/pulls`, {
      method: 'POST',
      auth,
      body: JSON.stringify({ head: 'main', base: 'main', title: 't', labels: ['prbot'] }),
    });
    expect(labelsAsNames.status).toBe(422);
    expect(JSON.parse(labelsAsNames.body).message).toMatch(/labels\/0 must be integer/);
    const draftField = await call(`${api}/pulls`, {
      method: 'POST',
      auth,
      body: JSON.stringify({ head: 'main', base: 'main', title: 't', draft: true }),
    });
    expect(draftField.status).toBe(422);
    expect(JSON.parse(draftField.body).message).toMatch(/must NOT have additional properties "draft"/);
    expect(JSON.parse((await call(`${api}/pulls?state=merged`, { auth })).body).message).toMatch(
      /"state"="merged" is not one of open, closed, all/,
    );
    expect(JSON.parse((await call(`${api}/pulls?per_page=5`, { auth })).body).message).toMatch(
      /unknown query parameter\(s\) per_page/,
    );
    const labels = await call(`${api}/labels`, { auth });
    expect(labels.status).toBe(403);
    expect(JSON.parse(labels.body).message).toBe('token does not have at least one of required scope(s): [read:issue]');
    expect(fake.violations).toHaveLength(4);
  });

  it('pages with Links built from ROOT_URL (sub-path kept) and X-Total-Count', async () => {
    fake = await startGiteaServer({
      owner: 'team',
      repo: 'app',
      token: TOKEN,
      bare: await bare(),
      subPath: '/gitea',
      pageSize: 2,
    });
    for (let i = 0; i < 5; i++) fake.seedPull({ head: `bot/${i}` });
    const r = await call(`${fake.url}/api/v1/repos/team/app/pulls?state=all&limit=50&page=2`, {
      auth: `token ${TOKEN}`,
    });
    expect(r.headers.get('x-total-count')).toBe('5');
    expect(r.headers.get('link')).toBe(
      `<${fake.url}/api/v1/repos/team/app/pulls?state=all&limit=50&page=3>; rel="next",<${fake.url}/api/v1/repos/team/app/pulls?state=all&limit=50&page=3>; rel="last",<${fake.url}/api/v1/repos/team/app/pulls?state=all&limit=50&page=1>; rel="first",<${fake.url}/api/v1/repos/team/app/pulls?state=all&limit=50&page=1>; rel="prev"`,
    );
    expect(JSON.parse(r.body)).toHaveLength(2);
  });
});

describe('the GitHub stand-in refuses what GitHub would', () => {
  it('checks bodies, enums, headers; Links name the repository by id; rate-limit headers on every answer', async () => {
    fake = await startGithubServer({ owner: 'team', repo: 'app', token: TOKEN, bare: await bare(), pageSize: 2 });
    const api = `${fake.url}/repos/team/app`;
    const auth = `Bearer ${TOKEN}`;
    expect(
      (
        await call(`${api}/pulls`, {
          method: 'POST',
          auth,
          body: JSON.stringify({ head: 'main', base: 'main', title: 't', draft: 'yes' }),
        })
      ).body,
    ).toMatch(/\/draft must be boolean/);
    expect((await call(`${api}/pulls?state=merged`, { auth })).status).toBe(422);
    for (let i = 0; i < 3; i++) fake.seedPull({ head: `bot/${i}` });
    const r = await call(`${api}/pulls?state=all&per_page=2`, { auth });
    expect(r.headers.get('link')).toMatch(
      new RegExp(`^<${fake.url}/repositories/\\d+/pulls\\?state=all&per_page=2&page=2>; rel="next", `),
    );
    expect(r.headers.get('x-ratelimit-remaining')).toMatch(/^\d+$/);
    expect((await call(`${api}/pulls`, {})).status).toBe(401);
    expect(fake.violations).toHaveLength(2);
  });
});

describe('the stand-ins check a token before the body, as the servers do (prbot doctor relies on it)', () => {
  it('Gitea: an empty create answers 403 without write:repository, 423 on an archived repository, 422 when allowed; nothing is created', async () => {
    const b = await bare();
    const probe = async (o: Partial<Parameters<typeof startGiteaServer>[0]>) => {
      fake = await startGiteaServer({ owner: 'team', repo: 'app', token: TOKEN, bare: b, ...o });
      const r = await call(`${fake.url}/api/v1/repos/team/app/pulls`, {
        method: 'POST',
        auth: `token ${TOKEN}`,
        body: '{}',
      });
      const seen = {
        status: r.status,
        message: JSON.parse(r.body).message as string,
        pulls: fake.pulls.length,
        violations: [...fake.violations],
        probes: fake.probes.length,
      };
      await fake.stop();
      fake = undefined;
      return seen;
    };
    expect(await probe({ scopes: ['read:repository', 'write:issue'] })).toMatchObject({
      status: 403,
      message: 'token does not have at least one of required scope(s): [write:repository]',
      pulls: 0,
    });
    expect(await probe({ archived: true })).toMatchObject({
      status: 423,
      message: 'repo team/app is archived',
      pulls: 0,
    });
    expect(await probe({})).toMatchObject({
      status: 422,
      message: '[Head]: Required, [Base]: Required, [Title]: Required',
      pulls: 0,
      violations: [],
    });
  });

  it('GitHub: an empty create answers 403 without Pull requests: write, 403 on an archived repository, 422 when allowed', async () => {
    const b = await bare();
    const probe = async (o: Partial<Parameters<typeof startGithubServer>[0]>) => {
      fake = await startGithubServer({ owner: 'team', repo: 'app', token: TOKEN, bare: b, ...o });
      const r = await call(`${fake.url}/repos/team/app/pulls`, { method: 'POST', auth: `token ${TOKEN}`, body: '{}' });
      const seen = {
        status: r.status,
        message: JSON.parse(r.body).message as string,
        accepted: r.headers.get('x-accepted-github-permissions'),
        pulls: fake.pulls.length,
        violations: [...fake.violations],
      };
      await fake.stop();
      fake = undefined;
      return seen;
    };
    expect(await probe({ grant: { permissions: { contents: 'write', pull_requests: 'read' } } })).toMatchObject({
      status: 403,
      message: 'Resource not accessible by personal access token',
      accepted: 'pull_requests=write',
      pulls: 0,
    });
    expect(await probe({ archived: true })).toMatchObject({
      status: 403,
      message: 'Repository was archived so is read-only.',
      pulls: 0,
    });
    expect(await probe({})).toMatchObject({ status: 422, pulls: 0, violations: [] });
  });
});
