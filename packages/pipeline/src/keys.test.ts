import { describe, expect, it } from 'vitest';
import { keys } from './keys.ts';

/** Every key of the single-repository layout, as the code before many repositories built it. */
function layout(k: ReturnType<typeof keys>): string[] {
  return [
    k.budgetDay('2026-12-07'),
    k.budgetCycle('c1'),
    k.inflight('g1'),
    k.outcome('c1'),
    k.record('c1'),
    k.history('g1'),
    k.recent(),
    k.stats('2026-12-07'),
    k.durations('test'),
    k.prOpen(),
    k.prOpenedHour(),
    k.pattern(),
    k.inflightPattern(),
    k.orphans(),
    k.reconcileLock(),
    k.reviseTrigger(7, 'comment-1'),
    k.revisions(7),
    k.reviseReplied('c1'),
    k.reviseQueue(7),
    k.reviseQueued('g1'),
    k.upkeepNoted('bot/x', 'rebased'),
    k.reproposals('bot/x'),
    k.webhookDelivery('d1'),
    k.gapPrs(),
    k.dashboardIssue(),
    k.dashboardIssueLock(),
    k.epoch(),
    k.workerRecoveries(),
    k.workersAlive('test'),
    k.stalled(),
  ];
}

describe('keys', () => {
  it('without a repository: the single-repository layout, byte for byte', () => {
    expect(layout(keys('{p}'))).toEqual([
      '{p}:bot:budget:2026-12-07',
      '{p}:bot:budget-cycle:c1',
      '{p}:bot:inflight:g1',
      '{p}:bot:outcome:c1',
      '{p}:bot:record:c1',
      '{p}:bot:history:g1',
      '{p}:bot:recent',
      '{p}:bot:stats:2026-12-07',
      '{p}:bot:durations:test',
      '{p}:bot:pr-open',
      '{p}:bot:pr-opened',
      '{p}:*',
      '{p}:bot:inflight:*',
      '{p}:bot:orphans',
      '{p}:bot:reconcile-lock',
      '{p}:bot:revise-trigger:7:comment-1',
      '{p}:bot:revisions:7',
      '{p}:bot:revise-replied:c1',
      '{p}:bot:revise-queue:7',
      '{p}:bot:revise-queued:g1',
      '{p}:bot:upkeep-noted:d9c8197e6ab5efd5a2f49323:rebased',
      '{p}:bot:reproposals:d9c8197e6ab5efd5a2f49323',
      '{p}:bot:webhook-delivery:8b53639f152c8fc6ef30802fde462ba0',
      '{p}:bot:gap-prs',
      '{p}:bot:dashboard-issue',
      '{p}:bot:dashboard-issue-lock',
      '{p}:bot:epoch',
      '{p}:bot:worker-recoveries',
      '{p}:bot:workers-alive:test',
      '{p}:bot:stalled',
    ]);
  });

  it("with a repository: that repository's own state is scoped, the shared keys are not", () => {
    const legacy = layout(keys('{p}'));
    const scoped = layout(keys('{p}', 'shop'));
    const changed = scoped.filter((key, i) => key !== legacy[i]);
    expect(changed).toEqual([
      '{p}:bot:repo:shop:inflight:g1',
      '{p}:bot:repo:shop:history:g1',
      '{p}:bot:repo:shop:pr-open',
      '{p}:bot:repo:shop:pr-opened',
      '{p}:bot:repo:shop:inflight:*',
      '{p}:bot:repo:shop:revise-trigger:7:comment-1',
      '{p}:bot:repo:shop:revisions:7',
      '{p}:bot:repo:shop:revise-queue:7',
      '{p}:bot:repo:shop:revise-queued:g1',
      expect.stringMatching(/^\{p\}:bot:repo:shop:upkeep-noted:[0-9a-f]{24}:rebased$/),
      expect.stringMatching(/^\{p\}:bot:repo:shop:reproposals:[0-9a-f]{24}$/),
      '{p}:bot:repo:shop:gap-prs',
      '{p}:bot:repo:shop:dashboard-issue',
      '{p}:bot:repo:shop:dashboard-issue-lock',
    ]);
    // Another repository's pattern never matches the legacy one's locks, nor the reverse.
    expect(keys('{p}').inflightPattern()).toBe('{p}:bot:inflight:*');
  });
});
