import { existsSync } from 'node:fs';
import path from 'node:path';
import { assertRedisSafe, gapHistories, HISTORY_KEPT, recordOutcome, settledView, type Runtime } from '@prbot/pipeline';
import {
  CycleEnded,
  cycleRecord,
  UnavailableError,
  newCycleId,
  type CycleRecord,
  type Gap,
  type Outcome,
  scopeGaps,
} from '@prbot/core';
import { isLocalRepo, repoUrl } from '@prbot/config';
import { type BotPr } from '@prbot/forge';
import { failureStreak, type Policy } from '@prbot/policy';
import { pollRevisions, type PolledRevision } from './revise-poll.ts';
import { settleBotPrs } from './bot-prs.ts';
import { keepBotPrs, type UpkeepLine } from './upkeep.ts';
import { enqueueGaps, type ProduceLine } from './enqueue.ts';
import { repoPaused } from './pause.ts';
import { updateDashboardIssueQuietly } from './dashboard-issue.ts';
import { readParsedPrd } from './prd-cache.ts';

export interface ProduceReport {
  baseCommit: string | null;
  /** Set when the run itself ended a (gap-less) cycle: skipped_pause or skipped_no_gap. */
  outcome: Outcome | null;
  reason: string;
  lines: ProduceLine[];
  /** Revise requests found by polling open bot PRs' comments (revise.enabled only). */
  revisions?: PolledRevision[];
  /** What upkeep did with each open bot PR (issue 25): refreshed, closed, left alone and why. */
  upkeep?: UpkeepLine[];
  /** Gaps picked but not enqueued because Redis refused (lines with action `not_enqueued`); the CLI exits 1. */
  notEnqueued?: number;
}

/**
 * produce: pause file → PRD from the base branch → settle bot PRs → policy.pickGaps → skip gaps
 * in flight → one addBulk → dashboard issue. Running it twice enqueues each gap once.
 */
export async function produce(
  view: Runtime,
  policy: Policy,
  o: { dryRun?: boolean; redisWaitMs?: number } = {},
): Promise<ProduceReport> {
  // It reads the repository's mirror throughout: marked in use, the disk cap leaves it be.
  return view.disk.inUse(() => produceInUse(view, policy, o));
}

