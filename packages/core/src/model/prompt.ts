import type { ChatMessage } from './chat.ts';

export interface PromptInput {
  gapText: string;
  prdPath: string;
  files: string[];
  excerpts: { path: string; content: string }[];
  history: string;
  notes?: string[];
}

const SYSTEM = `You are prbot, a careful engineer making one small change to a repository.
Answer with JSON only, of this shape:
{"summary": "<one paragraph: what you changed and why>",
 "files": [{"path": "<relative path>", "is_new": <true if the file does not exist yet>, "content": "<the whole new file content>"}]}
Rules: give whole file contents, never diffs. Never delete files. Keep the change small and tested:
add or update tests with the code. Do not touch CI definitions, secrets, the PRD or lock files.`;

/** The propose prompt: the gap, what the repository holds, and what was tried before. */
export function buildPrompt(p: PromptInput): ChatMessage[] {
  const listing = p.files.slice(0, 400).join('\n') + (p.files.length > 400 ? `\n… and ${p.files.length - 400} more` : '');
  const excerpts = p.excerpts.map((e) => `--- ${e.path}\n${e.content}`).join('\n');
  const user = [
    `Gap from ${p.prdPath}: ${p.gapText}`,
    `Files in the repository:\n${listing}`,
    excerpts ? `Current content of relevant files:\n${excerpts}` : '',
    p.history,
    ...(p.notes ?? []),
  ]
    .filter(Boolean)
    .join('\n\n');
  return [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: user },
  ];
}
