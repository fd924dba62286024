import picomatch from 'picomatch';
import { z } from 'zod';
import { inertText, type Logger } from '@prbot/core';
import type { RepoDirectory } from './types.ts';

/**
 * Discovery (issue 23): which of an owner's repositories prbot serves. A repository qualifies by
 * its topic or by holding the settings file on its default branch; include/exclude globs (on the
 * repository's name) narrow that. What a forge lists is hostile input: an item that is not a
 * repository as the forge's API describes it is left out with the reason, never guessed at.
 */
export interface DiscoverSettings {
  /** A topic that marks a repository for prbot (compared case-insensitively: Gitea lower-cases topics). */
  topic: string | null;
  /** A file on the default branch that marks it (e.g. `.prbot.yaml`); null: topics only. */
  file: string | null;
  include: string[];
  exclude: string[];
  /** Forks are left out unless asked for (their PRD is usually the upstream's). */
  forks: boolean;
  /** At most this many repositories are served; the rest are named as left out. */
  maxRepos: number;
}

interface DiscoveredRepo {
  name: string;
  defaultBranch: string;
  via: 'topic' | 'file';
}

export interface Discovery {
  repos: DiscoveredRepo[];
  /** Every listed repository not served, with why: the operator can see why one is missing. */
  left: { name: string; why: string }[];
}

// Gitea's AlphaDashDot and GitHub's name rule: letters, digits, `.`, `-`, `_`; `..` is refused by both.
const repoName = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,100}$/, 'a repository name')
  .refine((n) => n !== '.' && n !== '..', 'a repository name');
// A ref name as git allows it (no control characters, spaces, `..`, leading `-`): it reaches git's argv.
const branchName = z.string().regex(/^(?!-)(?!.*\.\.)[^\x00-\x20\x7f~^:?*[\\]{1,255}$/, 'a branch name');

const listedRepo = z.object({
  name: repoName,
  default_branch: branchName,
  topics: z.array(z.string().max(100)).max(100).nullish(),
  archived: z.boolean(),
  fork: z.boolean(),
});

export async function discoverRepos(dir: RepoDirectory, s: DiscoverSettings, log: Logger): Promise<Discovery> {
  const included = picomatch(s.include.length > 0 ? s.include : ['*'], { nocase: true, dot: true });
  const excluded = s.exclude.length > 0 ? picomatch(s.exclude, { nocase: true, dot: true }) : () => false;
  const topic = s.topic?.toLowerCase() ?? null;
  const repos: DiscoveredRepo[] = [];
  const left: Discovery['left'] = [];
  const seen = new Set<string>();
  let index = 0;
  for await (const raw of dir.ownerRepos()) {
    index++;
    const r = listedRepo.safeParse(raw);
    const shownName = shown(raw, index);
    if (!r.success) {
      const at = r.error.issues[0]!;
      left.push({
        name: shownName,
        why: `not a repository as the forge's API describes one (${at.path.join('.')}: ${at.message})`,
      });
      continue;
    }
    const name = r.data.name;
    if (seen.has(name.toLowerCase())) continue; // a page the forge repeated
    seen.add(name.toLowerCase());
    const why = await leaveOut(dir, s, r.data, { included, excluded, topic });
    if (typeof why === 'string') left.push({ name, why });
    else if (repos.length >= s.maxRepos) left.push({ name, why: `over discover.maxRepos (${s.maxRepos})` });
    else repos.push({ name, defaultBranch: r.data.default_branch, via: why.via });
  }
  if (left.some((l) => l.why.startsWith('over discover.maxRepos')))
    log.warn(
      { served: repos.length },
      `discovery: more repositories qualify than discover.maxRepos (${s.maxRepos}); the rest are left out`,
    );
  return { repos, left };
}

async function leaveOut(
  dir: RepoDirectory,
  s: DiscoverSettings,
  r: z.infer<typeof listedRepo>,
  m: { included: (n: string) => boolean; excluded: (n: string) => boolean; topic: string | null },
): Promise<string | { via: DiscoveredRepo['via'] }> {
  if (r.archived) return 'archived (read-only: no branch can be pushed)';
  if (r.fork && !s.forks) return 'a fork (discover.forks is false)';
  if (!m.included(r.name) || m.excluded(r.name)) return 'not matched by discover.include / discover.exclude';
  if (m.topic !== null && (r.topics ?? []).some((t) => t.toLowerCase() === m.topic)) return { via: 'topic' };
  if (s.file !== null && (await dir.hasFile(r.name, s.file, r.default_branch))) return { via: 'file' };
  return [
    m.topic !== null ? `no topic "${s.topic}"` : null,
    s.file !== null ? `no ${s.file} on ${r.default_branch}` : null,
  ]
    .filter(Boolean)
    .join(' and ');
}

/** A listed item's name for a message: inert, short, or its place in the listing. */
function shown(raw: unknown, index: number): string {
  const n = raw && typeof raw === 'object' && 'name' in raw ? (raw as { name: unknown }).name : undefined;
  return typeof n === 'string' && n.length > 0 ? inertText(n.slice(0, 100)) : `(item ${index} of the listing)`;
}
