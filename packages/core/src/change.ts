import { z } from 'zod';

const lineStatsSchema = z.object({ added: z.number().int().min(0), removed: z.number().int().min(0) });

/** The two file modes a bot commit may write: a regular file, executable or not. */
const FILE_MODES = ['100644', '100755'] as const;
type FileMode = (typeof FILE_MODES)[number];

/**
 * The two-mode rule of `changeSchema`, switchable for one purpose: the positive control in
 * test/sandbox/jobs.test.ts turns it off in its own process to show that a signed job whose change
 * has mode 120000 (a symbolic link) then puts that link into the pushed bot commit. Off, any
 * six-digit git mode passes (the type still says two; only that control sees another). No
 * variable, config field or job field reaches this object.
 */
export const changeModeDefence = { twoModes: true };

const fileModeSchema = z.custom<FileMode>(
  (v) =>
    typeof v === 'string' &&
    (changeModeDefence.twoModes ? (FILE_MODES as readonly string[]).includes(v) : /^[0-7]{6}$/.test(v)),
  { message: 'mode must be 100644 or 100755 (a regular file: no symbolic link, no submodule)' },
);

/**
 * One file of the bot commit, with its final content: edits are resolved against the base blob
 * in apply, so test and pr rebuild the same commit from this alone.
 */
export const changeSchema = z.object({
  path: z.string(),
  action: z.enum(['ADD', 'UPDATE', 'NOOP']),
  mode: fileModeSchema,
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
