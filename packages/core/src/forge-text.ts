import { inertText } from './inert-text.ts';
import { redactText } from './redact.ts';

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
  return defuse(redactText(capped).replace(/<!--/g, comment('&lt;!--')).replace(/--!?>/g, comment('--&gt;')));
}

/** One line for a PR title or a commit subject: `neutralise` without newlines, cut at `max`. */
export function forgeTitle(text: string, max: number): string {
  const t = defuse(redactText(inertText(text)).replace(/<!--/g, comment('&lt;!--'))).trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

// Gitea's and GitHub's closing keywords (Gitea adds "reopen"), any case, before an issue reference.
const CLOSING =
  /\b(clos(?:e|es|ed)|fix(?:|es|ed)|resolv(?:e|es|ed)|reopen(?:s|ed)?)(?=:?\s+(?:[\w.-]+\/[\w.-]+)?(?:#|!|GH-)\d|:?\s+https?:\/\/)/gi;

/**
 * Switchable for one purpose: the positive control in test/hostile-text.test.ts turns it off in
 * its own process (back in a `finally`) to show a PRD line's mention, closing keyword and forged
 * marker then reach the PR title. Off, only inertText, redaction and the length cap remain. No
 * variable or config field reaches this object.
 */
export const forgeTextDefence = { neutralise: true };

/** An HTML comment's delimiter escaped (none with the defence off: then the text's own stands). */
const comment = (escaped: string) => (m: string) => (forgeTextDefence.neutralise ? escaped : m);

function defuse(t: string): string {
  if (!forgeTextDefence.neutralise) return t;
  return t
    .replace(/prbot-(cycle|gap|reply)/gi, 'prbot\u2011$1')
    .replace(/(^|[^A-Za-z0-9_`])@(?=[A-Za-z0-9])/g, '$1@\u200b')
    .replace(CLOSING, (k) => `${k.slice(0, -1)}\u200b${k.slice(-1)}`);
}
