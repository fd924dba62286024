import { countInFlight, type Runtime } from '@prbot/pipeline';
import { UsageError } from '@prbot/core';
import type { Policy } from '@prbot/policy';
import { produce, type ProduceReport } from './produce.ts';
import { repoPaused } from './pause.ts';
import { refreshDiscovery, type DiscoveryReport } from './discovery.ts';

/** The views a command names: `--repo NAME` one (an unknown name is a UsageError listing the known), else all. */
export async function pickRepos(rt: Runtime, name?: string): Promise<Runtime[]> {
  const views = await rt.views();
  if (name === undefined) return [...views.values()];
  const v = views.get(name);
  if (!v) throw new UsageError(`no repository named "${name}"; configured: ${[...views.keys()].join(', ')}`);
  return [v];
}

/** `drained`: a drained discovered repository, nothing produced (its report's reason says why). */
export type RepoProduce = { repo: string } & ({ report: ProduceReport; drained?: true } | { error: string });

/**
 * produce for each repository in turn: one repository's failure (its PRD missing, its forge
 * down) is its own line, and the others go on. With `discover:`, the owner's listing is read
 * first (discovery.ts): the repositories it serves are produced over, drained ones are not.
 */
export async function produceRepos(
  rt: Runtime,
  policy: Policy,
  o: { repo?: string; dryRun?: boolean; discovery?: (d: DiscoveryReport) => void } = {},
): Promise<RepoProduce[]> {
  const out: RepoProduce[] = [];
  if (rt.cfg.discover) {
    const d = await refreshDiscovery(rt);
    o.discovery?.(d);
    if (d.error !== undefined) out.push({ repo: `discover:${rt.cfg.discover.forge.owner}`, error: d.error });
  }
  for (const view of await pickRepos(rt, o.repo)) {
    if (view.repo.drained) {
      const reason = `drained: ${rt.cfg.discover?.forge.owner ?? 'the owner'} no longer lists or marks it; nothing enqueued (cycles in flight finish, open PRs are left alone)`;
      out.push({ repo: view.repo.name, drained: true, report: { baseCommit: null, outcome: null, reason, lines: [] } });
      continue;
    }
    try {
      out.push({ repo: view.repo.name, report: await produce(view, policy, { dryRun: o.dryRun }) });
    } catch (err) {
      view.log.warn({ repo: view.repo.name, err: (err as Error).message }, 'produce failed for this repository');
      out.push({ repo: view.repo.name, error: (err as Error).message });
    }
  }
  return out;
}

export interface RepoStatus {
  repo: string;
  /** Keeps the key layout of a single-repository deployment (legacy-repo.ts). */
  legacy: boolean;
  paused: boolean;
  /** Gaps with a cycle in flight. */
  inFlight: number;
  /** Bot PRs counted open against this repository's limit. */
  prsOpen: number;
  /** Listed by `discover:` rather than `repos:` (absent for a `repos:` entry). */
  discovered?: true;
  /** Discovered, then no longer listed or marked: no new cycles. */
  drained?: boolean;
}

/** One row per repository: what `status` adds under the queues. */
export async function repoStatus(rt: Runtime): Promise<RepoStatus[]> {
  const rows: RepoStatus[] = [];
  for (const v of (await rt.views()).values()) {
    const inFlight = await countInFlight(v.redis, v.keys);
    const prsOpen = await v.redis.zcard(v.keys.prOpen());
    rows.push({
      repo: v.repo.name,
      legacy: v.repo.legacy,
      paused: await repoPaused(v),
      inFlight,
      prsOpen,
      ...(v.repo.discovered && { discovered: true as const, drained: v.repo.drained === true }),
    });
  }
  return rows;
}
