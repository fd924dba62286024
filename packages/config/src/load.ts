import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ConfigError } from '@prbot/core';
import type { z } from 'zod';
import { configSchema, envAllowIssues, secretEnvNames, type Config } from './schema.ts';
import { credentialIssues, unknownKeyMessage } from './credentials.ts';
import { canonicalRepoUrl, defaultName, mergeRepositories, type Repository } from './repositories.ts';
import { discoveredRepository, type LoadedDiscover } from './discover.ts';

/**
 * A loaded config plus where it came from; relative paths are resolved against `dir`.
 * `repo`, `forge`, `tests` and `guardrails` are those of the first repository (with `repo:`, the
 * only one), so code written for one repository reads them unchanged; code that serves many
 * reads `repositories` (or a per-repository runtime view, whose cfg is `forRepository(cfg, r)`).
 */
export interface LoadedConfig extends Omit<Config, 'repo' | 'repos' | 'defaults' | 'discover'> {
  repo: NonNullable<Config['repo']>;
  file: string;
  dir: string;
  /** Every configured repository, merged; one item for the single `repo:` form. */
  repositories: Repository[];
  /** Which form named them: the single `repo:` one's repository keeps the legacy key layout. */
  repoForm: 'repo' | 'repos';
  /** `discover:` with what its repositories are merged with; `repositories` holds none of them. */
  discover?: LoadedDiscover;
}

const CANDIDATES = ['prbot.config.json', 'prbot.config.yaml', 'prbot.config.yml'];

function findConfigFile(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  if (env.PRBOT_CONFIG) return path.resolve(cwd, env.PRBOT_CONFIG);
  const found = CANDIDATES.map((c) => path.join(cwd, c)).find((p) => existsSync(p));
  if (!found) {
    throw new ConfigError(path.join(cwd, CANDIDATES[0]!), [
      { field: '', message: `no config file found (looked for ${CANDIDATES.join(', ')}; or set PRBOT_CONFIG)` },
    ]);
  }
  return found;
}

export function loadConfig(given?: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const file = given ?? findConfigFile(env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ field: '', message: `cannot read: ${(err as Error).message}` }]);
  }
  return parseConfig(parseConfigText(file, text), file, env);
}

function parseConfigText(file: string, text: string): unknown {
  if (file.endsWith('.json')) {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new ConfigError(file, [{ field: '', message: `not valid JSON: ${(err as Error).message}` }]);
    }
  }
  // Loaded only for a YAML config: a JSON config never pays its start time.
  const YAML = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  const doc = YAML.parseDocument(text);
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ field: '', message: `YAML ${e.message.split('\n')[0]}` })),
    );
  }
  return doc.toJS();
}

/** Validates a config object; `file` only names the source in errors and anchors relative paths. */
export function parseConfig(raw: unknown, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  // Credentials are checked in the file as written: REDIS_URL from the environment may carry a password.
  const credentials = credentialIssues(raw);
  const withEnv = applyEnvOverrides(raw, env);
  const result = configSchema.safeParse(withEnv);
  if (!result.success || credentials.length > 0) {
    const schemaIssues = result.success ? [] : result.error.issues.flatMap(issueLines);
    const seen = new Set(credentials.map((c) => c.field));
    throw new ConfigError(file, [...credentials, ...schemaIssues.filter((i) => !seen.has(i.field))]);
  }
  const dir = path.dirname(path.resolve(file));
  const { repo, repos, defaults, discover, ...rest } = result.data;
  if (repo) {
    const only = {
      name: defaultName(repo.url, rest.forge),
      repo,
      forge: rest.forge,
      tests: rest.tests,
      guardrails: rest.guardrails,
    };
    return { ...rest, repo, file: path.resolve(file), dir, repositories: [only], repoForm: 'repo' };
  }
  const w = (withEnv ?? {}) as Record<string, unknown>;
  const merged = mergeRepositories(repos!, defaults, {
    forgeRaw: w.forge,
    testsRaw: w.tests,
    forbidden: rest.guardrails.forbidden,
  });
  const secretEnv = secretEnvNames({ ...rest, discover, repositories: merged.repositories });
  const loadedDiscover: LoadedDiscover | undefined = discover && {
    ...discover,
    merge: { defaults, forgeRaw: w.forge, testsRaw: w.tests, forbidden: rest.guardrails.forbidden },
  };
  // What every discovered repository will be merged into is checked now, on a stand-in name:
  // a `defaults:` that cannot stand with the owner's forge is a config error, not a produce failure.
  const discoverIssues = loadedDiscover
    ? discoveredRepository(loadedDiscover, { forgeRepo: 'x', base: 'main' }).issues
    : [];
  const issues = [
    ...merged.issues,
    ...discoverIssues,
    ...merged.repositories.flatMap((r, j) =>
      envAllowIssues(r.tests.envAllow, secretEnv).map((i) => ({
        ...i,
        path: ['repos', merged.entryIndex[j]!, 'tests', ...i.path],
      })),
    ),
  ];
  if (issues.length > 0)
    throw new ConfigError(
      file,
      issues.map((i) => ({ field: i.path.join('.'), message: i.message })),
    );
  const base = {
    ...rest,
    repo: merged.repositories[0]!.repo,
    file: path.resolve(file),
    dir,
    repoForm: 'repos' as const,
  };
  return forRepository(
    { ...base, repositories: merged.repositories, ...(loadedDiscover && { discover: loadedDiscover }) },
    merged.repositories[0]!,
  );
}

