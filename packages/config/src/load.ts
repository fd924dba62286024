import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ConfigError } from '@prbot/core';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.ts';
import { credentialIssues, unknownKeyMessage } from './credentials.ts';

/** A loaded config plus where it came from; relative paths are resolved against `dir`. */
export interface LoadedConfig extends Config {
  file: string;
  dir: string;
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
  return { ...result.data, file: path.resolve(file), dir };
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
