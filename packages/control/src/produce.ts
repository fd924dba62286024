import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  CycleEnded,
  GAP_LOCK_TTL_S,
  cycleRecord,
  UnavailableError,
  gapHistories,
  isLocalRepo,
  newCycleId,
  parsePrd,
  recordOutcome,
  repoUrl,
  stageJobId,
  withScripts,
  type BotPr,
  type Gap,
  type Outcome,
  type ProposeJob,
  type Runtime,
} from '@prbot/core';
import type { Policy } from '@prbot/policy';

export interface ProduceLine {
  gap: Gap;
  action: 'enqueued' | 'in_flight' | 'not_picked' | 'awaiting_review' | 'merged';
  cycleId?: string;
  why: string;
}

export interface ProduceReport {
  baseCommit: string | null;
  /** Set when the run itself ended a (gap-less) cycle: skipped_pause or skipped_no_gap. */
  outcome: Outcome | null;
  reason: string;
  lines: ProduceLine[];
}

// The lock lives as long as its cycle: stage starts and the reconciler renew it (ledger.ts).
const INFLIGHT_TTL_S = GAP_LOCK_TTL_S;

/**
 * produce: pause file → PRD from the base branch → policy.pickGaps → skip gaps in flight →
 * one addBulk. Running it twice enqueues each gap once.
 */
export async function produce(rt: Runtime, policy: Policy, o: { dryRun?: boolean } = {}): Promise<ProduceReport> {
  const { cfg } = rt;
  await rt.mirror.sync();
  const base = await rt.mirror.resolve(cfg.repo.base);

  // 1. Pause file, committed on the base branch or present in a local checkout.
  if (await isPaused(rt, base)) {
    return endRun(rt, base, 'skipped_pause', `${cfg.repo.pauseFile} is present; remove it to resume producing`);
  }

  // 2. The PRD as committed on the base branch, not as it sits in anyone's working tree.
  const prd = await rt.mirror.readFile(base, cfg.repo.prd);
  if (prd === null) throw new Error(`the PRD ${cfg.repo.prd} does not exist on ${cfg.repo.base} (${base.slice(0, 12)}) of ${repoUrl(cfg)}`);
  const gaps = parsePrd(prd);

  // 3. One PR per gap: one forge listing; open or merged bot PRs end the gap's turn here.
  const prs = latestPrByGap(await listBotPrs(rt));
  const lines: ProduceLine[] = [];
  const candidates = gaps.filter((gap) => {
    const pr = prs.get(gap.id);
    if (pr?.state === 'open') lines.push({ gap, action: 'awaiting_review', why: `awaiting review: ${pr.url}` });
    else if (pr?.state === 'merged') lines.push({ gap, action: 'merged', why: `merged: ${pr.url}` });
    else return true;
    return false;
  });

  // 4. Policy orders and filters, with each gap's history and closed PR.
  const histories = await gapHistories(rt.redis, rt.keys, candidates.map((g) => g.id), 5);
  const picked = policy.pickGaps(candidates.map((gap) => ({ gap, history: histories.get(gap.id) ?? [], pr: prs.get(gap.id) ?? null })), cfg.policy);
  const pickedIds = new Set(picked.map((g) => g.id));
  for (const gap of candidates.filter((g) => !pickedIds.has(g.id))) {
    const pr = prs.get(gap.id);
    lines.push({ gap, action: 'not_picked', why: pr ? `left out by policy.pickGaps: its PR was closed unmerged (${pr.url}); set policy.retryClosedPRs to retry` : 'left out by policy.pickGaps' });
  }
  if (picked.length === 0) {
    if (lines.length > 0) return { baseCommit: base, outcome: null, reason: 'nothing to enqueue', lines: sortLines(lines) };
    const why = gaps.length === 0 ? `no unchecked [bot-eligible] lines in ${cfg.repo.prd}` : 'policy picked none of the gaps';
    return { ...(await endRun(rt, base, 'skipped_no_gap', why)), lines };
  }

  // 5. One in-flight lock per gap (one round trip), then one addBulk for the gaps we got.
  const now = rt.clock();
  const proposed = picked.map((gap, i) => ({ gap, cycleId: newCycleId(now + i) }));
  const holders = (await withScripts(rt.redis).acquireGaps(
    proposed.length,
    ...proposed.map((p) => rt.keys.inflight(p.gap.id)),
    INFLIGHT_TTL_S,
    ...proposed.map((p) => p.cycleId),
  )) as string[];
  const mine = proposed.filter((p, i) => holders[i] === p.cycleId);
  for (const [i, p] of proposed.entries()) {
    if (holders[i] !== p.cycleId) lines.push({ gap: p.gap, action: 'in_flight', cycleId: holders[i], why: `cycle ${holders[i]} is still in flight` });
  }
  const jobs = mine.map((p) => {
    const closed = prs.get(p.gap.id);
    const notes = closed ? [`A reviewer closed the bot's previous pull request for this gap without merging it: ${closed.url}. Take a different approach.`] : [];
    const data: ProposeJob = { cycleId: p.cycleId, gap: p.gap, baseCommit: base, createdAt: now, dryRun: o.dryRun ?? cfg.dryRun, notes };
    return { name: 'propose', data, opts: { jobId: stageJobId(p.cycleId, 'propose') } };
  });
  try {
    if (jobs.length) await rt.queues.propose.addBulk(jobs);
  } catch (err) {
    await withScripts(rt.redis).releaseGaps(mine.length, ...mine.map((p) => rt.keys.inflight(p.gap.id)), ...mine.map((p) => p.cycleId));
    throw err;
  }
  for (const p of mine) lines.push({ gap: p.gap, action: 'enqueued', cycleId: p.cycleId, why: 'new cycle' });
  return { baseCommit: base, outcome: null, reason: `${mine.length} enqueued`, lines: sortLines(lines) };
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

/** Each gap's most recently updated bot PR. */
function latestPrByGap(prs: BotPr[]): Map<string, BotPr> {
  const m = new Map<string, BotPr>();
  for (const p of prs) {
    if (!p.gapId) continue;
    const cur = m.get(p.gapId);
    if (!cur || p.updatedAt > cur.updatedAt) m.set(p.gapId, p);
  }
  return m;
}

async function isPaused(rt: Runtime, base: string): Promise<boolean> {
  const { cfg } = rt;
  if (isLocalRepo(cfg.repo.url) && existsSync(path.join(repoUrl(cfg), cfg.repo.pauseFile))) return true;
  return (await rt.mirror.readFile(base, cfg.repo.pauseFile)) !== null;
}

async function endRun(rt: Runtime, base: string, outcome: Outcome, reason: string): Promise<ProduceReport> {
  const now = new Date(rt.clock()).toISOString();
  const record = cycleRecord({ cycle_id: newCycleId(rt.clock()), outcome, reason, stage: 'produce', started_at: now, ended_at: now, dry_run: rt.cfg.dryRun, base_commit: base });
  await recordOutcome(rt.recorder, record);
  return { baseCommit: base, outcome, reason, lines: [] };
}
