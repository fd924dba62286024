import {
  conflictNote,
  cycleRecord,
  gapId,
  inertText,
  newCycleId,
  NO_MODEL_CALL,
  type Change,
  type CycleRecord,
  type Gap,
  type ProposeJob,
  type RefreshRequest,
  type TestJob,
  scopeGaps,
} from '@prbot/core';
import { canUpkeep, prDiff, reply, type BotPr, type Forge, type UpkeepForge } from '@prbot/forge';
import {
  acquireGapLocks,
  gapHistory,
  guardContext,
  getRecord,
  HISTORY_KEPT,
  jobKeyFrom,
  recordOutcome,
  releaseGapLocks,
  signJob,
  stageJobId,
  settledView,
  type Runtime,
} from '@prbot/pipeline';
import { botCommitSpec, buildCommit, rebuiltChangeSet, stalenessOf } from '@prbot/repo';
import { readParsedPrd } from './prd-cache.ts';

/** What upkeep did with one open bot PR (produce's report and the webhook's answer list these). */
export interface UpkeepLine {
  url: string;
  branch: string;
  gapId: string | null;
  action:
    | 'current'
    | 'behind'
    | 'refresh_enqueued'
    | 'repropose_enqueued'
    | 'conflict_commented'
    | 'someone_else_pushed'
    | 'reproposal_cap'
    | 'in_flight'
    | 'budget_exhausted'
    | 'closed'
    | 'close_failed'
    | 'left_alone'
    | 'dry_run';
  cycleId?: string;
  why: string;
}

// A comment claim lives as long as a cycle record does (records.ts RECORD_TTL_S).
const NOTED_TTL_S = 90 * 86400;

/**
 * Upkeep's own defences, switchable for one purpose: a positive control turns one off in its own
 * process to show the harm it prevents. No variable or config field reaches them.
 * - `ownPushOnly`: a branch is rewritten or deleted only while its head is the commit prbot's
 *   records say it last pushed (off: the head upkeep reads is taken as prbot's, and the refresh is
 *   leased on it, as upkeep without the check would; apps/worker/test/e2e/upkeep.test.ts);
 * - `markerBranch`: a PR is prbot's only when its branch is the one its marker's cycle pushed,
 *   under forge.branchPrefix and not the base (off: any PR carrying a marker is upkept;
 *   apps/worker/test/e2e/upkeep-settings.test.ts).
 */
export const upkeepDefences = { ownPushOnly: true, markerBranch: true };

/**
 * The upkeep of open bot PRs, at each produce and on a push to the base branch (issue 25):
 * 1. a PR whose gap is no longer an unchecked, tagged line of the PRD is closed with one comment
 *    saying why, and its branch deleted only while it holds nothing but prbot's last push;
 * 2. every other open PR is checked against the base on the mirror (`git merge-tree`): current,
 *    behind or conflicted; per `upkeep.rebaseWhen` a stale one is refreshed — only while its
 *    branch is exactly what prbot last pushed (anyone else's commit there: one comment, no
 *    rewrite) — by a rebuild cycle (tests, then a push with a lease) or, when the change no
 *    longer applies, a propose cycle on the new base (or one comment, per `upkeep.onConflict`).
 * Every action is taken once: comments are claimed in Redis, cycles hold their gap's lock.
 */
export async function keepBotPrs(
  rt: Runtime,
  listed: BotPr[],
  o: { base: string; gaps: Gap[]; prd: string; dryRun?: boolean },
): Promise<UpkeepLine[]> {
  const forge = rt.forge;
  if (!canUpkeep(forge)) return [];
  const u = rt.cfg.upkeep;
  const wanted = new Set(o.gaps.map((g) => g.id));
  const lines: UpkeepLine[] = [];
  const dry = rt.cfg.dryRun || o.dryRun === true;
  for (const pr of listed) {
    if (
      pr.state !== 'open' ||
      !pr.gapId ||
      !pr.cycleId ||
      (upkeepDefences.markerBranch &&
        (!pr.branch.startsWith(rt.cfg.forge.branchPrefix) || pr.branch === rt.cfg.repo.base))
    )
      continue;
    const line = (action: UpkeepLine['action'], why: string, cycleId?: string): UpkeepLine => ({
      url: pr.url,
      branch: pr.branch,
      gapId: pr.gapId,
      action,
      why,
      ...(cycleId ? { cycleId } : {}),
    });
    try {
      // A signed marker names a cycle, not a branch: one copied into another PR is not prbot's PR.
      const origin = await getRecord(rt.redis, rt.keys, pr.cycleId);
      if (upkeepDefences.markerBranch && origin?.branch && origin.branch !== pr.branch) {
        lines.push(
          line(
            'left_alone',
            `its marker names cycle ${pr.cycleId}, which pushed ${origin.branch}, not ${pr.branch} (a marker copied into another PR)`,
          ),
        );
        continue;
      }
      if (!wanted.has(pr.gapId)) {
        if (!u.autoclose) continue;
        const why = unwantedReason(o.prd, pr.gapId, rt.cfg.repo.prd, rt.repo.gapScope);
        lines.push(dry ? line('dry_run', `would close: ${why}`) : await closeUnwanted(rt, forge, pr, why, o.base));
        continue;
      }
      if (u.rebaseWhen === 'never') continue;
      lines.push(await refreshIfStale(rt, forge, pr, o.base, dry, line));
    } catch (err) {
      // One PR's trouble (a forge refusal, a Redis hiccup) must not stop produce or the other PRs.
      const why = (err as Error).message.slice(0, 300);
      rt.log.warn({ pr: pr.url, err: why }, `upkeep of ${pr.url} failed; the next produce tries again`);
      lines.push(line('left_alone', `upkeep failed, tried again at the next produce: ${why}`));
    }
  }
  return lines;
}

