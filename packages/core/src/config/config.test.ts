import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/index.ts';
import { loadConfig, parseConfig } from './index.ts';

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

  it('refuses unknown top-level keys, naming them', () => {
    const err = errorOf(() => parseConfig({ ...minimal, budjet: {} }, 'c.json', {}));
    expect(err.message).toMatch(/budjet/);
  });

  it('reports a JSON syntax error with the file', () => {
    const file = write('prbot.config.json', '{ "repo": ');
    expect(errorOf(() => loadConfig(file, {})).message).toMatch(/prbot\.config\.json[\s\S]*not valid JSON/);
  });

  it('reads YAML and reports YAML errors', () => {
    const ok = write('prbot.config.yaml', 'repo:\n  url: /srv/r.git\nmodels:\n  providers:\n    l: { kind: openai, baseUrl: "http://127.0.0.1:1/v1" }\n  propose: [l/m]\n');
    expect(loadConfig(ok, {}).repo.url).toBe('/srv/r.git');
    const bad = write('prbot.config.yaml', 'repo: [unclosed\n');
    expect(errorOf(() => loadConfig(bad, {})).message).toMatch(/YAML/);
  });

  it('refuses a ladder rung whose provider is not configured', () => {
    const err = errorOf(() => parseConfig({ ...minimal, models: { ...minimal.models, propose: ['nope/m'] } }, 'c.json', {}));
    expect(err.issues).toContainEqual({ field: 'models.propose.0', message: expect.stringMatching(/^unknown provider "nope" \(presets: ollama_cloud, openrouter, opencode, gateway\)$/) });
  });

  it('refuses to hand a secret to the tests through the env allow-list', () => {
    const models = { providers: { or: { kind: 'openai', baseUrl: 'https://openrouter.ai/api/v1', keyEnv: 'OR_KEY' } }, propose: ['or/m'] };
    const err = errorOf(() => parseConfig({ ...minimal, models, tests: { envAllow: ['PATH', 'OR_KEY'] } }, 'c.json', {}));
    expect(err.issues.map((i) => i.field)).toContain('tests.envAllow.1');
  });

  it('refuses a key written into provider headers', () => {
    const models = { providers: { l: { kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1', headers: { Authorization: 'Bearer x' } } }, propose: ['l/m'] };
    expect(errorOf(() => parseConfig({ ...minimal, models }, 'c.json', {})).message).toMatch(/keyEnv/);
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
