import { botCommitSpec, buildRepoContext, rebuildCommit, SnapshotCache, type RepoContext } from '@prbot/repo';
import { prDiff, revisePrompt } from '@prbot/forge';
import { type Change, type ProposeJob } from '@prbot/core';
import { guardContext, type Runtime } from '@prbot/pipeline';

import { availableParallelism } from 'node:os';

/**
 * How many repository contexts one process builds at once. Building one is CPU work and holds
 * the commit's tree listing and, for a small tree, every blob's text (up to 8 MB): 16 propose
 * jobs building at once multiplied that by 16 for no gain on a machine with 2 cores. Jobs past
 * the limit wait here (their model calls still overlap); memory stays bounded by the limit.
 */
const CONTEXT_BUILDS_AT_ONCE = Math.max(2, availableParallelism());
let building = 0;
const waiting: (() => void)[] = [];
async function oneOfTheBuilds<T>(fn: () => Promise<T>): Promise<T> {
  if (building >= CONTEXT_BUILDS_AT_ONCE) await new Promise<void>((r) => waiting.push(r));
  else building++;
  try {
    return await fn();
  } finally {
    // Hand the slot straight to the next waiter (the count stays), or give it back.
    const next = waiting.shift();
    if (next) next();
    else building--;
  }
}

/**
 * The last commits' trees and texts, shared by this process's builds: the gaps of one produce run
 * share a base commit. Two commits (a new base arriving while the old one's jobs finish), at most
 * 8 MB of text each (the small-tree bound), given back after a minute without a build.
 */
const snapshots = new SnapshotCache({ max: 2, maxTextChars: 8 * 1024 * 1024, idleMs: 60_000 });

/**
 * What the prompt shows of the repository at the base commit: related files (whole or in
 * windows) and a map, within `models.context`; `context.shown` goes into the cycle record.
 */
export async function repoContext(
  rt: Runtime,
  data: ProposeJob,
): Promise<{ gapText: string; prdPath: string; context: RepoContext; revise: string | null }> {
  await rt.mirror.ensureCommit(data.baseCommit);
  // A revise cycle's base is the PR's head: the files the PR changed are the related ones first.
  const pr = data.revise
    ? await prDiff(rt.mirror.dir, await rt.mirror.resolve(rt.cfg.repo.base), data.baseCommit, rt.cfg.revise.diffChars)
    : null;
  const query = pr ? `${data.gap.text}\n${pr.paths.join(' ')}` : data.gap.text;
  const context = await oneOfTheBuilds(() =>
    buildRepoContext(
      rt.mirror.dir,
      data.baseCommit,
      query,
      { ...rt.cfg.models.context, exclude: [rt.cfg.repo.prd] },
      snapshots,
    ),
  );
  return {
    gapText: data.gap.text,
    prdPath: rt.cfg.repo.prd,
    context,
    revise: pr && data.revise ? revisePrompt(data.revise, pr.diff, data.cycleId) : null,
  };
}

/**
 * Rebuilds the bot commit from a job's payload (base commit + change set) and checks it is the
 * one apply built: any machine gets the same commit id, and the guardrails run again on the way.
 */
export async function rebuildBotCommit(
  rt: Runtime,
  data: Parameters<typeof botCommitSpec>[0] & { botCommit: string },
  changes: Change[],
): Promise<void> {
  await rebuildCommit(
    rt.mirror,
    botCommitSpec(data, changes, rt.cfg.bot, { ctx: guardContext(rt), limits: rt.cfg.guardrails }),
    data.botCommit,
  );
}
