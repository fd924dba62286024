import { canonicalUrl, discoveredName, discoveredRepository, forRepository, type LoadedConfig } from '@prbot/config';
import { createForge, discoverRepos, type RepoDirectory } from '@prbot/forge';
import {
  defenceOff,
  type DiscoveredEntry,
  keys,
  readDiscoveredSet,
  type Runtime,
  writeDiscoveredSet,
} from '@prbot/pipeline';

/** Off only in a positive control: a listing that failed counts as an empty one (every repository drained). */
export const discoveryDefence = { keepOnFailure: true };

/** What a produce's discovery found: the set it stored, and what it left out and why. */
export interface DiscoveryReport {
  /** prbot name → state after this run. */
  served: string[];
  /** Newly drained or still drained: no longer listed or marked. */
  drained: string[];
  /** Listed but not served, with why (discover.ts's reasons, or a `repos:` entry serving it). */
  left: { name: string; why: string }[];
  /** The listing failed: the stored set is left as it was (nothing drained on a forge's failure). */
  error?: string;
}

/**
 * Discovery at a produce (issue 23): list the owner's repositories, store the served set in
 * Redis, mark drained those in the set the forge no longer lists or marks. A drained entry is
 * kept (its state, its open PRs and its keys are never deleted), and served again if it returns.
 */
export async function refreshDiscovery(rt: Runtime): Promise<DiscoveryReport> {
  const d = rt.cfg.discover!;
  const k = keys(rt.cfg.redis.prefix);
  const before = await readDiscoveredSet(rt.redis, k, rt.cfg, rt.log);
  let found: Awaited<ReturnType<typeof discoverRepos>>;
  try {
    found = await discoverRepos(directory(rt), d, rt.log);
  } catch (err) {
    const error = `discovery: listing the repositories of ${d.forge.owner} failed, the discovered set is unchanged: ${(err as Error).message}`;
    rt.log.warn({ owner: d.forge.owner }, error);
    const names = (s: DiscoveredEntry['state']) => [...before].filter(([, e]) => e.state === s).map(([n]) => n);
    // A forge that failed listed nothing: taken as "no repository is marked", it would drain them all.
    if (discoveryDefence.keepOnFailure) return { served: names('served'), drained: names('drained'), left: [], error };
    found = { repos: [], left: [] };
  }
  const now = new Date(rt.clock()).toISOString();
  const explicit = explicitRepos(rt.cfg);
  const next = new Map<string, DiscoveredEntry>();
  const left = [...found.left];
  for (const r of found.repos) {
    const name = discoveredName(d, r.name);
    const clash = explicit.get(name) ?? explicit.get(urlOf(rt.cfg, r.name)) ?? explicit.get(forgeKey(d.forge, r.name));
    if (clash !== undefined) {
      left.push({ name: r.name, why: `served as the repos: entry "${clash}"` });
      continue;
    }
    if (next.has(name)) {
      left.push({ name: r.name, why: `its prbot name "${name}" is another listed repository's` });
      continue;
    }
    const was = before.get(name);
    next.set(name, {
      forgeRepo: r.name,
      base: r.defaultBranch,
      via: r.via,
      state: 'served',
      firstSeen: was?.firstSeen ?? now,
      lastSeen: now,
      ...(was?.drainedAt !== undefined && { drainedAt: was.drainedAt }),
    });
  }
  // Defence off (a positive control): a repository the forge dropped stays served.
  if (!defenceOff('discover-drain'))
    for (const [name, e] of before)
      if (!next.has(name))
        next.set(name, { ...e, state: 'drained', drainedAt: e.state === 'drained' ? (e.drainedAt ?? now) : now });
  await writeDiscoveredSet(rt.redis, k, next);
  const all = [...before.keys(), ...next.keys()].filter((n, i, a) => a.indexOf(n) === i).sort();
  const state = (n: string) => (next.get(n) ?? before.get(n))!.state;
  return {
    served: all.filter((n) => state(n) === 'served'),
    drained: all.filter((n) => state(n) === 'drained'),
    left,
  };
}

/** The owner's listing through the configured forge's driver (its token, timeouts, page cap). */
function directory(rt: Runtime): RepoDirectory {
  const { repository } = discoveredRepository(rt.cfg.discover!, { forgeRepo: 'x', base: 'main' });
  const forge = createForge(forRepository(rt.cfg, repository!), rt.env, rt.log);
  if (!('ownerRepos' in forge)) throw new Error(`a ${forge.kind} forge lists no owner's repositories`);
  return forge as unknown as RepoDirectory;
}

/** The `repos:` entries by name and by canonical url: a discovered repository they serve is theirs. */
function explicitRepos(cfg: LoadedConfig): Map<string, string> {
  const m = new Map<string, string>();
  for (const r of cfg.repositories) {
    m.set(r.name, r.name);
    m.set(canonicalUrl(cfg, r), r.name);
    if (r.forge.kind !== 'local') m.set(forgeKey(r.forge, r.forge.repo), r.name);
  }
  return m;
}

function urlOf(cfg: LoadedConfig, forgeRepo: string): string {
  const { repository } = discoveredRepository(cfg.discover!, { forgeRepo, base: 'main' });
  return canonicalUrl(cfg, repository!);
}

/** One repository of one forge, however its entry spells the url: host, owner and name, in lower case. */
function forgeKey(f: { owner: string } & ({ baseUrl: string } | { apiUrl: string }), repo: string): string {
  const host = new URL('baseUrl' in f ? f.baseUrl : f.apiUrl).host;
  return `forge:${host}/${f.owner}/${repo}`.toLowerCase();
}