async function produceInUse(
  view: Runtime,
  policy: Policy,
  o: { dryRun?: boolean; redisWaitMs?: number },
): Promise<ProduceReport> {
  // An evicting Redis would drop the cycles about to be made, silently: refuse before anything.
  await assertRedisSafe(view.redis, view.log);
  await view.mirror.sync();
  const base = await view.mirror.resolve(view.cfg.repo.base);
  // The repository's .prbot.yaml on the base narrows what follows (its PRD, its limits); a file
  // that is malformed or widens anything ends this repository's produce with its ConfigError.
  const rt = await settledView(view, base);
  const { cfg } = rt;

  // 1. Pause file, committed on the base branch or present in a local checkout; or `pause --repo`.
  if (await isPaused(rt, base)) {
    return endRun(rt, base, 'skipped_pause', `${cfg.repo.pauseFile} is present; remove it to resume producing`);
  }
  if (await repoPaused(rt)) {
    return endRun(
      rt,
      base,
      'skipped_pause',
      `repository ${rt.repo.name} is paused; \`prbot resume --repo ${rt.repo.name}\` resumes it`,
    );
  }

  // 2. The PRD as committed on the base branch, not as it sits in anyone's working tree.
  //    Parsed once per blob: an unchanged PRD comes from the parse cache (prd-cache.ts).
  const read = await readParsedPrd(rt, base);
  if (read === null)
    throw new Error(
      `the PRD ${cfg.repo.prd} does not exist on ${cfg.repo.base} (${base.slice(0, 12)}) of ${repoUrl(cfg)}`,
    );
  const { text: prd, parsed } = read;
  // The parse is the blob's (shared by every repository holding it); the gap ids are this repository's.
  const gaps = scopeGaps(parsed.gaps, rt.repo.gapScope);
  for (const w of parsed.warnings) rt.log.warn({ prd: cfg.repo.prd, line: w.line }, `${cfg.repo.prd}: ${w.message}`);

  // 3. One PR per gap: one forge listing, settled as a webhook would settle it (bot-prs.ts); open
  //    or merged bot PRs end the gap's turn here.
  const listed = await listBotPrs(rt);
  const prs = await settleBotPrs(rt, listed, 'produce');
  // Polling fallback of revise cycles: new mentions on open bot PRs (the webhook route calls the same entry point).
  const revisions = await pollRevisions(rt, listed);
  // Upkeep (issue 25): stale open bot PRs are refreshed, unwanted ones closed (upkeep.ts).
  const upkeep = await keepBotPrs(rt, listed, { base, gaps, prd, dryRun: o.dryRun });
  const lines: ProduceLine[] = [];
  const candidates = gaps.filter((gap) => {
    const pr = prs.get(gap.id);
    if (pr?.verdict === 'awaiting_review')
      lines.push({ gap, action: 'awaiting_review', why: `awaiting review: ${pr.url}` });
    else if (pr?.verdict === 'done') lines.push({ gap, action: 'merged', why: `merged: ${pr.url}` });
    else return true;
    return false;
  });

  // 4. A gap whose cycle just ended cools down first (longer after cycle_noop), so a scheduled
  //    produce does not run the same gap again at once, nor pay the model for the same "nothing
  //    to change". The whole kept history (not five) so the policy sees the full failure streak.
  const now = rt.clock();
  const histories = await gapHistories(
    rt.redis,
    rt.keys,
    candidates.map((g) => g.id),
    HISTORY_KEPT,
  );
  const ready = candidates.filter((gap) => {
    const cooling = coolingDown(histories.get(gap.id)?.[0], cfg.policy, now);
    if (cooling) lines.push({ gap, action: 'cooling_down', why: cooling.why, until: cooling.until });
    return !cooling;
  });

  // 5. Policy orders and filters, with each gap's history and closed PR.
  const picked = policy.pickGaps(
    ready.map((gap) => ({ gap, history: histories.get(gap.id) ?? [], pr: prs.get(gap.id) ?? null })),
    cfg.policy,
  );
  const pickedIds = new Set(picked.map((g) => g.id));
  for (const gap of ready.filter((g) => !pickedIds.has(g.id)))
    lines.push(notPicked(gap, histories.get(gap.id) ?? [], prs.get(gap.id), cfg.policy));
  // 7. The dashboard issue (when on), after every run that read the PRD: requests ticked in it
  //    are honoured, then it shows this run.
  const done = async (report: ProduceReport) => {
    await updateDashboardIssueQuietly(rt, { via: 'produce', gaps, base });
    return { ...report, upkeep };
  };
  if (picked.length === 0) {
    if (lines.length > 0)
      return done({
        baseCommit: base,
        outcome: null,
        reason: 'nothing to enqueue',
        lines: sortLines(lines),
        revisions,
      });
    const why =
      gaps.length === 0 ? `no unchecked [bot-eligible] lines in ${cfg.repo.prd}` : 'policy picked none of the gaps';
    return done({ ...(await endRun(rt, base, 'skipped_no_gap', why)), lines, revisions });
  }

  // 6. One in-flight lock per gap (one round trip), then one addBulk for the gaps we got.
  const enq = await enqueueGaps(
    rt,
    base,
    picked.map((gap) => ({ gap, notes: closedNotes(prs.get(gap.id)) })),
    o,
  );
  lines.push(...enq.lines);
  const refused = enq.lines.filter((l) => l.action === 'not_enqueued').length;
  const reason = `${enq.lines.filter((l) => l.action === 'enqueued').length} enqueued${refused ? `, ${refused} NOT enqueued (Redis refused; see the not_enqueued lines)` : ''}`;
  return done({
    baseCommit: base,
    outcome: null,
    reason,
    lines: sortLines(lines),
    revisions,
    ...(refused ? { notEnqueued: refused } : {}),
  });
}

