import { neutralise, redactText, countActions, type Change } from '@prbot/core';
import type { ModelInfo, CycleRecord, CommandResult } from '@prbot/core';
import { signedMarker } from './types.ts';

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

/**
 * The marker the PR lookup trusts, hidden in rendered Markdown: always the body's last line, with
 * an HMAC of the cycle and gap ids (forge/types.ts `signedMarker`), so neither model text above it
 * nor anyone without the key can make a PR count as another gap's.
 */
function cycleMarker(cycleId: string, gapId?: string): string {
  return signedMarker(cycleId, gapId ?? null);
}

export function prBody(i: PrBodyInput): string {
  const n = countActions(i.changes);
  const files = i.changes
    .map(
      (c) => `- \`${c.action}\` ${neutralise(c.path, 400)}${c.lines ? ` (+${c.lines.added} −${c.lines.removed})` : ''}`,
    )
    .join('\n');
  const tests =
    i.tests
      .map(
        (t) =>
          `- \`${t.argv.join(' ')}\` (${t.phase}): ${t.skipped ? t.skipped : `${t.ok ? 'passed' : 'failed'} in ${(t.durationMs / 1000).toFixed(1)} s`}`,
      )
      .join('\n') || '- none configured';
  const prior = i.history.length
    ? i.history
        .map(
          (h) =>
            `- ${h.ended_at.slice(0, 16)} \`${h.outcome}\`: ${neutralise(h.reason, 500).replace(/\n/g, '\n  ')}${h.pr_url ? ` (${neutralise(h.pr_url, 300)})` : ''}`,
        )
        .join('\n')
    : '- none';
  const body = [
    `**Gap:** ${neutralise(i.gapText, 2000)}`,
    '',
    neutralise(i.summary),
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
    // Last, so nothing after it (and no text of the model's above it) can pose as the marker.
    cycleMarker(i.cycleId, i.gapId),
  ].join('\n');
  return redactText(body);
}
