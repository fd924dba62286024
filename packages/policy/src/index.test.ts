import { describe, expect, it } from 'vitest';
import { cycleRecord, type CycleRecord, type Outcome } from '@prbot/core';
import { failureStreak, pickGaps, shouldRunCycle, type PolicySettings } from './index.ts';

const settings: PolicySettings = { maxGapsPerRun: 10, maxConsecutiveFailures: 3, retryClosedPRs: false };
const gap = (id: string, line = 1) => ({ id, text: `gap ${id}`, line });

/** Newest first, as core's history list is. */
function history(...outcomes: Outcome[]): CycleRecord[] {
  return outcomes.map((outcome, i) =>
    cycleRecord({
      cycle_id: `c${i}`,
      outcome,
      reason: '',
      stage: 'propose',
      started_at: '',
      ended_at: '',
      dry_run: false,
    }),
  );
}

describe('the failure streak', () => {
  it('covers every non-ok outcome since the last success; skips and infra_failed neither count nor reset', () => {
    expect(
      failureStreak(
        history('tests_failed', 'skipped_cost', 'model_failed', 'skipped_policy', 'apply_failed', 'ok', 'tests_failed'),
      ),
    ).toBe(3);
    expect(failureStreak(history('infra_failed', 'infra_failed', 'tests_failed'))).toBe(1);
    expect(failureStreak(history('cycle_noop', 'pr_skipped_by_policy', 'proposal_rejected'))).toBe(3);
    expect(failureStreak(history('ok', 'tests_failed'))).toBe(0);
    expect(failureStreak([])).toBe(0);
  });

  it('a hopeless gap stays refused after its own skipped_policy and a day of skipped_cost', () => {
    const h = history('skipped_policy', 'skipped_cost', 'skipped_cost', 'tests_failed', 'tests_failed', 'model_failed');
    expect(shouldRunCycle({ gap: gap('a'), history: h }, settings)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/3 failures since the gap's last success/),
    });
    expect(pickGaps([{ gap: gap('a'), history: h }], settings)).toEqual([]);
  });

  it("infra_failed is not the gap's fault: it neither refuses the gap nor forgives it", () => {
    expect(
      shouldRunCycle(
        { gap: gap('a'), history: history('infra_failed', 'infra_failed', 'infra_failed', 'infra_failed') },
        settings,
      ).ok,
    ).toBe(true);
    expect(
      shouldRunCycle(
        {
          gap: gap('a'),
          history: history('tests_failed', 'infra_failed', 'tests_failed', 'infra_failed', 'tests_failed'),
        },
        settings,
      ).ok,
    ).toBe(false);
  });

  it('pickGaps leaves hopeless gaps out and orders the rest by fewer failures, then PRD order', () => {
    const picked = pickGaps(
      [
        { gap: gap('hopeless', 1), history: history('tests_failed', 'skipped_cost', 'tests_failed', 'tests_failed') },
        { gap: gap('twice', 2), history: history('tests_failed', 'skipped_policy', 'tests_failed') },
        { gap: gap('fresh', 3), history: [] },
        { gap: gap('recovered', 4), history: history('ok', 'tests_failed', 'tests_failed') },
      ],
      settings,
    );
    expect(picked.map((g) => g.id)).toEqual(['fresh', 'recovered', 'twice']);
  });
});