type Line = (action: UpkeepLine['action'], why: string, cycleId?: string) => UpkeepLine;

async function refreshIfStale(
  rt: Runtime,
  forge: Forge & UpkeepForge,
  pr: BotPr,
  base: string,
  dry: boolean,
  line: Line,
): Promise<UpkeepLine> {
  const u = rt.cfg.upkeep;
  const head = await rt.mirror.resolve(pr.branch).catch(() => null);
  if (!head) return line('left_alone', `the branch ${pr.branch} is not in the mirror`);
  const st = await stalenessOf(rt.mirror, base, head);
  if (st.state === 'current') return line('current', `up to date with ${rt.cfg.repo.base} (${base.slice(0, 12)})`);
  if (st.state === 'behind' && u.rebaseWhen === 'conflicted')
    return line('behind', `behind ${rt.cfg.repo.base} but merges cleanly; upkeep.rebaseWhen is "conflicted"`);

  // Only a branch that is exactly what prbot last pushed is prbot's to rewrite.
  const last = upkeepDefences.ownPushOnly ? await lastPushed(rt, pr) : head;
  if (!last)
    return line(
      'left_alone',
      'no record of the commit prbot pushed to this branch; prbot does not rewrite what it cannot vouch for',
    );
  if (head !== last) {
    const why = `someone else pushed to ${pr.branch} (it is at ${head.slice(0, 12)}, prbot last pushed ${last.slice(0, 12)}); prbot never rewrites a branch with commits it did not push`;
    if (!dry)
      await commentOnce(
        rt,
        forge,
        pr,
        'someone-else-pushed',
        `The base branch moved, but this branch holds commits prbot did not push, so prbot will not rebuild or force-push it. Update it yourself (merge or rebase onto ${rt.cfg.repo.base}), or close the PR so the gap can be tried afresh.`,
      );
    return line('someone_else_pushed', why);
  }
  if (dry) return line('dry_run', `would refresh: ${st.state} against ${base.slice(0, 12)}`);
  const holder = await rt.redis.get(rt.keys.inflight(pr.gapId!));
  if (holder) return line('in_flight', `cycle ${holder} of the gap is in flight; upkeep waits for it`);
  // A refresh is bot work like any cycle: none while the day's budget is spent.
  const today = await rt.budget.today();
  if (today.calls.left <= 0 || today.tokens.left <= 0)
    return line(
      'budget_exhausted',
      `today's budget is spent (${today.calls.used}/${today.calls.cap} calls, ${today.tokens.used}/${today.tokens.cap} tokens); refreshed after ${today.resetsAt}`,
    );

  const origin = await originOf(rt, pr);
  if (!origin) return line('left_alone', `no record of cycle ${pr.cycleId} that opened the PR`);
  const req = { pr: pr.number ?? null, url: pr.url, branch: pr.branch, originCycle: pr.cycleId!, lease: last };
  if (st.state === 'behind') {
    const rebuilt = await rebuiltChangeSet(rt.mirror, base, st.tree);
    if ('changes' in rebuilt) return enqueueRebuild(rt, origin, req, base, rebuilt.changes, line);
    return onConflict(rt, forge, pr, origin, req, base, head, [], rebuilt.refused, line);
  }
  return onConflict(
    rt,
    forge,
    pr,
    origin,
    req,
    base,
    head,
    st.conflicts,
    `git cannot merge ${st.conflicts.length} file(s): ${st.conflicts.slice(0, 10).join(', ')}`,
    line,
  );
}

