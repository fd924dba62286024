import { countActions, type Change } from '../changes.ts';
import { inertText } from '../inert-text.ts';
import { redactText } from '../redact.ts';
import type { ModelInfo } from '../model/info.ts';
import type { CycleRecord } from '../records.ts';
import type { CommandResult } from '../testresult.ts';
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
export function cycleMarker(cycleId: string, gapId?: string): string {
  return signedMarker(cycleId, gapId ?? null);
}

/** The longest summary a PR body carries; a model cannot fill a PR with megabytes. */
export const SUMMARY_CAP = 4000;

/**
 * The one sanitizer for model-, PRD- or forge-supplied text that prbot writes where a forge shows
 * it (PR bodies, titles, commit messages, replies): control characters, ANSI escapes, bidi
 * overrides and invisible characters removed (inert-text.ts); known secret values redacted;
 * length capped; HTML comments (and so any marker) escaped; `@` mentions and closing keywords
 * ("Fixes #1", "closes owner/repo#2", "resolves https://…/issues/3") broken with a zero-width
 * space, so a gap line or a model's summary can neither ping people nor close an unrelated issue
 * when a human merges the PR (GitHub and Gitea read both in bodies and commit messages).
 */
export function neutralise(text: string, max = SUMMARY_CAP, o: { multiline?: boolean } = { multiline: true }): string {
  const clean = inertText(text, o);
  const capped = clean.length > max ? `${clean.slice(0, max)}… (cut at ${max} characters)` : clean;
  return defuse(redactText(capped).replace(/<!--/g, '&lt;!--').replace(/--!?>/g, '--&gt;'));
}

/** One line for a PR title or a commit subject: `neutralise` without newlines, cut at `max`. */
export function forgeTitle(text: string, max: number): string {
  const t = defuse(redactText(inertText(text)).replace(/<!--/g, '&lt;!--')).trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

// Gitea's and GitHub's closing keywords (Gitea adds "reopen"), any case, before an issue reference.
const CLOSING = /\b(clos(?:e|es|ed)|fix(?:|es|ed)|resolv(?:e|es|ed)|reopen(?:s|ed)?)(?=:?\s+(?:[\w.-]+\/[\w.-]+)?(?:#|!|GH-)\d|:?\s+https?:\/\/)/gi;

function defuse(t: string): string {
  return t
    .replace(/prbot-(cycle|gap|reply)/gi, 'prbot\u2011$1')
    .replace(/(^|[^A-Za-z0-9_`])@(?=[A-Za-z0-9])/g, '$1@\u200b')
    .replace(CLOSING, (k) => `${k.slice(0, -1)}\u200b${k.slice(-1)}`);
}

export function prBody(i: PrBodyInput): string {
  const n = countActions(i.changes);
  const files = i.changes.map((c) => `- \`${c.action}\` ${neutralise(c.path, 400)}${c.lines ? ` (+${c.lines.added} −${c.lines.removed})` : ''}`).join('\n');
  const tests = i.tests.map((t) => `- \`${t.argv.join(' ')}\` (${t.phase}): ${t.ok ? 'passed' : 'failed'} in ${(t.durationMs / 1000).toFixed(1)} s`).join('\n') || '- none configured';
  const prior = i.history.length
    ? i.history.map((h) => `- ${h.ended_at.slice(0, 16)} \`${h.outcome}\`: ${neutralise(h.reason, 500).replace(/\n/g, '\n  ')}${h.pr_url ? ` (${neutralise(h.pr_url, 300)})` : ''}`).join('\n')
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
