import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@prbot/core';
import { loadConfig, parseConfig } from './load.ts';

const minimal = {
  repo: { url: '/srv/repo.git' },
  models: { providers: { local: { kind: 'openai', baseUrl: 'http://127.0.0.1:3100/v1' } }, propose: ['local/m'] },
};

function write(name: string, text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'prbot-cfg-'));
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('fills defaults for a minimal config', () => {
    const cfg = parseConfig(minimal, '/x/prbot.config.json', {});
    expect(cfg.budget).toMatchObject({ callsPerDay: 20, tokensPerDay: 160_000, onExhausted: 'skip' });
    expect(cfg.redis.prefix).toBe('{prbot}');
    expect(cfg.queues.propose.limiter).toEqual({ max: 30, duration: 60_000 });
    expect(cfg.queues.test.limiter).toBeNull();
    expect(cfg.repo).toMatchObject({ base: 'main', prd: 'docs/PRD.md' });
  });

  it('names the file and the field of a bad value', () => {
    const file = write('prbot.config.json', JSON.stringify({ ...minimal, budget: { callsPerDay: -3 } }));
    const err = errorOf(() => loadConfig(file, {}));
    expect(err.file).toBe(file);
    expect(err.message).toContain(file);
    expect(err.issues.map((i) => i.field)).toContain('budget.callsPerDay');
  });

  it('workdir: the plain string keeps working, the object form adds maxBytes (default: no cap), a bad cap is named', () => {
    expect(parseConfig(minimal, 'c.json', {}).workdir).toEqual({ path: 'data/_work' });
    expect(parseConfig({ ...minimal, workdir: '/var/prbot' }, 'c.json', {}).workdir).toEqual({ path: '/var/prbot' });
    expect(parseConfig({ ...minimal, workdir: { path: '/w', maxBytes: 20e9 } }, 'c.json', {}).workdir).toEqual({
      path: '/w',
      maxBytes: 20e9,
    });
    expect(parseConfig({ ...minimal, workdir: { maxBytes: 1024 } }, 'c.json', {}).workdir).toEqual({
      path: 'data/_work',
      maxBytes: 1024,
    });
    for (const bad of [
      { path: '/w', maxBytes: 0 },
      { path: '/w', maxBytes: 1.5 },
      { path: '/w', maxBytes: '20G' },
    ])
      expect(errorOf(() => parseConfig({ ...minimal, workdir: bad }, 'c.json', {})).message).toMatch(
        /workdir\.maxBytes/,
      );
    expect(errorOf(() => parseConfig({ ...minimal, workdir: 5 }, 'c.json', {})).message).toMatch(/- workdir: /);
    expect(errorOf(() => parseConfig({ ...minimal, workdir: { path: '/w', cap: 1 } }, 'c.json', {})).message).toMatch(
      /workdir\.cap: unknown key/,
    );
  });

  it('refuses unknown top-level keys, naming them', () => {
    const err = errorOf(() => parseConfig({ ...minimal, budjet: {} }, 'c.json', {}));
    expect(err.message).toMatch(/budjet/);
  });

  it('reports a JSON syntax error with the file', () => {
    const file = write('prbot.config.json', '{ "repo": ');
    expect(errorOf(() => loadConfig(file, {})).message).toMatch(/prbot\.config\.json[\s\S]*not valid JSON/);
  });

  it('reads YAML and reports YAML errors', () => {
    const ok = write(
      'prbot.config.yaml',
      'repo:\n  url: /srv/r.git\nmodels:\n  providers:\n    l: { kind: openai, baseUrl: "http://127.0.0.1:1/v1" }\n  propose: [l/m]\n',
    );
    expect(loadConfig(ok, {}).repo.url).toBe('/srv/r.git');
    const bad = write('prbot.config.yaml', 'repo: [unclosed\n');
    expect(errorOf(() => loadConfig(bad, {})).message).toMatch(/YAML/);
  });

  it('refuses a ladder rung whose provider is not configured', () => {
    const err = errorOf(() =>
      parseConfig({ ...minimal, models: { ...minimal.models, propose: ['nope/m'] } }, 'c.json', {}),
    );
    expect(err.issues).toContainEqual({
      field: 'models.propose.0',
      message: expect.stringMatching(
        /^unknown provider "nope" \(presets: ollama_cloud, openrouter, opencode, gateway\)$/,
      ),
    });
  });

  it('refuses to hand a secret to the tests through the env allow-list', () => {
    const models = {
      providers: { or: { kind: 'openai', baseUrl: 'https://openrouter.ai/api/v1', keyEnv: 'OR_KEY' } },
      propose: ['or/m'],
    };
    const err = errorOf(() =>
      parseConfig({ ...minimal, models, tests: { envAllow: ['PATH', 'OR_KEY'] } }, 'c.json', {}),
    );
    expect(err.issues.map((i) => i.field)).toContain('tests.envAllow.1');
  });

  it('refuses a key written into provider headers', () => {
    const models = {
      providers: { l: { kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1', headers: { Authorization: 'Bearer x' } } },
      propose: ['l/m'],
    };
    expect(errorOf(() => parseConfig({ ...minimal, models }, 'c.json', {})).message).toMatch(
      /models\.providers\.l\.headers\.Authorization: .*keyEnv/,
    );
  });

  const fields = (raw: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
    errorOf(() => parseConfig({ ...minimal, ...raw }, 'c.json', env));
  const provider = (p: Record<string, unknown>) => ({
    providers: { x: { kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1', ...p } },
    propose: ['x/m'],
  });

  it('refuses an unknown key anywhere, naming its path, with a hint for key-like names', () => {
    const err = fields({ models: provider({ apiKey: 'sk-1234567890' }) });
    expect(err.issues).toContainEqual({
      field: 'models.providers.x.apiKey',
      message: 'unknown key; keys come from environment variables, see README',
    });
    expect(err.message).toContain(
      'models.providers.x.apiKey: unknown key; keys come from environment variables, see README',
    );
    expect(err.message).not.toContain('sk-1234567890');
    expect(fields({ budget: { perCycle: { calls: 2, cals: 3 } } }).issues).toContainEqual({
      field: 'budget.perCycle.cals',
      message: 'unknown key',
    });
    expect(fields({ queues: { test: { concurency: 2 } } }).issues.map((i) => i.field)).toContain(
      'queues.test.concurency',
    );
    expect(fields({ forge: { kind: 'local', token: 'x' } }).issues).toContainEqual({
      field: 'forge.token',
      message: expect.stringMatching(/unknown key; keys come from environment/),
    });
    expect(
      fields({ models: { providers: { p: { preset: 'openrouter', apiKey: 'k' } }, propose: ['p/m'] } }).issues.map(
        (i) => i.field,
      ),
    ).toContain('models.providers.p.apiKey');
    expect(fields({ tests: { runAs: { uid: 1, gid: 1, user: 'x' } } }).issues.map((i) => i.field)).toContain(
      'tests.runAs.user',
    );
  });

  it.each([
    ['x-api-key', { 'x-api-key': 'abc123456789' }],
    ['api-key', { 'api-key': 'abc123456789' }],
    ['Authorization', { Authorization: 'Bearer abc' }],
    ['X-Auth-Token', { 'X-Auth-Token': 'abc' }],
    ['X-Custom', { 'X-Custom': 'Bearer sk-abcdefabcdefabcdef' }],
  ])('refuses a credential in the %s header, naming it', (name, headers) => {
    const err = fields({ models: provider({ headers }) });
    expect(err.issues).toContainEqual({
      field: `models.providers.x.headers.${name}`,
      message: expect.stringMatching(/credential in a header.*keyEnv/),
    });
  });

  it('keeps harmless headers', () => {
    expect(
      parseConfig(
        { ...minimal, models: provider({ headers: { 'X-Title': 'prbot', 'HTTP-Referer': 'https://example.com' } }) },
        'c.json',
        {},
      ).models.providers.x,
    ).toBeDefined();
  });

  it.each([
    [
      'models.providers.x.baseUrl',
      { models: provider({ baseUrl: 'https://user:sk-123@api.example.com/v1' }) },
      /user:password@/,
    ],
    [
      'models.providers.x.baseUrl',
      { models: provider({ baseUrl: 'https://sk-123@api.example.com/v1' }) },
      /user:password@/,
    ],
    [
      'models.providers.x.baseUrl',
      { models: provider({ baseUrl: 'https://api.example.com/v1?key=sk-123' }) },
      /\?key=/,
    ],
    [
      'models.providers.x.baseUrl',
      { models: provider({ baseUrl: 'https://api.example.com/v1?api_key=sk-123' }) },
      /\?api_key=/,
    ],
    [
      'models.providers.x.baseUrl',
      { models: provider({ baseUrl: 'https://api.example.com/v1?access_token=t' }) },
      /\?access_token=/,
    ],
    ['observer.url', { observer: { url: 'https://obs.example.com/events?token=abc' } }, /\?token=/],
    ['observer.url', { observer: { url: 'https://bot:pw@obs.example.com/events' } }, /user:password@/],
    [
      'forge.baseUrl',
      { forge: { kind: 'gitea', baseUrl: 'https://u:t@git.example.com', owner: 'o', repo: 'r' } },
      /user:password@/,
    ],
    [
      'forge.remote',
      { forge: { kind: 'github', owner: 'o', repo: 'r', remote: 'https://x-access-token:ghp_x@github.com/o/r.git' } },
      /user:password@/,
    ],
    ['repo.url', { repo: { url: 'https://oauth2:glpat-x@gitlab.example.com/o/r.git' } }, /user:password@/],
    ['redis.url', { redis: { url: 'redis://:hunter2hunter2@127.0.0.1:6379' } }, /REDIS_URL in the environment/],
    ['redis.cluster.0', { redis: { cluster: ['redis://default:pw@10.0.0.1:7000'] } }, /REDIS_URL in the environment/],
    [
      'redis.sentinel.nodes.1',
      { redis: { sentinel: { name: 'm', nodes: ['redis://10.0.0.1:26379', 'redis://:pw@10.0.0.2:26379'] } } },
      /REDIS_URL in the environment/,
    ],
  ])('refuses credentials in %s', (field, raw, why) => {
    const err = fields(raw);
    expect(err.issues).toContainEqual({ field, message: expect.stringMatching(why) });
    expect(err.message).toContain(`${field}: `);
  });

  it('reads redis.sentinel and worker.healthPort, and refuses Cluster and Sentinel together or a sentinel without nodes, naming the field', () => {
    const cfg = parseConfig(
      {
        ...minimal,
        redis: { sentinel: { name: 'prbot', nodes: ['redis://10.0.0.1:26379'] } },
        worker: { healthPort: 9464 },
      },
      'c.json',
      {},
    );
    expect(cfg.redis.sentinel).toEqual({ name: 'prbot', nodes: ['redis://10.0.0.1:26379'] });
    expect(cfg.redis.waitReplicas).toBe(1);
    expect(cfg.worker.healthPort).toBe(9464);
    expect(parseConfig(minimal, 'c.json', {}).worker.healthPort).toBeUndefined();
    const both = fields({
      redis: { cluster: ['redis://10.0.0.1:7000'], sentinel: { name: 'm', nodes: ['redis://10.0.0.1:26379'] } },
    });
    expect(both.message).toContain('redis.sentinel: set redis.cluster or redis.sentinel, not both');
    expect(fields({ redis: { sentinel: { name: 'm', nodes: [] } } }).message).toContain('redis.sentinel.nodes');
    expect(fields({ worker: { healthPort: 70000 } }).message).toContain('worker.healthPort');
  });

  it('takes a Redis password from REDIS_URL in the environment, and ssh user names in URLs', () => {
    const cfg = parseConfig(minimal, 'c.json', { REDIS_URL: 'redis://:hunter2hunter2@127.0.0.1:6379' });
    expect(cfg.redis.url).toBe('redis://:hunter2hunter2@127.0.0.1:6379');
    expect(
      parseConfig({ ...minimal, repo: { url: 'ssh://git@git.example.com/o/r.git' } }, 'c.json', {}).repo.url,
    ).toMatch(/^ssh:/);
  });

  it.each([
    'REDIS_URL',
    'PRBOT_JOB_KEY',
    'GITEA_TOKEN',
    'MY_API_KEY',
    'DB_PASSWORD',
    'AWS_SECRET_ACCESS_KEY',
    'DATABASE_URL',
    'NPM_AUTH',
    'redis_url',
  ])('refuses %s in tests.envAllow, naming the entry', (name) => {
    const err = fields({
      forge: { kind: 'gitea', baseUrl: 'https://git.example.com', owner: 'o', repo: 'r' },
      tests: { envAllow: ['PATH', name] },
    });
    expect(err.issues).toContainEqual({
      field: 'tests.envAllow.1',
      message: `"${name}" looks like a secret; tests never see secrets`,
    });
  });

  it('takes REDIS_URL from the environment and PRBOT_CONFIG as the path', () => {
    const file = write('custom.json', JSON.stringify(minimal));
    const cfg = loadConfig(undefined, { PRBOT_CONFIG: file, REDIS_URL: 'redis://10.0.0.1:6380' });
    expect(cfg.redis.url).toBe('redis://10.0.0.1:6380');
    expect(cfg.file).toBe(file);
  });

  it('says where it looked when there is no config file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'prbot-none-'));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      expect(errorOf(() => loadConfig(undefined, {})).message).toMatch(/no config file found.*PRBOT_CONFIG/);
    } finally {
      process.chdir(cwd);
    }
  });
});
