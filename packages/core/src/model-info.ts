import { z } from 'zod';
import { usageSchema } from './usage.ts';

const rungAttemptSchema = z.object({
  rung: z.string(),
  ok: z.boolean(),
  error: z.string().optional(),
  ms: z.number().int().min(0),
});
export type RungAttempt = z.infer<typeof rungAttemptSchema>;

/** What the propose stage tells later stages (and the record) about the model call. */
export const modelInfoSchema = z.object({
  rung: z.string(),
  usage: usageSchema,
  usageEstimated: z.boolean(),
  escalated: z.boolean(),
  attempts: z.array(rungAttemptSchema),
});
export type ModelInfo = z.infer<typeof modelInfoSchema>;
