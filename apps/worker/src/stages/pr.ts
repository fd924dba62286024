import { admitPr, gapHistory, getRecord, writeConfirmed, DeferUntil, type StageContext } from '@prbot/pipeline';
import { canRevise, prBody, PushRejected, reviseBranchRefusal, revisionPushDefence } from '@prbot/forge';
import { CycleEnded, forgeTitle, gapSlug, type CycleDetails } from '@prbot/core';
import { rebuildBotCommit } from '../repo-context.ts';
import { pushRefresh } from './refresh-push.ts';

/** pr: policy → look the PR up → PR limits → push the bot branch → open a draft PR → ok. */
export async function pr(s: StageContext<'pr'>): Promise<void> {
  const { rt, data, policy } = s;

  // 1. Policy.
  const verdict = policy.shouldOpenPR(data.tests);
  if (!verdict.ok) throw new CycleEnded('pr_skipped_by_policy', verdict.reason);

  // A revise cycle pushes to its PR's branch instead of opening a PR.
  if (data.revise) return pushRevision(s);
  // A refresh cycle (issue 25) pushes onto its PR's branch with a lease.
  if (data.refresh) return pushRefresh(s);

  // 2. Rebuild, push, open a draft: looked up by head branch first so a retry never opens two.
  const branch = `${rt.cfg.forge.branchPrefix}${gapSlug(data.gap.text)}-${data.cycleId.slice(-8)}`;
  // PRD text: no control or bidi characters, mentions, closing keywords or markers in the title.
  const title = forgeTitle(data.gap.text, 240);
  const history = await gapHistory(rt.redis, rt.keys, data.gap.id, 5);
  const body = prBody({
    cycleId: data.cycleId,
    gapId: data.gap.id,
    gapText: data.gap.text,
    summary: data.proposal.summary,
    changes: data.changes,
    tests: data.tests,
    model: data.model,
    history,
  });
  if (data.dryRun) {
    throw new CycleEnded(
      'ok',
      `dry run: would push ${branch} and open the draft PR "${rt.cfg.forge.draftPrefix}${title}"`,
      { branch, tests: data.tests },
    );
  }
  await rebuildBotCommit(rt, data, data.changes);
  // Any state: this cycle's branch with a PR a human already closed or merged still means "opened".
  const existing = await rt.forge.findByBranch(branch);
  let url = existing?.url;
  let warnings: string[] = [];
  if (existing && existing.state !== 'open')
    throw new CycleEnded('ok', `draft PR opened earlier, since ${existing.state}: ${existing.url}`, {
      branch,
      pr_url: existing.url,
    });
  if (!url) {
    // Limits are checked before anything is pushed; a cycle over them waits, it is not dropped.
    // An admission a failover loses lets a burst overshoot the PR limits: it is confirmed on a
    // replica, or admitted again (a no-op for a cycle holding its slot) until it is.
    const admission = await writeConfirmed(rt.replicas, 'the PR admission', () =>
      admitPr(rt.redis, rt.keys, data.cycleId, rt.cfg.forge, () => rt.forge.listBotPrs(), rt.clock()),
    );
    if (!admission.ok) throw new DeferUntil(admission.retryAt, admission.reason);
    await s.step(40, `pushing ${branch}`);
    await rt.forge.push(rt.mirror.dir, data.botCommit, branch);
    await s.step(70, 'opening the draft PR');
    const opened = await rt.forge.openDraft({
      branch,
      base: rt.cfg.repo.base,
      title,
      body,
      cycleId: data.cycleId,
      labels: rt.cfg.forge.labels,
    });
    url = opened.url;
    warnings = opened.warnings ?? [];
    if (opened.draft === false) {
      throw new CycleEnded('ok', `PR opened as a normal PR (the forge refused a draft; marked by its title): ${url}`, {
        branch,
        pr_url: url,
        warnings,
      });
    }
  }

  // 3. ok with the PR's URL; labels that could not be applied are warnings, never a failure.
  throw new CycleEnded('ok', `draft PR opened: ${url}`, {
    branch,
    pr_url: url,
    ...(warnings.length ? { warnings } : {}),
  });
}

/**
 * pr for a revise cycle: rebuild → the branch still at the commit we built on → fast-forward push
 * (never --force; a race is refused by the forge too) → ok. The reply on the PR is posted where
 * every outcome is recorded (stage.ts), so a cycle that ends earlier replies as well.
 */
async function pushRevision(s: StageContext<'pr'>): Promise<void> {
  const { rt, data } = s;
  const r = data.revise!;
  const forge = rt.forge;
  const details: CycleDetails = { branch: r.branch, pr_url: r.url, tests: data.tests };
  if (!canRevise(forge)) throw new CycleEnded('pr_failed', `the ${forge.kind} forge cannot push revisions`, details);
  // Checked here too, not only where the request was judged: this is the line before the push.
  const origin = await getRecord(rt.redis, rt.keys, r.originCycle);
  const wrongBranch = reviseBranchRefusal(r.branch, {
    prefix: rt.cfg.forge.branchPrefix,
    base: rt.cfg.repo.base,
    originBranch: origin?.branch,
  });
  if (wrongBranch) throw new CycleEnded('pr_failed', `guardrail: ${wrongBranch}; nothing was pushed`, details);
  if (data.dryRun)
    throw new CycleEnded('ok', `dry run: would push revision ${r.revision} to ${r.branch} (PR #${r.pr})`, details);
  await rebuildBotCommit(rt, data, data.changes);

  // The PR may have been closed or merged since the request was judged: its branch is then no
  // longer a conversation anyone follows, and a merged one's commits are already in the base.
  const pr = await forge.getPr(r.pr);
  if ((!pr || pr.state !== 'open') && revisionPushDefence.openPr)
    throw new CycleEnded(
      'pr_skipped_by_policy',
      `PR #${r.pr} is ${pr ? pr.state : 'gone'}: the revision is not pushed`,
      details,
    );
  await s.step(40, `checking that ${r.branch} is still at ${data.baseCommit.slice(0, 12)}`);
  const head = await forge.branchHead(rt.mirror.dir, r.branch);
  if (head === data.botCommit)
    throw new CycleEnded('ok', `revision ${r.revision} pushed to ${r.branch} (PR #${r.pr}, ${r.url})`, details); // a retry after the push
  if (head !== data.baseCommit && revisionPushDefence.headCheck)
    throw branchMoved(r.branch, data.baseCommit, head, details);
  await s.step(70, `pushing ${data.botCommit.slice(0, 12)} to ${r.branch} (fast-forward only)`);
  try {
    await forge.pushFastForward(rt.mirror.dir, data.botCommit, r.branch);
  } catch (err) {
    if (err instanceof PushRejected) throw branchMoved(r.branch, data.baseCommit, null, details, err.message);
    throw err;
  }
  throw new CycleEnded('ok', `revision ${r.revision} pushed to ${r.branch} (PR #${r.pr}, ${r.url})`, details);
}

/** Someone else pushed to the PR's branch: prbot never overwrites a human's commit. */
function branchMoved(
  branch: string,
  built: string,
  now: string | null,
  details: CycleDetails,
  detail?: string,
): CycleEnded {
  const where = now ? `it is now at ${now.slice(0, 12)}` : (detail ?? 'the forge refused a non-fast-forward push');
  return new CycleEnded(
    'pr_skipped_by_policy',
    `branch moved: ${branch} is no longer at ${built.slice(0, 12)}, the commit this revision was built on (${where}); someone else pushed to it, and prbot never force-pushes. Ask again to revise on top of the new head.`,
    details,
  );
}
