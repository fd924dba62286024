import { z } from 'zod';

export const commandResultSchema = z.object({
  phase: z.enum(['setup', 'test']),
  argv: z.array(z.string()),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  timedOut: z.boolean(),
  durationMs: z.number().int().min(0),
  ok: z.boolean(),
  tail: z.string(),
});
export type CommandResult = z.infer<typeof commandResultSchema>;