async function onConflict(
  rt: Runtime,
  forge: Forge & UpkeepForge,
  pr: BotPr,
  origin: Origin,
  req: Omit<RefreshRequest, 'mode' | 'conflicts' | 'attempt'>,
  base: string,
  head: string,
  conflicts: string[],
  why: string,
  line: Line,
): Promise<UpkeepLine> {
  const u = rt.cfg.upkeep;
  if (u.onConflict === 'comment') {
    await commentOnce(
      rt,
      forge,
      pr,
      `conflict-${base}`,
      `This PR no longer applies to ${rt.cfg.repo.base} (now at ${base.slice(0, 12)}): ${why}. prbot leaves it as it is (upkeep.onConflict is "comment"); resolve the conflict yourself, or close the PR so the gap can be tried afresh.`,
    );
    return line(
      'conflict_commented',
      `the change no longer applies (${why}); commented (upkeep.onConflict is "comment")`,
    );
  }
  const key = rt.keys.reproposals(pr.branch);
  const attempt = await rt.redis.incr(key);
  await rt.redis.expire(key, NOTED_TTL_S);
  if (attempt > u.maxReproposals) {
    await rt.redis.decr(key);
    await commentOnce(
      rt,
      forge,
      pr,
      'reproposal-cap',
      `This PR no longer applies to ${rt.cfg.repo.base}, and prbot has already proposed it afresh ${u.maxReproposals} time(s) (upkeep.maxReproposals); it will not try again. Resolve the conflict yourself, or close the PR so the gap can be tried afresh.`,
    );
    return line(
      'reproposal_cap',
      `the change no longer applies and upkeep.maxReproposals (${u.maxReproposals}) is reached`,
    );
  }
  const now = rt.clock();
  const cycleId = newCycleId(now);
  const { diff } = await prDiff(rt.mirror.dir, base, head, rt.cfg.revise.diffChars);
  const refresh: RefreshRequest = { ...req, mode: 'repropose', conflicts, attempt };
  const data: ProposeJob = {
    repo: rt.repo.name,
    cycleId,
    gap: origin.gap,
    baseCommit: base,
    createdAt: now,
    dryRun: rt.cfg.dryRun,
    notes: [conflictNote({ pr: req.pr, branch: req.branch, conflicts, diff, cycleId })],
    refresh,
  };
  const ok = await enqueueUnderLock(rt, origin.gap.id, cycleId, () =>
    rt.queues.propose.add('propose', signJob('propose', data, jobKeyFrom(rt.env, rt.cfg.jobs.keyEnv)), {
      jobId: stageJobId(cycleId, 'propose'),
    }),
  );
  if (!ok.enqueued) {
    await rt.redis.decr(key);
    return line('in_flight', `cycle ${ok.holder} of the gap is in flight; upkeep waits for it`);
  }
  return line(
    'repropose_enqueued',
    `the change no longer applies (${why}): re-proposal ${attempt} of at most ${u.maxReproposals} on ${base.slice(0, 12)}`,
    cycleId,
  );
}

/** A rebuild starts at the test stage: the change set is git's merge, the commit built here, no model call. */
async function enqueueRebuild(
  rt: Runtime,
  origin: Origin,
  req: Omit<RefreshRequest, 'mode' | 'conflicts' | 'attempt'>,
  base: string,
  changes: Change[],
  line: Line,
): Promise<UpkeepLine> {
  const now = rt.clock();
  const cycleId = newCycleId(now);
  const summary = (origin.summary ?? `The change of ${req.url}`).slice(0, 1900);
  const proposal = {
    summary,
    files: changes.map((c) => ({ path: c.path, is_new: c.action === 'ADD', content: c.content })),
  };
  const partial = {
    cycleId,
    gap: origin.gap,
    baseCommit: base,
    createdAt: now,
    dryRun: rt.cfg.dryRun,
    notes: [],
    proposal,
  };
  const botCommit = await buildCommit(
    rt.mirror,
    botCommitSpec(partial, changes, rt.cfg.bot, { ctx: guardContext(rt), limits: rt.cfg.guardrails }),
  );
  const data: TestJob = {
    ...partial,
    model: NO_MODEL_CALL,
    changes,
    botCommit,
    refresh: { ...req, mode: 'rebuild', conflicts: [], attempt: 1 },
  };
  const ok = await enqueueUnderLock(rt, origin.gap.id, cycleId, () =>
    rt.queues.test.add('test', signJob('test', data, jobKeyFrom(rt.env, rt.cfg.jobs.keyEnv)), {
      jobId: stageJobId(cycleId, 'test'),
    }),
  );
  if (!ok.enqueued) return line('in_flight', `cycle ${ok.holder} of the gap is in flight; upkeep waits for it`);
  return line(
    'refresh_enqueued',
    `behind ${rt.cfg.repo.base}; rebuilt on ${base.slice(0, 12)} as ${botCommit.slice(0, 12)} (${changes.length} file(s)), to be tested and pushed with a lease on ${req.lease.slice(0, 12)}`,
    cycleId,
  );
}

