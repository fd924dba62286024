import path from 'node:path';
import { z } from 'zod';
import { positiveInt } from './common.ts';
import { forgeSection } from './forge.ts';
import { testsSection } from './tests.ts';

/**
 * A repository's name: part of its Redis keys, its work directory and its job data, so it is
 * key-safe (no ':' or '/', nothing a path or a glob would read differently).
 */
const repoName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    'letters, digits, ".", "_" and "-", at most 64, starting with a letter or digit',
  );

/** What a `repos:` entry (or `defaults:`) may set; each section is merged over the top-level one. */
const repoFields = {
  base: z.string().min(1).optional(),
  prd: z.string().min(1).optional(),
  pauseFile: z.string().min(1).optional(),
  /**
   * At most this many of the repository's cycles in flight: produce enqueues no more until some
   * end (its other gaps wait for a later produce). Unset: no cap; the fair order still applies.
   */
  maxInFlight: positiveInt.optional(),
  /** Merged over `defaults.forge`; without either, the top-level `forge`. */
  forge: z.record(z.string(), z.unknown()).optional(),
  /** Merged field by field over the top-level `tests`. */
  tests: z.record(z.string(), z.unknown()).optional(),
  /** Extra guarded paths only: they add to the top-level list, never replace or remove from it. */
  guardrails: z.strictObject({ forbidden: z.array(z.string().min(1)).default([]) }).optional(),
  /** This repository's PR limits, in place of forge.maxOpen / forge.maxPerHour. */
  limits: z.strictObject({ maxOpen: positiveInt.optional(), maxPerHour: positiveInt.optional() }).optional(),
  /** This repository's share of the daily budget (on top of the global bucket, never above it). */
  budget: z.strictObject({ calls: positiveInt.optional(), tokens: positiveInt.optional() }).optional(),
};

export const repoEntrySchema = z.strictObject({
  /** Default: `<owner>-<repo>` of a gitea/forgejo/github forge, else the url's last segment without `.git`. */
  name: repoName.optional(),
  url: z.string().min(1),
  ...repoFields,
});
export const repoDefaultsSchema = z.strictObject(repoFields);

type Entry = z.infer<typeof repoEntrySchema>;
type Defaults = z.infer<typeof repoDefaultsSchema>;
type Forge = z.infer<typeof forgeSection>;
type Tests = z.infer<typeof testsSection>;

/** One configured repository, everything merged: what a per-repository runtime view reads. */
export interface Repository {
  name: string;
  repo: { url: string; base: string; prd: string; pauseFile: string };
  forge: Forge;
  tests: Tests;
  guardrails: { forbidden: string[] };
  /** This repository's share of the global daily budget; absent: only the global bucket applies. */
  budgetShare?: { calls?: number; tokens?: number };
  maxInFlight?: number;
}

