import { z } from 'zod';
import { envName, positiveInt } from './common.ts';
import { keySafeName, mergeRepositories, type RepoIssue, type Repository } from './repositories.ts';

/**
 * `discover:` (issue 23): the repositories of a forge owner that carry a topic or a settings
 * file are served as if listed in `repos:`, each `defaults:` merged with what the forge says
 * (its name, its default branch). The listing itself runs at each produce (control's discovery).
 */
const discoverForge = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.enum(['gitea', 'forgejo']),
    baseUrl: z.url(),
    owner: z.string().min(1),
    tokenEnv: envName.default('GITEA_TOKEN'),
  }),
  z.strictObject({
    kind: z.literal('github'),
    apiUrl: z.url().default('https://api.github.com'),
    owner: z.string().min(1),
    tokenEnv: envName.default('GITHUB_TOKEN'),
  }),
]);

export const discoverSection = z
  .strictObject({
    forge: discoverForge,
    /** A topic that marks a repository for prbot; null: the file alone marks it. */
    topic: z.string().min(1).max(100).nullable().default('prbot'),
    /** A file on the default branch that marks it; null: the topic alone. */
    file: z.string().min(1).nullable().default('.prbot.yaml'),
    /** Globs on the repository's name: only these (default every name) … */
    include: z.array(z.string().min(1)).default([]),
    /** … and never these. */
    exclude: z.array(z.string().min(1)).default([]),
    forks: z.boolean().default(false),
    maxRepos: positiveInt.default(50),
    /**
     * Where a discovered repository is cloned from and pushed to, `{name}` its name on the forge.
     * Default `<baseUrl>/<owner>/{name}.git` (GitHub: `https://<host>/<owner>/{name}.git`). The
     * forge's own `clone_url` is not used: a listing is hostile input, and a URL is where git goes.
     */
    url: z.string().min(1).includes('{name}', { message: 'a URL template holding {name}' }).optional(),
  })
  .refine((d) => d.topic !== null || d.file !== null, {
    path: ['topic'],
    message: 'discovery needs a mark: a topic, a file, or both (both are null)',
  });

type Discover = z.infer<typeof discoverSection>;

/** `discover:` as loaded: its settings plus what a discovered repository is merged with. */
export interface LoadedDiscover extends Discover {
  merge: { defaults: unknown; forgeRaw: unknown; testsRaw: unknown; forbidden: string[] };
}

/** A repository the forge listed and marked: all that discovery keeps of it (in Redis too). */
export interface Discovered {
  /** Its name on the forge (discover.ts checked it against the forge's own rule). */
  forgeRepo: string;
  /** Its default branch: the base its PRs target. */
  base: string;
}

/** The clone / push URL of a discovered repository (the operator's template, or the forge's usual one). */
export function discoveredUrl(d: Pick<Discover, 'forge' | 'url'>, forgeRepo: string): string {
  if (d.url !== undefined) return d.url.replaceAll('{name}', forgeRepo);
  const f = d.forge;
  if (f.kind === 'github') {
    const host = new URL(f.apiUrl).host.replace(/^api\./, '');
    return `https://${host}/${f.owner}/${forgeRepo}.git`;
  }
  return `${f.baseUrl.replace(/\/+$/, '')}/${f.owner}/${forgeRepo}.git`;
}

/**
 * A discovered repository as a configured one: `defaults:` and the top-level sections merged
 * under {its url, its default branch, the owner's forge with repo = its name}. Its prbot name is
 * the one a `repos:` entry of that forge gets by default (`<owner>-<repo>`).
 */
export function discoveredRepository(
  d: LoadedDiscover,
  x: Discovered,
): { repository: Repository | undefined; issues: RepoIssue[] } {
  const url = discoveredUrl(d, x.forgeRepo);
  const { tokenEnv, ...where } = d.forge;
  const defaults = (d.merge.defaults ?? {}) as { forge?: Record<string, unknown> } & Record<string, unknown>;
  const forge = { ...where, tokenEnv, repo: x.forgeRepo, remote: url };
  const entry = { name: discoveredName(d, x.forgeRepo), url, base: x.base, forge };
  // The defaults' forge settings (limits, prefixes, timeouts) apply; where it lists is discover's.
  const merged = mergeRepositories([entry], { ...defaults, base: x.base } as never, {
    forgeRaw: d.merge.forgeRaw,
    testsRaw: d.merge.testsRaw,
    forbidden: d.merge.forbidden,
  });
  const issues = merged.issues.map((i) => ({ ...i, path: ['discover', ...i.path.slice(2)] }));
  return { repository: merged.repositories[0], issues };
}

/** The prbot name a discovered repository gets: what `repos:` would name it (key-safe). */
export function discoveredName(d: Pick<Discover, 'forge'>, forgeRepo: string): string {
  return keySafeName(`${d.forge.owner}-${forgeRepo}`);
}
