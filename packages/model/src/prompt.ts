import type { RepoContext } from '@prbot/repo';
import type { ChatMessage } from './chat.ts';

export interface PromptInput {
  gapText: string;
  prdPath: string;
  context: RepoContext;
  history: string;
  notes?: string[];
}

const SYSTEM = `You are prbot, a careful engineer making one small change to a repository.
Answer with JSON only, of this shape:
{"summary": "<one paragraph: what you changed and why>",
 "files": [<file>, …]}
where each <file> is one of:
- a new file, given whole:
  {"path": "<relative path>", "is_new": true, "content": "<the whole file>"}
- an existing file changed by exact search/replace edits:
  {"path": "<relative path>", "is_new": false, "edits": [{"search": "<exact text from the file>", "replace": "<its replacement>"}]}
- an existing file given whole, ONLY if it was shown whole below and you rewrite most of it:
  {"path": "<relative path>", "is_new": false, "content": "<the whole new file>"}
Rules for edits: "search" is copied exactly from the current file (spaces, indentation and line
breaks included) and must occur exactly once in it; include a few surrounding lines to make it
unique. Edits apply in order, each to the result of the ones before. To add at the end of a file,
search for its last lines and repeat them in "replace" followed by the new text. Never include the
"  123| " line numbers of windowed files in "search" or "replace": they are not part of the file.
Never give whole content for a file shown only in windows: the lines not shown would be lost.
Never delete files. Keep the change small and tested: add or update tests with the code. Do not
touch CI definitions, secrets, the PRD or lock files.`;

/** The propose prompt: the gap, what the repository holds, and what was tried before. */
export function buildPrompt(p: PromptInput): ChatMessage[] {
  const user = [`Gap from ${p.prdPath}: ${p.gapText}`, describeContext(p.context), p.history, ...(p.notes ?? [])]
    .filter(Boolean)
    .join('\n\n');
  return [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: user },
  ];
}

/**
 * The repository part of the prompt. Everything left out is said: which lines of a windowed
 * file, which related files had no room, how many paths the map could not list.
 */
function describeContext(c: RepoContext): string {
  const parts: string[] = [];
  const listed = c.map.length;
  // What the gap names comes first: the body of `FIFOCache.popitem` matters more than the map.
  if (c.definitions.length) {
    const defs = c.definitions.map((d) =>
      d.body === null
        ? `--- ${d.text}: ${d.path} lines ${d.from}-${d.to} (the file is shown whole below)`
        : `--- ${d.text}: ${d.path} lines ${d.from}-${d.to}${d.scoped ? '' : ' (not found inside what qualifies it; a definition of the same name)'}\n${d.body}`,
    );
    parts.push(`Definitions of what the gap names:\n${defs.join('\n')}`);
  }
  if (c.names.missing.length)
    parts.push(`Named in the gap but not found in the repository: ${c.names.missing.join(', ')}.`);
  parts.push(
    `Repository map (${c.fileCount} files; "path: top-level symbols"${c.mapOmitted ? `; ${listed} listed, ${c.mapOmitted} more paths not listed for lack of room` : ''}):\n${c.map.join('\n')}`,
  );
  if (c.files.length) {
    const shown = c.files.map((f) =>
      f.shown === 'whole'
        ? `--- ${f.path} (${f.why}; shown whole, ${f.total} lines)\n${f.text}`
        : `--- ${f.path} (${f.why}; ${f.total} lines, too large to show whole: shown lines ${f.lines} with line numbers; left out lines ${f.leftOut}. Change it with edits only.)\n${f.text}`,
    );
    parts.push(`Current content of relevant files:\n${shown.join('\n')}`);
  } else {
    parts.push('No file of the repository is named by the gap; the map above lists what exists.');
  }
  if (c.notShown.length)
    parts.push(`Related files not shown: ${c.notShown.map((n) => `${n.path} (${n.why})`).join(', ')}.`);
  return parts.join('\n\n');
}