async function enqueueUnderLock(
  rt: Runtime,
  gap: string,
  cycleId: string,
  add: () => Promise<unknown>,
): Promise<{ enqueued: true } | { enqueued: false; holder: string }> {
  const [holder] = await acquireGapLocks(rt.redis, rt.keys, [{ gapId: gap, cycleId }]);
  if (holder !== cycleId) return { enqueued: false, holder: holder! };
  try {
    await add();
  } catch (err) {
    await releaseGapLocks(rt.redis, rt.keys, [{ gapId: gap, cycleId }]);
    throw err;
  }
  return { enqueued: true };
}

/** Close (once), comment why (once), delete the branch while it holds only prbot's push, record it. */
async function closeUnwanted(
  rt: Runtime,
  forge: Forge & UpkeepForge,
  pr: BotPr,
  why: string,
  base: string,
): Promise<UpkeepLine> {
  const out = (action: UpkeepLine['action'], text: string): UpkeepLine => ({
    url: pr.url,
    branch: pr.branch,
    gapId: pr.gapId,
    action,
    why: text,
  });
  await commentOnce(
    rt,
    forge,
    pr,
    'closed',
    `prbot is closing this PR: its gap is ${why}, so the change is no longer wanted. ${rt.cfg.upkeep.deleteBranch ? 'Its branch is deleted too, unless it holds commits prbot did not push.' : ''}`.trim(),
  );
  try {
    await forge.closePr(pr);
  } catch (err) {
    return out(
      'close_failed',
      `the forge refused to close it (${(err as Error).message.slice(0, 200)}); the next produce tries again`,
    );
  }
  let branch = 'kept (upkeep.deleteBranch is false)';
  const head = await rt.mirror.resolve(pr.branch).catch(() => null);
  if (rt.cfg.upkeep.deleteBranch && head) {
    const last = upkeepDefences.ownPushOnly ? await lastPushed(rt, pr) : head;
    if (last && head === last)
      branch = (await forge.deleteBranch(rt.mirror.dir, pr.branch, last))
        ? `deleted (it held only ${last.slice(0, 12)}, prbot's push)`
        : 'kept (it moved since prbot read it)';
    else branch = `kept (it holds commits prbot did not push${head ? `: ${head.slice(0, 12)}` : ''})`;
  }
  const reason = `closed ${pr.url}: its gap is ${why}; branch ${pr.branch} ${branch}`;
  // One record per PR, however often the close is retried.
  if (
    (await rt.redis.set(
      rt.keys.upkeepNoted(pr.branch, 'closed-recorded'),
      String(rt.clock()),
      'EX',
      NOTED_TTL_S,
      'NX',
    )) === 'OK'
  ) {
    const origin = await originOf(rt, pr);
    const now = new Date(rt.clock()).toISOString();
    const record: CycleRecord = cycleRecord({
      repo: rt.repo.name,
      cycle_id: newCycleId(rt.clock()),
      gap_id: pr.gapId,
      gap_text: origin?.gap.text ?? null,
      gap_line: origin?.gap.line ?? null,
      outcome: 'closed_unwanted',
      reason,
      stage: 'produce',
      started_at: now,
      ended_at: now,
      dry_run: false,
      base_commit: base,
      bot_commit: head,
      branch: pr.branch,
      pr_url: pr.url,
      kind: 'upkeep',
    });
    await recordOutcome(rt.records, record);
  }
  return out('closed', reason);
}

/** One comment per occasion per branch: the claim is taken before posting and given back if the forge refuses. */
async function commentOnce(rt: Runtime, forge: UpkeepForge, pr: BotPr, what: string, text: string): Promise<boolean> {
  const key = rt.keys.upkeepNoted(pr.branch, what);
  if ((await rt.redis.set(key, String(rt.clock()), 'EX', NOTED_TTL_S, 'NX')) !== 'OK') return false;
  try {
    await forge.commentOn(pr, reply(text));
    return true;
  } catch (err) {
    await rt.redis.del(key).catch(() => 0);
    throw err;
  }
}

