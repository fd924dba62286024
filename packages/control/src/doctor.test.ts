import { execa } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEMO_REPO,
  makeUpstream,
  REPO_ROOT,
  startGiteaServer,
  startGithubServer,
  startGitHttpServer,
  type FakeForge,
  type FakeForgeOptions,
  type GitHttpOptions,
  type GitHttpServer,
} from '@prbot/test-support';

const TOKEN = 'tok-doctor-0123456789-SECRET';
let dir: string | undefined;
let fake: FakeForge | undefined;
let gitHttp: GitHttpServer | undefined;

afterEach(async () => {
  await fake?.stop();
  await gitHttp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = fake = gitHttp = undefined;
});

/** Runs `prbot doctor` as the operator would: a real process, a config file, the token in the environment. */
/** Starts `prbot worker --queues pr,events` on the same config as the last doctor() call: its start check. */
async function workerStart(kind: 'gitea' | 'github', fo: Partial<FakeForgeOptions> = {}) {
  await doctor(kind, fo);
  const config = path.join(dir!, 'prbot.config.json');
  const raw = JSON.parse(await readFile(config, 'utf8')) as Record<string, unknown>;
  await writeFile(
    config,
    JSON.stringify({
      ...raw,
      redis: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix: `{prbot-doctor-${process.pid}}` },
      workdir: path.join(dir!, 'work'),
    }),
  );
  const r = await execa(
    'node',
    ['--import', 'tsx', path.join(REPO_ROOT, 'apps/worker/src/main.ts'), '--queues', 'pr,events', '--config', config],
    {
      cwd: REPO_ROOT,
      reject: false,
      timeout: 60_000,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, FORGE_TOKEN: TOKEN, PRBOT_JOB_KEY: 'k'.repeat(64) },
      extendEnv: false,
    },
  );
  expect(r.stdout + r.stderr).not.toContain(TOKEN);
  return { code: r.exitCode, out: r.stdout + r.stderr };
}

