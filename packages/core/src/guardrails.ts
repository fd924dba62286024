import path from 'node:path';
import picomatch from 'picomatch';

/**
 * Paths the bot may never write, whatever the config or policy says. Config may add patterns
 * (`guardrails.forbidden`), never remove these. Matching is case-insensitive because a
 * checkout on a case-insensitive file system would turn `.GIT/` into `.git/`.
 */
const BUILT_IN: { test: (p: string, ctx: GuardContext) => boolean; why: string }[] = [
  { test: (p) => segments(p).some((s) => s === '.git'), why: 'is inside .git/' },
  { test: (p) => segments(p).some((s) => s.includes('secret')), why: 'is a secrets path' },
  { test: (p) => /^prbot\.config\.(json|ya?ml)$/.test(path.posix.basename(p)), why: "is the bot's config" },
  { test: (p, c) => c.configFile !== undefined && p === c.configFile.toLowerCase(), why: "is the bot's config" },
  { test: (p) => /^docs\/adr-/.test(p), why: 'is an architecture decision record (docs/ADR-*)' },
  { test: (p) => p === 'docs/decisions.md', why: 'is docs/DECISIONS.md' },
  { test: (p, c) => p === c.prdPath.toLowerCase(), why: 'is the PRD itself' },
  { test: (p, c) => p === c.pauseFile.toLowerCase(), why: 'is the pause file' },
  { test: (p) => path.posix.basename(p) === 'cargo.lock', why: 'is Cargo.lock' },
  {
    // Model-written CI would run with the repository's secrets.
    test: (p) => /^\.(github|gitea|forgejo)\/workflows\//.test(p) || p === '.gitlab-ci.yml',
    why: 'is a CI definition',
  },
  { test: (p) => p === '.gitmodules', why: 'is .gitmodules (a submodule can point anywhere)' },
];

export interface GuardContext {
  prdPath: string;
  pauseFile: string;
  configFile?: string;
  extraForbidden: string[];
}

function segments(p: string): string[] {
  return p.split('/');
}

// Controls, DEL, the C1 range, bidi overrides and zero-width characters: they make a path
// look like another one in a review, or break tools downstream.
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/u;

/**
 * Why a proposed path is refused, or null when it is allowed. Checks the spelling first
 * (relative, normalised, no `..`, NUL, backslash, control or invisible characters), then the
 * forbidden list. Where it resolves on disk (symlinks) is checked against the base tree by apply.
 */
export function pathRefusal(p: unknown, ctx: GuardContext): string | null {
  if (typeof p !== 'string' || p.length === 0) return 'path must be a non-empty string';
  const shown = JSON.stringify(p).slice(0, 200);
  if (p.length > 400) return `path ${shown} is longer than 400 characters`;
  if (INVISIBLE.test(p)) return `path ${shown} contains a control or invisible character`;
  if (p.includes('\\')) return `path ${shown} contains a backslash`;
  if (p.startsWith('/') || /^[a-z]:/i.test(p)) return `path ${shown} is absolute`;
  if (p.normalize('NFC') !== p) return `path ${shown} is not in Unicode normal form NFC`;
  if (segments(p).some((s) => s === '..')) return `path ${shown} climbs out with ".."`;
  if (path.posix.normalize(p) !== p || p.endsWith('/') || segments(p).some((s) => s === '.' || s === '')) {
    return `path ${shown} is not normalised (use ${JSON.stringify(path.posix.normalize(p).replace(/\/$/, ''))})`;
  }
  // Windows and some tools strip trailing dots and spaces, turning `.git.` into `.git`.
  if (segments(p).some((s) => /[\s.]$/.test(s))) return `path ${shown} has a segment ending in a dot or space`;
  const lower = p.toLowerCase();
  for (const rule of BUILT_IN) {
    if (rule.test(lower, ctx)) return `path ${shown} ${rule.why}`;
  }
  for (const pattern of ctx.extraForbidden) {
    if (picomatch.isMatch(p, pattern, { dot: true, nocase: true })) return `path ${shown} matches the forbidden pattern "${pattern}"`;
  }
  return null;
}
