import { z } from 'zod';

const lineStatsSchema = z.object({ added: z.number().int().min(0), removed: z.number().int().min(0) });

/**
 * One file of the bot commit, with its final content: edits are resolved against the base blob
 * in apply, so test and pr rebuild the same commit from this alone.
 */
export const changeSchema = z.object({
  path: z.string(),
  action: z.enum(['ADD', 'UPDATE', 'NOOP']),
  mode: z.enum(['100644', '100755']),
  content: z.string(),
  /** Lines added and removed against the base (the PR body's +/− per file). */
  lines: lineStatsSchema.optional(),
});
export type Change = z.infer<typeof changeSchema>;

export function countLines(s: string): number {
  if (s === '') return 0;
  return s.split('\n').length - (s.endsWith('\n') ? 1 : 0);
}

export function countActions(changes: Pick<Change, 'action'>[]): Record<Change['action'], number> {
  const c = { ADD: 0, UPDATE: 0, NOOP: 0 };
  for (const ch of changes) c[ch.action]++;
  return c;
}