async function doctor(
  kind: 'gitea' | 'github',
  fo: Partial<FakeForgeOptions> = {},
  repo: Record<string, unknown> = {},
  git?: GitHttpOptions,
) {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-doctor-'));
  const { bare } = await makeUpstream(DEMO_REPO, path.join(dir, 'repo'));
  fake = await (kind === 'gitea' ? startGiteaServer : startGithubServer)({
    owner: 'team',
    repo: 'app',
    token: TOKEN,
    bare,
    ...fo,
  });
  // Pushes go to the bare repository itself, or through git's HTTP protocol when the test models a push refusal.
  let remote = bare;
  if (git) {
    gitHttp = await startGitHttpServer(path.dirname(bare), 'another-token', git);
    remote = `${gitHttp.url}/${path.basename(bare)}`;
  }
  const forge =
    kind === 'gitea'
      ? { kind, baseUrl: fake.url, remote, owner: 'team', repo: 'app', tokenEnv: 'FORGE_TOKEN' }
      : { kind, apiUrl: fake.url, remote, owner: 'team', repo: 'app', tokenEnv: 'FORGE_TOKEN' };
  const config = path.join(dir, 'prbot.config.json');
  await writeFile(
    config,
    JSON.stringify({
      repo: { url: bare, ...repo },
      models: { providers: { l: { kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1' } }, propose: ['l/m'] },
      forge,
    }),
  );
  const r = await execa(
    'node',
    ['--import', 'tsx', path.join(REPO_ROOT, 'apps/producer/src/cli.ts'), 'doctor', '--config', config],
    {
      cwd: REPO_ROOT,
      reject: false,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, FORGE_TOKEN: TOKEN },
      extendEnv: false,
    },
  );
  expect(r.stdout + r.stderr).not.toContain(TOKEN);
  return { code: r.exitCode, out: r.stdout, err: r.stderr };
}

describe('prbot doctor', () => {
  it('gitea: all well → exit 0', async () => {
    const r = await doctor('gitea');
    expect(r.out).toMatch(/ok {3}token: FORGE_TOKEN authenticates as prbot-bot/);
    expect(r.out).toContain('nothing would fail');
    expect(r.code).toBe(0);
    expect(fake!.violations).toEqual([]);
  });

  it('gitea: a token without the issue scope is named, with the fix, exit 1', async () => {
    const r = await doctor('gitea', { scopes: ['write:repository', 'read:user'] });
    expect(r.out).toMatch(
      /FAIL labels: the token cannot use labels \(token does not have at least one of required scope\(s\): \[read:issue\]\)/,
    );
    expect(r.out).toMatch(/fix: give the token write:issue .* or set forge\.labels to \[\]/);
    expect(r.out).toContain('would fail: labels');
    expect(r.code).toBe(1);
  });

  it.each(['gitea', 'github'] as const)('%s: a missing base branch is named, exit 1', async (kind) => {
    const r = await doctor(kind, {}, { base: 'trunk' });
    expect(r.out).toMatch(/FAIL base branch: base branch "trunk" does not exist in team\/app/);
    expect(r.out).toMatch(/fix: set repo\.base to an existing branch/);
    expect(r.code).toBe(1);
  });

  // Draft support decided by what GitHub decides it from (owner type, organisation plan): the
  // stand-in's draftsSupported alone turns the verdict, private or not.
  it("github: an organisation's private repository: drafts ok on a paid plan, warned on Free, said unknown when the plan is hidden", async () => {
    const paid = await doctor('github', { private: true, org: true, draftsSupported: true });
    expect(paid.out).toMatch(/ok {3}draft: team\/app is private and team is on the team plan: draft PRs are supported/);
    const free = await doctor('github', { private: true, org: true, draftsSupported: false });
    expect(free.out).toMatch(
      /warn draft: team\/app is private and team is on GitHub Free: no draft PRs there, so prbot opens normal PRs titled "WIP: …"/,
    );
    const hidden = await doctor('github', { private: true, org: true, planHidden: true });
    expect(hidden.out).toMatch(/warn draft: team\/app is private and this token cannot see team's plan/);
  });

  it('github: a private repository without drafts is named with the fallback', async () => {
    const r = await doctor('github', { private: true, draftsSupported: false });
    expect(r.out).toMatch(
      /warn draft: team\/app is a private repository of a user account: GitHub has no draft PRs there, so prbot opens normal PRs titled "WIP: …"/,
    );
    expect(r.out).toMatch(/ok {3}token: FORGE_TOKEN authenticates as prbot-bot \(classic token, scopes: repo\)/);
    expect(r.code).toBe(0);
    expect(fake!.violations).toEqual([]);
  });

  it('github: a classic token without repo scope on a private repository fails the repository check', async () => {
    const r = await doctor('github', { private: true, grant: { scopes: ['public_repo'] } });
    expect(r.out).toMatch(/FAIL repository: .*cannot push to team\/app/);
    expect(r.code).toBe(1);
  });

  // Every shortfall a real token can have, each named before any cycle runs.
  it('gitea: a token with read:repository only (no write:repository) fails "pull requests" naming the scope', async () => {
    const r = await doctor('gitea', { scopes: ['read:repository', 'write:issue', 'read:user', 'read:organization'] });
    expect(r.out).toMatch(/FAIL pull requests: .*lacks the scope write:repository/);
    expect(r.out).toMatch(/fix: give the token the scope write:repository/);
    expect(r.code).toBe(1);
    expect(fake!.violations).toEqual([]);
    expect(fake!.pulls).toHaveLength(0);
  });

  it('gitea: a token without read:user is named as a warning (only revise cycles need it)', async () => {
    const r = await doctor('gitea', { scopes: ['write:repository', 'write:issue'] });
    expect(r.out).toMatch(/warn token: FORGE_TOKEN is valid but cannot read its user: .*lacks the scope read:user/);
    expect(r.out).toMatch(/fix: give the token read:user for revise cycles/);
    expect(r.code).toBe(0);
  });

  it('gitea: the token user has read access only: repository and push both fail', async () => {
    const r = await doctor(
      'gitea',
      { botAccess: 'read' },
      {},
      { readOnly: { [TOKEN]: 'User permission denied for writing.' } },
    );
    expect(r.out).toMatch(/FAIL repository: the token's user cannot push to team\/app/);
    expect(r.out).toMatch(
      /FAIL push: the remote would refuse the bot's push: the token has no write access to the repository/,
    );
    expect(r.code).toBe(1);
  });

  it.each(['gitea', 'github'] as const)('%s: an archived repository fails before any cycle', async (kind) => {
    const r = await doctor(kind, { archived: true });
    expect(r.out).toMatch(/FAIL repository: team\/app is archived \(read-only\)/);
    expect(r.out).toMatch(/FAIL pull requests: .*archived/);
    expect(r.code).toBe(1);
    expect(fake!.pulls).toHaveLength(0);
  });

  it.each(['gitea', 'github'] as const)(
    '%s: an expired or revoked token fails "token" with HTTP 401 and the fix',
    async (kind) => {
      const r = await doctor(kind, { token: 'some-other-token' });
      expect(r.out).toMatch(/FAIL token: .*rejected the token \(HTTP 401\)/);
      expect(r.out).toMatch(/fix: put a valid, unexpired token in FORGE_TOKEN/);
      expect(r.code).toBe(1);
    },
  );

  it('github: a fine-grained token without Pull requests: write fails "pull requests" naming the permission', async () => {
    const r = await doctor('github', {
      grant: { permissions: { contents: 'write', metadata: 'read', issues: 'write', pull_requests: 'read' } },
    });
    expect(r.out).toMatch(/ok {3}repository: team\/app is reachable and writable/);
    expect(r.out).toMatch(
      /FAIL pull requests: the token cannot open pull requests in team\/app: Resource not accessible by personal access token/,
    );
    expect(r.out).toMatch(/fix: fine-grained token: Pull requests: read and write/);
    expect(r.code).toBe(1);
    expect(fake!.violations).toEqual([]);
    expect(fake!.pulls).toHaveLength(0);
  });

  it('github: a fine-grained token without Contents: write fails repository and push', async () => {
    const r = await doctor(
      'github',
      { grant: { permissions: { contents: 'read', metadata: 'read', issues: 'write', pull_requests: 'write' } } },
      {},
      { readOnly: { [TOKEN]: 'Write access to repository not granted.' } },
    );
    expect(r.out).toMatch(/FAIL repository: the token cannot push to team\/app/);
    expect(r.out).toMatch(
      /FAIL push: .*the token has no write access to the repository \(.*Write access to repository not granted/,
    );
    expect(r.code).toBe(1);
  });

  it('github: a classic token without repo (public_repo) on a public repository passes; with no scopes it fails pull requests and repository', async () => {
    const ok = await doctor('github', { grant: { scopes: ['public_repo'] } });
    expect(ok.code).toBe(0);
    await fake!.stop();
    await rm(dir!, { recursive: true, force: true });
    const bad = await doctor('github', { grant: { scopes: [] } });
    expect(bad.out).toMatch(/ok {3}token: .*classic token, scopes: none/);
    expect(bad.out).toMatch(/FAIL repository: .*cannot push to team\/app/);
    expect(bad.out).toMatch(/FAIL pull requests: the token cannot open pull requests/);
    expect(bad.code).toBe(1);
  });

  it.each([
    [
      'gitea',
      { scopes: ['read:repository', 'write:issue', 'read:user'] },
      /pull requests: .*lacks the scope write:repository/,
    ],
    ['gitea', { archived: true }, /repository: team\/app is archived/],
    [
      'github',
      { grant: { permissions: { contents: 'write', metadata: 'read', pull_requests: 'read' } } },
      /pull requests: the token cannot open pull requests/,
    ],
    ['github', { token: 'revoked-meanwhile' }, /token: .*rejected the token \(HTTP 401\)/],
  ] as const)(
    'the pr worker refuses to start on a %s shortfall, naming it (%o)',
    async (kind, fo, named) => {
      const r = await workerStart(kind, fo as Partial<FakeForgeOptions>);
      expect(r.out).toMatch(/prbot worker: refusing to run the pr queue: .* would refuse every PR/);
      expect(r.out).toMatch(named);
      expect(r.code).toBe(1);
      expect(fake!.pulls).toHaveLength(0);
    },
    90_000,
  );
});
