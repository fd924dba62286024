import { CycleEnded, type CycleDetails } from '@prbot/core';
import { canUpkeep, LeaseRefused, reviseBranchRefusal } from '@prbot/forge';
import { admitPr, DeferUntil, getRecord, releasePrSlot, type StageContext } from '@prbot/pipeline';
import { rebuildBotCommit } from '../repo-context.ts';

/**
 * pr for a refresh cycle (issue 25): guard the branch → rebuild → the hourly PR limit → push with a
 * lease on the commit prbot last pushed → refreshed. Never a plain force: if anyone pushed to the
 * branch since upkeep read it, the forge refuses the update and the cycle ends refresh_failed with
 * nothing overwritten. The comment on the PR is posted where the outcome is recorded (stage.ts).
 */
export async function pushRefresh(s: StageContext<'pr'>): Promise<void> {
  const { rt, data } = s;
  const r = data.refresh!;
  const forge = rt.forge;
  const details: CycleDetails = { branch: r.branch, pr_url: r.url, tests: data.tests };
  if (!canUpkeep(forge))
    throw new CycleEnded('refresh_failed', `the ${forge.kind} forge cannot push a refresh`, details);
  // The line before the push: only prbot's own branch of this PR, never the base branch.
  const origin = await getRecord(rt.redis, rt.keys, r.originCycle);
  const wrongBranch = reviseBranchRefusal(r.branch, {
    prefix: rt.cfg.forge.branchPrefix,
    base: rt.cfg.repo.base,
    originBranch: origin?.branch,
  });
  if (wrongBranch) throw new CycleEnded('refresh_failed', `guardrail: ${wrongBranch}; nothing was pushed`, details);
  if (data.dryRun)
    throw new CycleEnded(
      'ok',
      `dry run: would push ${data.botCommit.slice(0, 12)} to ${r.branch} with a lease on ${r.lease.slice(0, 12)}`,
      details,
    );
  await rebuildBotCommit(rt, data, data.changes);

  // A refresh counts against forge.maxPerHour like a new PR; it holds no open-PR slot of its own
  // (its PR already has one), so maxOpen cannot lock the PRs it has out of their refresh.
  const admission = await admitPr(
    rt.redis,
    rt.keys,
    data.cycleId,
    { ...rt.cfg.forge, maxOpen: Number.MAX_SAFE_INTEGER },
    () => rt.forge.listBotPrs(),
    rt.clock(),
  );
  if (!admission.ok) throw new DeferUntil(admission.retryAt, `refresh waits: ${admission.reason}`);
  await releasePrSlot(rt.redis, rt.keys, data.cycleId);

  await s.step(70, `pushing ${data.botCommit.slice(0, 12)} to ${r.branch} with a lease on ${r.lease.slice(0, 12)}`);
  try {
    await forge.pushWithLease(rt.mirror.dir, data.botCommit, r.branch, r.lease);
  } catch (err) {
    if (!(err instanceof LeaseRefused)) throw err;
    // A retry after a push that landed finds its own commit there: that is this refresh, done.
    await rt.mirror.sync();
    const now = await rt.mirror.resolve(r.branch).catch(() => null);
    if (now === data.botCommit) throw new CycleEnded('ok', refreshed(r.branch, data.botCommit, r.lease), details);
    throw new CycleEnded(
      'refresh_failed',
      `${err.message}; the branch is at ${now ? now.slice(0, 12) : '(deleted)'}`,
      details,
    );
  }
  throw new CycleEnded('ok', refreshed(r.branch, data.botCommit, r.lease), details);
}

function refreshed(branch: string, commit: string, lease: string): string {
  return `refreshed ${branch}: pushed ${commit.slice(0, 12)} with a lease on ${lease.slice(0, 12)}`;
}
