import { z } from 'zod';
import { cycleIdSchema } from '@prbot/core';

/** A revise request accepted for a PR and kept until it starts (revise-queue.ts): everything judged about it. */
export const queuedRequestSchema = z.object({
  triggerId: z.string().min(1).max(300),
  trigger: z.discriminatedUnion('kind', [
    z.object({
      kind: z.literal('comment'),
      commentId: z.number().int().positive(),
      commentKind: z.enum(['issue', 'review', 'summary']).optional(),
      author: z.string(),
      body: z.string(),
    }),
    z.object({ kind: z.literal('label'), label: z.string(), actor: z.string() }),
  ]),
  via: z.enum(['poll', 'webhook']),
  who: z.string(),
  revision: z.number().int().positive(),
  cycleId: cycleIdSchema,
  gapId: z.string(),
  queuedAt: z.number(),
});
export type QueuedRequest = z.infer<typeof queuedRequestSchema>;