/**
 * The commit prbot last pushed to the PR's branch: the newest record of the gap (or the cycle
 * that opened the PR) that pushed there — opened, revised or refreshed, never a dry run.
 */
async function lastPushed(rt: Runtime, pr: Pick<BotPr, 'branch' | 'gapId' | 'cycleId'>): Promise<string | null> {
  const history = pr.gapId ? await gapHistory(rt.redis, rt.keys, pr.gapId, HISTORY_KEPT) : [];
  const origin = pr.cycleId ? await getRecord(rt.redis, rt.keys, pr.cycleId) : null;
  const pushed = [...history, ...(origin ? [origin] : [])]
    .filter(
      (r) => r.branch === pr.branch && !r.dry_run && r.bot_commit && (r.outcome === 'ok' || r.outcome === 'refreshed'),
    )
    .sort((a, b) => b.ended_at.localeCompare(a.ended_at));
  return pushed[0]?.bot_commit ?? null;
}

interface Origin {
  gap: Gap;
  summary: string | null;
}

async function originOf(rt: Runtime, pr: BotPr): Promise<Origin | null> {
  const origin = pr.cycleId ? await getRecord(rt.redis, rt.keys, pr.cycleId) : null;
  const history = pr.gapId ? await gapHistory(rt.redis, rt.keys, pr.gapId, HISTORY_KEPT) : [];
  const known = origin?.gap_text ? origin : history.find((h) => h.gap_text && h.gap_line !== null);
  if (!known?.gap_text || known.gap_line === null || !pr.gapId) return null;
  return {
    gap: { id: pr.gapId, text: known.gap_text, line: known.gap_line },
    summary: origin?.summary ?? known.summary,
  };
}

/**
 * Why a gap is no longer wanted, in the PRD's own terms: its line ticked off, its tag removed, or
 * the line gone (a reworded line is a new gap, so its old PR is unwanted too).
 */
export function unwantedReason(prd: string, id: string, prdPath: string, gapScope?: string): string {
  for (const [i, raw] of prd.split(/\r\n|\r|\n/).entries()) {
    const m = /^\s*(?:[-*+]|\d+[.)])\s+\[([ xX])\]\s+(.*)$/.exec(raw);
    if (!m) continue;
    const text = inertText(m[2]!.replace(/\[bot-eligible\]/gi, ''))
      .replace(/\s+/g, ' ')
      .trim();
    if (!text || gapId(text, gapScope) !== id) continue;
    if (m[1] !== ' ') return `ticked off in ${prdPath} (line ${i + 1})`;
    if (!/\[bot-eligible\]/i.test(m[2]!)) return `no longer tagged [bot-eligible] in ${prdPath} (line ${i + 1})`;
    return `no longer read as a gap in ${prdPath} (line ${i + 1}: inside code, a quote or HTML?)`;
  }
  return `no longer in ${prdPath} (removed, or reworded: a reworded line is a new gap)`;
}

/**
 * A push to the base branch (webhook): the same upkeep produce runs, at once, so a PR is refreshed
 * when its base moves rather than at the next scheduled produce. Pushes to other branches do nothing.
 */
export async function upkeepOnBasePush(
  rt: Runtime,
  ref: string,
): Promise<{ ran: false; reason: string } | { ran: true; lines: UpkeepLine[] }> {
  // A drained discovered repository's open PRs are left alone: neither refreshed nor closed.
  if (rt.repo.drained) return { ran: false, reason: `repository ${rt.repo.name} is drained; its PRs are left alone` };
  const want = `refs/heads/${rt.cfg.repo.base}`;
  if (ref !== want && ref !== rt.cfg.repo.base)
    return { ran: false, reason: `a push to ${ref.slice(0, 200)}, not to the base branch ${want}` };
  await rt.mirror.sync();
  const base = await rt.mirror.resolve(rt.cfg.repo.base);
  // The PRD where the repository's .prbot.yaml on the base puts it.
  const read = await readParsedPrd(await settledView(rt, base), base);
  if (read === null) return { ran: false, reason: `the PRD ${rt.cfg.repo.prd} does not exist on ${rt.cfg.repo.base}` };
  const { text: prd, parsed } = read;
  const gaps = scopeGaps(parsed.gaps, rt.repo.gapScope);
  return { ran: true, lines: await keepBotPrs(rt, await rt.forge.listBotPrs(), { base, gaps, prd }) };
}
