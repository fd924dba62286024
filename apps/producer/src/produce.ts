import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  gapHistories,
  isLocalRepo,
  newCycleId,
  parsePrd,
  recordOutcome,
  repoUrl,
  stageJobId,
  withScripts,
  type CycleRecord,
  type Gap,
  type Outcome,
  type ProposeJob,
  type Runtime,
} from '@prbot/core';
import type { Policy } from '@prbot/policy';

export interface ProduceLine {
  gap: Gap;
  action: 'enqueued' | 'in_flight' | 'not_picked';
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

// A cycle waiting on a deferred budget can sit for up to a day; the lock outlives that, and
// still expires should a cycle ever be lost, so a gap can never stay blocked for good.
const INFLIGHT_TTL_S = 3 * 86400;

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

  // 3. Policy orders and filters, with each gap's history.
  const histories = await gapHistories(rt.redis, rt.keys, gaps.map((g) => g.id), 5);
  const picked = policy.pickGaps(gaps.map((gap) => ({ gap, history: histories.get(gap.id) ?? [] })), cfg.policy);
  const pickedIds = new Set(picked.map((g) => g.id));
  const lines: ProduceLine[] = gaps
    .filter((g) => !pickedIds.has(g.id))
    .map((gap) => ({ gap, action: 'not_picked', why: 'left out by policy.pickGaps' }));
  if (picked.length === 0) {
    const why = gaps.length === 0 ? `no unchecked [bot-eligible] lines in ${cfg.repo.prd}` : 'policy picked none of the gaps';
    return { ...(await endRun(rt, base, 'skipped_no_gap', why)), lines };
  }

  // 4. One in-flight lock per gap (one round trip), then one addBulk for the gaps we got.
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
    const data: ProposeJob = { cycleId: p.cycleId, gap: p.gap, baseCommit: base, createdAt: now, dryRun: o.dryRun ?? cfg.dryRun };
    return { name: 'propose', data, opts: { jobId: stageJobId(p.cycleId, 'propose') } };
  });
  try {
    if (jobs.length) await rt.queues.propose.addBulk(jobs);
  } catch (err) {
    await withScripts(rt.redis).releaseGaps(mine.length, ...mine.map((p) => rt.keys.inflight(p.gap.id)), ...mine.map((p) => p.cycleId));
    throw err;
  }
  for (const p of mine) lines.push({ gap: p.gap, action: 'enqueued', cycleId: p.cycleId, why: 'new cycle' });
  lines.sort((a, b) => a.gap.line - b.gap.line);
  return { baseCommit: base, outcome: null, reason: `${mine.length} enqueued`, lines };
}

async function isPaused(rt: Runtime, base: string): Promise<boolean> {
  const { cfg } = rt;
  if (isLocalRepo(cfg.repo.url) && existsSync(path.join(repoUrl(cfg), cfg.repo.pauseFile))) return true;
  return (await rt.mirror.readFile(base, cfg.repo.pauseFile)) !== null;
}

async function endRun(rt: Runtime, base: string, outcome: Outcome, reason: string): Promise<ProduceReport> {
  const now = new Date(rt.clock()).toISOString();
  const record: CycleRecord = {
    cycle_id: newCycleId(rt.clock()),
    gap_id: null,
    gap_text: null,
    gap_line: null,
    outcome,
    reason,
    stage: 'produce',
    started_at: now,
    ended_at: now,
    dry_run: rt.cfg.dryRun,
    base_commit: base,
    bot_commit: null,
    summary: null,
    files: [],
    tests: [],
    model: null,
    branch: null,
    pr_url: null,
  };
  await recordOutcome(rt.recorder, record);
  return { baseCommit: base, outcome, reason, lines: [] };
}
