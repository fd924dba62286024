import { describe, expect, it } from 'vitest';
import { ConfigError } from '@prbot/core';
import { canonicalUrl, forRepository, parseConfig } from './load.ts';

const models = {
  providers: { local: { kind: 'openai', baseUrl: 'http://127.0.0.1:3100/v1' } },
  propose: ['local/m'],
};

function fieldsOf(raw: Record<string, unknown>): string[] {
  try {
    parseConfig({ models, ...raw }, '/x/prbot.config.json', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => i.field);
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('repos: many repositories', () => {
  it('reads the single repo: form as a one-item list whose view is the config itself', () => {
    const cfg = parseConfig(
      { models, repo: { url: '/srv/shop.git', base: 'trunk' }, tests: { commands: [['make', 'check']] } },
      '/x/prbot.config.json',
      {},
    );
    expect(cfg.repoForm).toBe('repo');
    expect(cfg.repositories).toHaveLength(1);
    const [only] = cfg.repositories;
    expect(only!.name).toBe('shop');
    expect(only!.repo).toEqual(cfg.repo);
    const view = forRepository(cfg, only!);
    // One-item equivalence: the view sees exactly what today's code sees.
    expect({ ...view, repositories: [] }).toEqual({ ...cfg, repositories: [] });
  });

  it('merges defaults into each entry, entries winning, and the top-level sections under both', () => {
    const cfg = parseConfig(
      {
        models,
        tests: { commands: [['npm', 'test']], timeoutMs: 1000 },
        guardrails: { forbidden: ['secrets/**'] },
        forge: { kind: 'local', maxOpen: 3 },
        defaults: {
          base: 'develop',
          forge: { kind: 'gitea', baseUrl: 'http://git.example', owner: 'acme' },
          tests: { setup: [['npm', 'ci']] },
          guardrails: { forbidden: ['infra/**'] },
          limits: { maxOpen: 2 },
        },
        repos: [
          { url: 'http://git.example/acme/api.git', forge: { repo: 'api' }, budget: { calls: 5 } },
          {
            url: 'http://git.example/acme/web.git',
            name: 'web',
            base: 'main',
            prd: 'PRD.md',
            forge: { repo: 'web', maxPerHour: 4 },
            tests: { commands: [['pnpm', 'test']] },
            guardrails: { forbidden: ['deploy/**'] },
            limits: { maxOpen: 7 },
          },
        ],
      },
      '/x/prbot.config.json',
      {},
    );
    expect(cfg.repoForm).toBe('repos');
    const [api, web] = cfg.repositories;
    expect(api!.name).toBe('acme-api');
    expect(api!.repo).toEqual({
      url: 'http://git.example/acme/api.git',
      base: 'develop',
      prd: 'docs/PRD.md',
      pauseFile: 'bot.paused',
    });
    expect(api!.forge).toMatchObject({ kind: 'gitea', owner: 'acme', repo: 'api', maxOpen: 2, maxPerHour: 10 });
    expect(api!.tests).toMatchObject({ setup: [['npm', 'ci']], commands: [['npm', 'test']], timeoutMs: 1000 });
    expect(api!.guardrails.forbidden).toEqual(['secrets/**', 'infra/**']);
    expect(api!.budgetShare).toEqual({ calls: 5 });
    expect(web!.name).toBe('web');
    expect(web!.repo).toMatchObject({ base: 'main', prd: 'PRD.md' });
    expect(web!.forge).toMatchObject({ repo: 'web', maxOpen: 7, maxPerHour: 4 });
    expect(web!.tests.commands).toEqual([['pnpm', 'test']]);
    expect(web!.guardrails.forbidden).toEqual(['secrets/**', 'infra/**', 'deploy/**']);
    expect(web!.budgetShare).toBeUndefined();
    // The top-level fields are the first repository's, so one-repository code reads it.
    expect(cfg.repo).toEqual(api!.repo);
    expect(cfg.forge).toEqual(api!.forge);
    expect(forRepository(cfg, web!).tests.commands).toEqual([['pnpm', 'test']]);
  });

  it('names the field of every mistake', () => {
    expect(fieldsOf({})).toContain('repo');
    expect(fieldsOf({ repo: { url: '/a' }, repos: [{ url: '/b' }] })).toContain('repos');
    expect(fieldsOf({ repo: { url: '/a' }, defaults: { base: 'x' } })).toContain('defaults');
    expect(fieldsOf({ repos: [] })).toContain('repos');
    expect(fieldsOf({ repos: [{ url: '/a' }, { url: '/b' }, { base: 'main' }] })).toContain('repos.2.url');
    expect(fieldsOf({ repos: [{ url: '/a', colour: 'red' }] })).toContain('repos.0.colour');
    expect(fieldsOf({ repos: [{ url: '/a', name: 'a:b' }] })).toContain('repos.0.name');
    expect(fieldsOf({ repos: [{ url: '/x/a' }, { url: '/y/a' }] })).toEqual(['repos.1.name']);
    expect(fieldsOf({ repos: [{ url: '/a', forge: { kind: 'gitea', owner: 'o' } }] })).toEqual(
      expect.arrayContaining(['repos.0.forge.baseUrl', 'repos.0.forge.repo']),
    );
    expect(fieldsOf({ repos: [{ url: '/a' }, { url: '/b', tests: { timeoutMs: -1 } }] })).toContain(
      'repos.1.tests.timeoutMs',
    );
    // A repository may add guarded paths, never set the others.
    expect(fieldsOf({ repos: [{ url: '/a', guardrails: { maxFiles: 100 } }] })).toContain(
      'repos.0.guardrails.maxFiles',
    );
    expect(fieldsOf({ repos: [{ url: '/a', limits: { maxOpen: 0 } }] })).toContain('repos.0.limits.maxOpen');
    expect(fieldsOf({ repos: [{ url: '/a', budget: { calls: 1, dollars: 2 } }] })).toContain('repos.0.budget.dollars');
    expect(
      fieldsOf({
        repos: [
          { url: '/a' },
          {
            url: 'https://git.example/o/b',
            forge: { kind: 'github', owner: 'o', repo: 'b' },
            tests: { envAllow: ['GITHUB_TOKEN'] },
          },
        ],
      }),
    ).toContain('repos.1.tests.envAllow.0');
  });

  it('spells a url one way: a trailing slash, .git on a remote, a relative path, the host case', () => {
    const c = (url: string) =>
      canonicalUrl({ dir: '/etc/prbot' }, { repo: { url, base: 'main', prd: 'p', pauseFile: 'f' } });
    expect(c('https://Git.Example/o/r.git')).toBe(c('https://git.example/o/r/'));
    expect(c('../srv/r.git')).toBe('/etc/srv/r.git');
    expect(c('/etc/srv/r.git/')).toBe('/etc/srv/r.git');
    expect(c('/etc/srv/r')).not.toBe(c('/etc/srv/r.git'));
  });
});
