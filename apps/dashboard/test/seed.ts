import { cycleRecord, newCycleId, type CycleRecord, type Outcome } from '@prbot/core';
import { recordOutcome, type Runtime } from '@prbot/pipeline';

const base = (gap: { id: string; text: string }, outcome: Outcome, at: number): CycleRecord =>
  cycleRecord({
    cycle_id: newCycleId(at),
    gap_id: gap.id,
    gap_text: gap.text,
    gap_line: 3,
    outcome,
    reason: `seeded ${outcome}`,
    stage: outcome === 'ok' ? 'pr' : 'test',
    started_at: new Date(at).toISOString(),
    ended_at: new Date(at).toISOString(),
    dry_run: false,
    pr_url: outcome === 'ok' ? `https://git.example.com/o/r/pulls/${at % 1000}` : null,
  });

export const GAP_A = { id: 'gaaaaaaaaaaaa', text: 'Add truncate' };
export const GAP_B = { id: 'gbbbbbbbbbbbb', text: 'Add reverse' };

/** Known figures: 3 calls and 2,100 tokens spent; ok ×2, tests_failed ×3 (gap B failing 3 in a row). */
export async function seed(rt: Runtime): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const r = await rt.budget.reserve(`cseed${i}000000`, 1000);
    if (!r.granted) throw new Error('seed budget refused');
    await rt.budget.settle(r, 700);
  }
  const now = rt.clock();
  await recordOutcome(rt.records, base(GAP_A, 'ok', now - 5000));
  await recordOutcome(rt.records, base(GAP_A, 'ok', now - 4000));
  for (let i = 0; i < 3; i++) await recordOutcome(rt.records, base(GAP_B, 'tests_failed', now - 3000 + i));
  await rt.queues.test.add(
    'test',
    { cycleId: 'cseedjob0000001', note: 'visible in Bull Board' },
    { jobId: 'cseedjob0000001-test' },
  );
}
