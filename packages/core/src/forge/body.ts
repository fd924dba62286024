import { countActions, type Change } from '../changes.ts';
import type { ModelInfo } from '../model/info.ts';
import type { CycleRecord } from '../records.ts';
import type { CommandResult } from '../testresult.ts';

export interface PrBodyInput {
  cycleId: string;
  gapId: string;
  gapText: string;
  summary: string;
  changes: Change[];
  tests: CommandResult[];
  model: ModelInfo;
  history: CycleRecord[];
}

/** The marker the PR lookup can match on, hidden in rendered Markdown. */
export function cycleMarker(cycleId: string, gapId?: string): string {
  return `<!-- prbot-cycle: ${cycleId} -->` + (gapId ? `\n<!-- prbot-gap: ${gapId} -->` : '');
}

export function prBody(i: PrBodyInput): string {
  const n = countActions(i.changes);
  const files = i.changes.map((c) => `- \`${c.action}\` ${c.path}${c.lines ? ` (+${c.lines.added} −${c.lines.removed})` : ''}`).join('\n');
  const tests = i.tests.map((t) => `- \`${t.argv.join(' ')}\` (${t.phase}): ${t.ok ? 'passed' : 'failed'} in ${(t.durationMs / 1000).toFixed(1)} s`).join('\n') || '- none configured';
  const prior = i.history.length
    ? i.history.map((h) => `- ${h.ended_at.slice(0, 16)} \`${h.outcome}\`: ${h.reason.replace(/\n/g, '\n  ')}${h.pr_url ? ` (${h.pr_url})` : ''}`).join('\n')
    : '- none';
  return [
    `**Gap:** ${i.gapText}`,
    '',
    i.summary,
    '',
    `**Changes:** ${n.ADD} added, ${n.UPDATE} updated, ${n.NOOP} unchanged`,
    files,
    '',
    '**Tests**',
    tests,
    '',
    `**Model:** rung ${i.model.rung}${i.model.escalated ? ' (escalated after repeated tests_failed)' : ''}, ${i.model.usage.prompt_tokens} prompt + ${i.model.usage.completion_tokens} completion tokens${i.model.usageEstimated ? ' (estimated)' : ''}`,
    '',
    '**Prior attempts on this gap**',
    prior,
    '',
    `Cycle \`${i.cycleId}\`. Opened as a draft by prbot; nothing merges without a human.`,
    cycleMarker(i.cycleId, i.gapId),
  ].join('\n');
}
