import { describe, expect, it } from 'vitest';
import { ConfigError } from '@prbot/core';
import { discoveredRepository, discoveredUrl } from './discover.ts';
import { parseConfig } from './load.ts';
import { secretEnvNames } from './schema.ts';

const models = {
  providers: { local: { kind: 'openai', baseUrl: 'http://127.0.0.1:3100/v1' } },
  propose: ['local/m'],
};
// An explicit forge: `defaults.forge` (merged into every entry) names no kind of its own here.
const repos = [{ name: 'home', url: '/srv/home.git', forge: { kind: 'local' } }];
const gitea = { kind: 'gitea', baseUrl: 'http://git.example/', owner: 'team' };

function issuesOf(raw: Record<string, unknown>): { field: string; message: string }[] {
  try {
    parseConfig({ models, ...raw }, '/x/prbot.config.json', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('discover: in the config', () => {
  it('names the field of each bad discover: setting', () => {
    const fields = (discover: unknown, more: Record<string, unknown> = {}) =>
      issuesOf({ repos, discover, ...more }).map((i) => i.field);
    expect(fields({ forge: { kind: 'gitea', baseUrl: 'http://git.example' } })).toEqual(['discover.forge.owner']);
    expect(fields({ forge: { ...gitea, baseUrl: 'not a url' } })).toEqual(['discover.forge.baseUrl']);
    expect(fields({ forge: { ...gitea, kind: 'local' } })).toEqual(['discover.forge.kind']);
    expect(fields({ forge: { ...gitea, tokenEnv: 'lower-case' } })).toEqual(['discover.forge.tokenEnv']);
    expect(fields({ forge: gitea, topic: null, file: null })).toEqual(['discover.topic']);
    expect(fields({ forge: gitea, url: 'http://git.example/team/fixed.git' })).toEqual(['discover.url']);
    expect(fields({ forge: gitea, maxRepos: 0 })).toEqual(['discover.maxRepos']);
    expect(fields({ forge: gitea, include: 'api-*' })).toEqual(['discover.include']);
    expect(fields({ forge: gitea, topics: ['prbot'] })).toEqual(['discover.topics']);
    // defaults that cannot stand with the owner's forge are named at load, not at a produce.
    expect(fields({ forge: gitea }, { defaults: { forge: { prDir: 'prs' } } })).toEqual(['discover.forge.prDir']);
    expect(issuesOf({ discover: { forge: gitea }, repo: { url: '/srv/home.git' } })).toEqual([
      expect.objectContaining({
        field: 'discover',
        message: expect.stringMatching(/`discover` adds to a `repos` list/),
      }),
    ]);
  });

  it('merges defaults: into a discovered repository; its url, base and forge come from the owner', () => {
    const cfg = parseConfig(
      {
        models,
        repos,
        defaults: { base: 'develop', forge: { maxOpen: 2, draftPrefix: '[WIP] ' }, budget: { calls: 7 } },
        discover: { forge: { ...gitea, tokenEnv: 'TEAM_FORGE' } },
      },
      '/x/prbot.config.json',
      {},
    );
    expect(cfg.discover).toMatchObject({ topic: 'prbot', file: '.prbot.yaml', forks: false, maxRepos: 50 });
    const { repository, issues } = discoveredRepository(cfg.discover!, { forgeRepo: 'api', base: 'trunk' });
    expect(issues).toEqual([]);
    expect(repository).toMatchObject({
      name: 'team-api',
      // The default branch the forge names, not defaults.base.
      repo: { url: 'http://git.example/team/api.git', base: 'trunk', prd: 'docs/PRD.md' },
      forge: {
        kind: 'gitea',
        baseUrl: 'http://git.example/',
        owner: 'team',
        repo: 'api',
        tokenEnv: 'TEAM_FORGE',
        remote: 'http://git.example/team/api.git',
        maxOpen: 2,
        draftPrefix: '[WIP] ',
      },
      budgetShare: { calls: 7 },
    });
    // The token's variable is a secret: never on a test's environment allow-list.
    expect(secretEnvNames(cfg)).toContain('TEAM_FORGE');
    expect(
      issuesOf({
        repos,
        discover: { forge: { ...gitea, tokenEnv: 'TEAM_FORGE' } },
        tests: { envAllow: ['TEAM_FORGE'] },
      }),
    ).toEqual([expect.objectContaining({ field: 'tests.envAllow.0' })]);
    expect(
      discoveredUrl({ forge: { kind: 'github', apiUrl: 'https://api.github.com', owner: 'o', tokenEnv: 'T' } }, 'r'),
    ).toBe('https://github.com/o/r.git');
  });
});
