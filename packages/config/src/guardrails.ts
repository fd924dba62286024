import { z } from 'zod';
import { positiveInt } from './common.ts';

export const guardrailsSection = z
  .strictObject({
    /** Extra glob patterns to refuse; they add to the built-in list, never replace it. */
    forbidden: z.array(z.string().min(1)).default([]),
    maxFiles: positiveInt.default(20),
    maxFileBytes: positiveInt.default(200_000),
    maxTotalBytes: positiveInt.default(500_000),
    /** Share of a file's lines a proposal may remove when the gap does not ask for removal. */
    maxShrink: z.number().min(0).max(1).default(0.3),
  })
  .prefault({});