/** `a` with `b` laid over it: plain objects merge key by key, anything else (arrays too) is replaced. */
function deepMerge(a: unknown, b: unknown): unknown {
  if (b === undefined) return a;
  if (!isPlain(a) || !isPlain(b)) return b;
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = deepMerge(a[k], v);
  return out;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface RepoIssue {
  path: (string | number)[];
  message: string;
}

/**
 * The `repos:` entries with `defaults:` and the top-level sections merged into each, checked
 * with the same section schemas as the top level; problems come back with their paths
 * (`repos.2.forge.owner`), never thrown.
 */
export function mergeRepositories(
  entries: Entry[],
  defaults: Defaults | undefined,
  top: { forgeRaw: unknown; testsRaw: unknown; forbidden: string[] },
): { repositories: Repository[]; issues: RepoIssue[]; entryIndex: number[] } {
  const issues: RepoIssue[] = [];
  const repositories: Repository[] = [];
  /** repositories[j] came from entries[entryIndex[j]] (an entry with a broken section has none). */
  const entryIndex: number[] = [];
  entries.forEach((e, i) => {
    const at = (...p: (string | number)[]) => ['repos', i, ...p];
    const forgeRaw =
      e.forge === undefined && defaults?.forge === undefined
        ? (top.forgeRaw ?? { kind: 'local' })
        : deepMerge(defaults?.forge ?? {}, e.forge ?? {});
    const forge = forgeSection.safeParse(forgeRaw);
    const tests = testsSection.safeParse(deepMerge(deepMerge(top.testsRaw ?? {}, defaults?.tests), e.tests));
    for (const [section, r] of [
      ['forge', forge],
      ['tests', tests],
    ] as const) {
      if (!r.success) for (const x of r.error.issues) issues.push(...sub(at(section), x));
    }
    if (!forge.success || !tests.success) return;
    const limits = { ...defaults?.limits, ...e.limits };
    const share = { ...defaults?.budget, ...e.budget };
    entryIndex.push(i);
    repositories.push({
      name: e.name ?? defaultName(e.url, forge.data),
      repo: {
        url: e.url,
        base: e.base ?? defaults?.base ?? 'main',
        prd: e.prd ?? defaults?.prd ?? 'docs/PRD.md',
        pauseFile: e.pauseFile ?? defaults?.pauseFile ?? 'bot.paused',
      },
      forge: { ...forge.data, ...limits },
      tests: tests.data,
      guardrails: {
        forbidden: [
          ...new Set([
            ...top.forbidden,
            ...(defaults?.guardrails?.forbidden ?? []),
            ...(e.guardrails?.forbidden ?? []),
          ]),
        ],
      },
      ...(Object.keys(share).length ? { budgetShare: share } : {}),
      ...((e.maxInFlight ?? defaults?.maxInFlight) !== undefined && {
        maxInFlight: (e.maxInFlight ?? defaults?.maxInFlight)!,
      }),
    });
  });
  const seen = new Map<string, number>();
  repositories.forEach((r, j) => {
    const i = entryIndex[j]!;
    const first = seen.get(r.name);
    if (first !== undefined)
      issues.push({
        path: ['repos', i, 'name'],
        message: `"${r.name}" is also the name of repos.${first}; give each repository a unique name`,
      });
    else seen.set(r.name, i);
  });
  return { repositories, issues, entryIndex };
}

/** A nested issue, its path under `prefix`; an unknown key is named itself, not its parent. */
function sub(prefix: (string | number)[], x: z.core.$ZodIssue): RepoIssue[] {
  const p = [...prefix, ...x.path.map((s) => (typeof s === 'number' ? s : String(s)))];
  if (x.code === 'unrecognized_keys') return x.keys.map((k) => ({ path: [...p, k], message: 'unknown field' }));
  if (x.code === 'invalid_union' && x.errors.length > 0) {
    const best = [...x.errors].sort((a, b) => a.length - b.length)[0]!;
    return best.flatMap((s) => sub(p, s));
  }
  return [{ path: p, message: x.message }];
}

/**
 * The name a repository gets when its entry has none: `<owner>-<repo>` for a forge that names
 * them, else the url's last path segment without `.git` (`/srv/git/shop.git` → `shop`); characters
 * a key must not hold become `-`.
 */
export function defaultName(url: string, forge: Forge): string {
  const raw =
    forge.kind === 'local'
      ? (
          url
            .replace(/[/\\]+$/, '')
            .split(/[/\\:]/)
            .pop() ?? ''
        ).replace(/\.git$/, '')
      : `${forge.owner}-${forge.repo}`;
  return keySafeName(raw);
}

/** `raw` with the characters a key must not hold made `-`, at most 64, starting with a letter or digit. */
export function keySafeName(raw: string): string {
  const safe = raw.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return safe.slice(0, 64) || 'repo';
}

/**
 * One spelling per repository, so a url written differently (a trailing `/` or `.git`, a
 * relative path, the host's case) is still the same repository: what the legacy-layout marker holds.
 */
export function canonicalRepoUrl(url: string, configDir: string): string {
  const isLocal = !/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^[^/]+@[^/]+:/.test(url);
  // A local `x.git` and `x` are two directories; a forge serves one repository under both.
  if (isLocal) return path.resolve(configDir, url).replace(/(.)\/+$/, '$1');
  const trimmed = url.replace(/\/+$/, '').replace(/\.git$/, '');
  try {
    const u = new URL(trimmed);
    return `${u.protocol}//${u.host.toLowerCase()}${u.pathname}`;
  } catch {
    return trimmed;
  }
}
