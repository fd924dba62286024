import { FAILURE_OUTCOMES, leadingRun, utcDay, type CycleRecord, type Outcome } from '@prbot/core';
import {
  gapHistories,
  readStageDurations,
  recentRecords,
  STAGES,
  type BudgetToday,
  type Runtime,
  type StageHistogram,
} from '@prbot/pipeline';
import { status, type QueueStatus } from '@prbot/control';

export interface DayCounts {
  day: string;
  cycles: number;
  by_outcome: Partial<Record<Outcome, number>>;
  pr_share: number;
}

export interface GapStats {
  gap_id: string;
  gap_text: string;
  cycles: number;
  by_outcome: Partial<Record<Outcome, number>>;
  pr_share: number;
  last_outcome: Outcome;
  consecutive_failures: number;
}

export interface Overview {
  budget: BudgetToday;
  today: DayCounts;
  week: DayCounts[];
  /** The last 30 days, newest first (the outcomes chart). */
  month: DayCounts[];
  /** Run time histograms per stage since the keys were made (the durations chart). */
  durations: StageHistogram[];
  /** The UTC hour of now (the budget burn chart draws the day up to it). */
  hourNow: number;
  recent: CycleRecord[];
  failing: GapStats[];
  queues: QueueStatus[];
  /** Every configured repository's name, and the one the page is narrowed to (null: all). */
  repos: string[];
  repo: string | null;
  /** The repositories `discover:` serves or drained (a drained one gets no new cycles). */
  discovered: { name: string; drained: boolean }[];
}

/** A record's repository: records from before many repositories are the legacy repository's. */
function recordRepo(r: CycleRecord, legacy: string | undefined): string | undefined {
  return r.repo ?? legacy;
}

/** Outcome counts per UTC day, newest first, from the stats hashes (one round trip). */
export async function dayCounts(rt: Runtime, days: number): Promise<DayCounts[]> {
  const now = rt.clock();
  const ids = Array.from({ length: days }, (_, i) => utcDay(now - i * 86_400_000));
  const p = rt.redis.pipeline();
  for (const d of ids) p.hgetall(rt.keys.stats(d));
  const res = (await p.exec()) ?? [];
  return ids.map((day, i) => {
    const h = (res[i]?.[1] ?? {}) as Record<string, string>;
    const by_outcome = Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Number(v)])) as DayCounts['by_outcome'];
    return summarise(day, by_outcome);
  });
}

/** Cycles ended per repository and outcome over the last `days` UTC days (records that name a repository). */
export async function repoOutcomeCounts(rt: Runtime, days: number): Promise<Map<string, Map<string, number>>> {
  const now = rt.clock();
  const p = rt.redis.pipeline();
  for (let i = 0; i < days; i++) p.hgetall(rt.keys.statsByRepo(utcDay(now - i * 86_400_000)));
  const out = new Map<string, Map<string, number>>();
  for (const [, h] of (await p.exec()) ?? []) {
    for (const [field, v] of Object.entries((h ?? {}) as Record<string, string>)) {
      // `<repo>|<outcome>`: repository names cannot hold `|` (repoName), so the last one splits.
      const at = field.lastIndexOf('|');
      if (at <= 0) continue;
      const byOutcome = out.get(field.slice(0, at)) ?? new Map<string, number>();
      byOutcome.set(field.slice(at + 1), (byOutcome.get(field.slice(at + 1)) ?? 0) + (Number(v) || 0));
      out.set(field.slice(0, at), byOutcome);
    }
  }
  return out;
}

function summarise(day: string, by_outcome: DayCounts['by_outcome']): DayCounts {
  const cycles = Object.values(by_outcome).reduce((a, b) => a + (b ?? 0), 0);
  return { day, cycles, by_outcome, pr_share: cycles ? (by_outcome.ok ?? 0) / cycles : 0 };
}

/** Per-gap figures from the recent cycles, with each gap's current run of failures. */
async function gapStats(rt: Runtime, recent: CycleRecord[]): Promise<GapStats[]> {
  const byGap = new Map<string, CycleRecord[]>();
  for (const r of recent) if (r.gap_id) byGap.set(r.gap_id, [...(byGap.get(r.gap_id) ?? []), r]);
  const histories = await gapHistories(rt.redis, rt.keys, [...byGap.keys()], 20);
  return [...byGap.entries()].map(([gap_id, rs]) => {
    const by_outcome: GapStats['by_outcome'] = {};
    for (const r of rs) by_outcome[r.outcome] = (by_outcome[r.outcome] ?? 0) + 1;
    const history = histories.get(gap_id) ?? rs;
    const consecutive_failures = leadingRun(history, FAILURE_OUTCOMES);
    return {
      gap_id,
      gap_text: rs[0]!.gap_text ?? '',
      cycles: rs.length,
      by_outcome,
      pr_share: (by_outcome.ok ?? 0) / rs.length,
      last_outcome: history[0]?.outcome ?? rs[0]!.outcome,
      consecutive_failures,
    };
  });
}

export async function overview(rt: Runtime, repo: string | null = null): Promise<Overview> {
  const [month, all, st, durations, views] = await Promise.all([
    dayCounts(rt, 30),
    recentRecords(rt.redis, rt.keys, 500),
    status(rt),
    readStageDurations(rt.redis, rt.keys, STAGES),
    rt.views(),
  ]);
  const legacy = [...views.values()].find((v) => v.repo.legacy)?.repo.name;
  const recent = repo === null ? all : all.filter((r) => recordRepo(r, legacy) === repo);
  // Gap histories are kept per repository: each gap's are read from its repository's view.
  const gaps = (
    await Promise.all(
      [...views.values()].map((v) =>
        gapStats(
          v,
          recent.filter((r) => recordRepo(r, legacy) === v.repo.name),
        ),
      ),
    )
  ).flat();
  return {
    budget: st.budget,
    today: month[0]!,
    week: month.slice(0, 7),
    month,
    durations,
    hourNow: new Date(rt.clock()).getUTCHours(),
    recent: recent.slice(0, 25),
    failing: gaps
      .filter((g) => g.consecutive_failures >= 3)
      .sort((a, b) => b.consecutive_failures - a.consecutive_failures),
    queues: st.queues,
    repos: [...views.keys()],
    repo,
    discovered: [...views.values()]
      .filter((v) => v.repo.discovered)
      .map((v) => ({ name: v.repo.name, drained: v.repo.drained === true })),
  };
}

/** `/stats?source=bot`: the shape an observer service reads. */
export async function stats(rt: Runtime, days = 7) {
  const [byDay, recent] = await Promise.all([dayCounts(rt, days), recentRecords(rt.redis, rt.keys, 2000)]);
  const total: DayCounts['by_outcome'] = {};
  for (const d of byDay)
    for (const [k, v] of Object.entries(d.by_outcome)) total[k as Outcome] = (total[k as Outcome] ?? 0) + (v ?? 0);
  const totals = summarise(`last ${days} days`, total);
  return {
    source: 'bot' as const,
    generated_at: new Date(rt.clock()).toISOString(),
    totals: { cycles: totals.cycles, by_outcome: totals.by_outcome, pr_share: totals.pr_share },
    by_day: byDay,
    by_gap: await gapStats(rt, recent),
  };
}