/**
 * The config as one repository sees it: its repo, forge, tests and guarded paths in the
 * top-level fields, everything else shared. A per-repository runtime view is built on it.
 */
export function forRepository(cfg: LoadedConfig, r: Repository): LoadedConfig {
  return {
    ...cfg,
    repo: r.repo,
    forge: r.forge,
    tests: r.tests,
    guardrails: { ...cfg.guardrails, forbidden: r.guardrails.forbidden },
  };
}

/** The repository's url in one spelling (repositories.ts): what the legacy-layout marker compares. */
export function canonicalUrl(cfg: Pick<LoadedConfig, 'dir'>, r: Pick<Repository, 'repo'>): string {
  return canonicalRepoUrl(r.repo.url, cfg.dir);
}

/** One line per problem, each naming its field: an unknown key is named itself, not its parent. */
function issueLines(i: z.core.$ZodIssue): { field: string; message: string }[] {
  const at = (path: PropertyKey[]) => path.map(String).join('.');
  if (i.code === 'unrecognized_keys')
    return i.keys.map((k) => ({ field: at([...i.path, k]), message: unknownKeyMessage(k) }));
  if (i.code === 'invalid_union' && i.errors.length > 0) {
    // The branch that came closest says what is wrong; "invalid input" says nothing.
    const best = [...i.errors].sort((a, b) => a.length - b.length)[0]!;
    return best.flatMap((sub) => issueLines({ ...sub, path: [...i.path, ...sub.path] } as z.core.$ZodIssue));
  }
  return [{ field: at(i.path), message: i.message }];
}

/** REDIS_URL lets CI, the demo and containers point at a server without editing the file. */
function applyEnvOverrides(raw: unknown, env: NodeJS.ProcessEnv): unknown {
  if (!env.REDIS_URL || typeof raw !== 'object' || raw === null) return raw;
  const r = raw as Record<string, unknown>;
  const redis = typeof r.redis === 'object' && r.redis !== null ? r.redis : {};
  return { ...r, redis: { ...redis, url: env.REDIS_URL } };
}

/** Resolves a path from config against the config file's directory. */
export function resolvePath(cfg: Pick<LoadedConfig, 'dir'>, p: string): string {
  return path.resolve(cfg.dir, p);
}

/** True when repo.url names a directory on this machine rather than a remote URL. */
export function isLocalRepo(url: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^[^/]+@[^/]+:/.test(url);
}

export function repoUrl(cfg: LoadedConfig): string {
  return isLocalRepo(cfg.repo.url) ? resolvePath(cfg, cfg.repo.url) : cfg.repo.url;
}

export function forgeRemote(cfg: LoadedConfig): string {
  const f = cfg.forge;
  const r =
    f.remote ??
    (f.kind === 'local'
      ? cfg.repo.url
      : f.kind === 'github'
        ? `https://${new URL(f.apiUrl).host.replace(/^api\./, '')}/${f.owner}/${f.repo}.git`
        : `${f.baseUrl.replace(/\/+$/, '')}/${f.owner}/${f.repo}.git`);
  return isLocalRepo(r) ? resolvePath(cfg, r) : r;
}
