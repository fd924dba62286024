import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_REPO, makeUpstream, REPO_ROOT, startGiteaServer, startGithubServer, type FakeForge, type FakeForgeOptions } from '@prbot/test-support';

const TOKEN = 'tok-doctor-0123456789-SECRET';
let dir: string | undefined;
let fake: FakeForge | undefined;

afterEach(async () => {
  await fake?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = fake = undefined;
});

/** Runs `prbot doctor` as the operator would: a real process, a config file, the token in the environment. */
async function doctor(kind: 'gitea' | 'github', fo: Partial<FakeForgeOptions> = {}, repo: Record<string, unknown> = {}) {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-doctor-'));
  const { bare } = await makeUpstream(DEMO_REPO, path.join(dir, 'repo'));
  fake = await (kind === 'gitea' ? startGiteaServer : startGithubServer)({ owner: 'team', repo: 'app', token: TOKEN, bare, ...fo });
  const forge = kind === 'gitea' ? { kind, baseUrl: fake.url, owner: 'team', repo: 'app', tokenEnv: 'FORGE_TOKEN' } : { kind, apiUrl: fake.url, owner: 'team', repo: 'app', tokenEnv: 'FORGE_TOKEN' };
  const config = path.join(dir, 'prbot.config.json');
  await writeFile(config, JSON.stringify({ repo: { url: bare, ...repo }, models: { providers: { l: { kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1' } }, propose: ['l/m'] }, forge }));
  const r = await execa('node', ['--import', 'tsx', path.join(REPO_ROOT, 'apps/producer/src/cli.ts'), 'doctor', '--config', config], {
    cwd: REPO_ROOT,
    reject: false,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, FORGE_TOKEN: TOKEN },
    extendEnv: false,
  });
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
    expect(r.out).toMatch(/FAIL labels: the token cannot use labels \(token does not have at least one of required scope\(s\): \[read:issue\]\)/);
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

  it('github: a private repository without drafts is named with the fallback', async () => {
    const r = await doctor('github', { private: true, draftsSupported: false });
    expect(r.out).toMatch(/warn draft: team\/app is private: on GitHub Free\/Pro plans draft PRs are not supported there, so prbot opens normal PRs titled "WIP: …"/);
    expect(r.out).toMatch(/ok {3}token: FORGE_TOKEN authenticates as prbot-bot \(classic token, scopes: repo\)/);
    expect(r.code).toBe(0);
    expect(fake!.violations).toEqual([]);
  });

  it('github: a classic token without repo scope on a private repository fails the repository check', async () => {
    const r = await doctor('github', { private: true, grant: { scopes: ['public_repo'] } });
    expect(r.out).toMatch(/FAIL repository: .*cannot push to team\/app/);
    expect(r.code).toBe(1);
  });
});