/** The note a cycle gets when a reviewer closed the gap's previous bot PR unmerged. */
function closedNotes(pr: { verdict: string; url: string } | undefined): string[] {
  return pr && (pr.verdict === 'retryable' || pr.verdict === 'rejected')
    ? [
        `A reviewer closed the bot's previous pull request for this gap without merging it: ${pr.url}. Take a different approach.`,
      ]
    : [];
}

type PolicyConfig = Runtime['cfg']['policy'];

/** Whether the gap's last cycle ended less than its cool-down ago; null when it may run. */
function coolingDown(
  last: CycleRecord | undefined,
  p: PolicyConfig,
  now: number,
): { until: number; why: string } | null {
  if (!last) return null;
  const noop = last.outcome === 'cycle_noop';
  const until = Date.parse(last.ended_at) + (noop ? p.noopCoolDownMs : p.coolDownMs);
  if (!(now < until)) return null;
  return {
    until,
    why: `cooling down until ${new Date(until).toISOString()} after ${last.outcome} (policy.${noop ? 'noopCoolDownMs' : 'coolDownMs'})`,
  };
}

/** Why policy.pickGaps left a gap out, in the words of the default policy's rules. */
function notPicked(
  gap: Gap,
  history: CycleRecord[],
  pr: Pick<BotPr, 'state' | 'url'> | undefined,
  p: PolicyConfig,
): ProduceLine {
  const fails = failureStreak(history);
  if (fails >= p.maxConsecutiveFailures) {
    return {
      gap,
      action: 'too_many_failures',
      why: `too many failures: ${fails} non-ok outcomes since the last success (policy.maxConsecutiveFailures is ${p.maxConsecutiveFailures}); reword the PRD line to try again`,
    };
  }
  if (pr?.state === 'closed')
    return {
      gap,
      action: 'not_picked',
      why: `left out by policy.pickGaps: its PR was closed unmerged (${pr.url}); set policy.retryClosedPRs to retry`,
    };
  return {
    gap,
    action: 'not_picked',
    why: `left out by policy.pickGaps (at most policy.maxGapsPerRun = ${p.maxGapsPerRun} a run)`,
  };
}

/** Without the forge's answer one-PR-per-gap cannot hold, so produce stops with the forge's reason. */
async function listBotPrs(rt: Runtime): Promise<BotPr[]> {
  try {
    return await rt.forge.listBotPrs();
  } catch (err) {
    const why = err instanceof CycleEnded ? err.reason : (err as Error).message;
    throw new UnavailableError(`cannot list the bot's pull requests, so nothing was enqueued: ${why}`);
  }
}

function sortLines(lines: ProduceLine[]): ProduceLine[] {
  return lines.sort((a, b) => a.gap.line - b.gap.line);
}

async function isPaused(rt: Runtime, base: string): Promise<boolean> {
  const { cfg } = rt;
  if (isLocalRepo(cfg.repo.url) && existsSync(path.join(repoUrl(cfg), cfg.repo.pauseFile))) return true;
  return (await rt.mirror.readFile(base, cfg.repo.pauseFile)) !== null;
}

async function endRun(rt: Runtime, base: string, outcome: Outcome, reason: string): Promise<ProduceReport> {
  const now = new Date(rt.clock()).toISOString();
  const record = cycleRecord({
    cycle_id: newCycleId(rt.clock()),
    repo: rt.repo.name,
    outcome,
    reason,
    stage: 'produce',
    started_at: now,
    ended_at: now,
    dry_run: rt.cfg.dryRun,
    base_commit: base,
  });
  await recordOutcome(rt.records, record);
  return { baseCommit: base, outcome, reason, lines: [] };
}
