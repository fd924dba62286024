import { afterEach, describe, expect, it } from 'vitest';
import { cycleRecord, type Outcome } from '@prbot/core';
import { recordOutcome, type Runtime } from '@prbot/pipeline';
import { defaultPolicy } from '@prbot/policy';
import { createHarness, repoWithGaps, type Harness } from '@prbot/test-support';

import { produce, type ProduceReport } from './produce.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const T0 = Date.UTC(2026, 10, 24, 12);
const MIN = 60_000;

async function world(policy: Record<string, unknown>, gaps = ['Add a reverse helper']) {
  let now = T0;
  h = await createHarness({ repo: await repoWithGaps(gaps), config: { policy } });
  const rt = h.runtime({ clock: () => now });
  return { rt, at: (ms: number) => (now = T0 + ms) };
}

/** Ends the cycle produce enqueued for this line, as a stage would, at the runtime's clock. */
async function end(rt: Runtime, line: ProduceReport['lines'][number], outcome: Outcome): Promise<void> {
  const t = new Date(rt.clock()).toISOString();
  await recordOutcome(
    rt.records,
    cycleRecord({
      cycle_id: line.cycleId!,
      gap_id: line.gap.id,
      gap_text: line.gap.text,
      gap_line: line.gap.line,
      outcome,
      reason: 'test',
      stage: 'test',
      started_at: t,
      ended_at: t,
      dry_run: false,
    }),
  );
  await rt.queues.propose.obliterate({ force: true });
}

describe('produce pacing', () => {
  it('a gap that just ended cools down, says until when, then is enqueued again', async () => {
    const { rt, at } = await world({ coolDownMs: 10 * MIN, noopCoolDownMs: 60 * MIN });
    const first = await produce(rt, defaultPolicy);
    expect(first.lines.map((l) => l.action)).toEqual(['enqueued']);
    at(1 * MIN);
    await end(rt, first.lines[0]!, 'tests_failed');
    at(5 * MIN);
    const cooling = await produce(rt, defaultPolicy);
    expect(cooling.lines).toMatchObject([
      {
        action: 'cooling_down',
        until: T0 + 11 * MIN,
        why: `cooling down until ${new Date(T0 + 11 * MIN).toISOString()} after tests_failed (policy.coolDownMs)`,
      },
    ]);
    expect(await rt.queues.propose.count()).toBe(0);
    at(11 * MIN);
    expect((await produce(rt, defaultPolicy)).lines.map((l) => l.action)).toEqual(['enqueued']);
  });

  it('after cycle_noop the longer noop cool-down applies, so the model is not asked the same again', async () => {
    const { rt, at } = await world({ coolDownMs: 10 * MIN, noopCoolDownMs: 60 * MIN });
    const first = await produce(rt, defaultPolicy);
    await end(rt, first.lines[0]!, 'cycle_noop');
    at(30 * MIN);
    expect((await produce(rt, defaultPolicy)).lines).toMatchObject([
      { action: 'cooling_down', why: expect.stringMatching(/after cycle_noop \(policy\.noopCoolDownMs\)/) },
    ]);
    at(60 * MIN);
    expect((await produce(rt, defaultPolicy)).lines.map((l) => l.action)).toEqual(['enqueued']);
  });

  it('says why a gap was left out by maxGapsPerRun', async () => {
    const { rt } = await world({ maxGapsPerRun: 1 }, ['Gap A', 'Gap B']);
    const first = await produce(rt, defaultPolicy);
    expect(first.lines.map((l) => [l.action, l.why])).toEqual([
      ['enqueued', 'new cycle'],
      ['not_picked', 'left out by policy.pickGaps (at most policy.maxGapsPerRun = 1 a run)'],
    ]);
  });

  it('says why each gap was not enqueued: in flight, too many failures (skips do not reset the streak)', async () => {
    const { rt, at } = await world({ coolDownMs: 0, noopCoolDownMs: 0, maxConsecutiveFailures: 2 }, [
      'Gap A',
      'Gap B',
      'Gap C',
    ]);
    const first = await produce(rt, defaultPolicy);
    expect(first.lines.map((l) => l.action)).toEqual(['enqueued', 'enqueued', 'enqueued']);
    const [a, b] = first.lines;
    // A fails twice with skips in between: skips do not reset its streak.
    await end(rt, a!, 'tests_failed');
    let again = await produce(rt, defaultPolicy);
    const a2 = again.lines.find((l) => l.gap.id === a!.gap.id && l.action === 'enqueued')!;
    await end(rt, a2, 'skipped_cost');
    again = await produce(rt, defaultPolicy);
    const a3 = again.lines.find((l) => l.gap.id === a!.gap.id && l.action === 'enqueued')!;
    await end(rt, a3, 'model_failed');
    await end(rt, b!, 'ok');
    at(1000);
    const report = await produce(rt, defaultPolicy);
    const byGap = new Map(report.lines.map((l) => [l.gap.text, l]));
    expect(byGap.get('Gap A')).toMatchObject({
      action: 'too_many_failures',
      why: 'too many failures: 2 non-ok outcomes since the last success (policy.maxConsecutiveFailures is 2); reword the PRD line to try again',
    });
    expect(byGap.get('Gap C')).toMatchObject({
      action: 'in_flight',
      why: expect.stringMatching(/^cycle \S+ is still in flight$/),
    });
    expect(report.lines.every((l) => l.why.length > 0)).toBe(true);
  });
});
