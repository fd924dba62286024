import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { changeSchema } from './changes.ts';
import { contextShownSchema } from './context/index.ts';
import { modelInfoSchema } from './model/info.ts';
import { gapSchema } from './prd.ts';
import { proposalSchema } from './proposal.ts';
import { commandResultSchema } from './testresult.ts';

const sha = z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, 'a full commit id');
export const cycleIdSchema = z.string().regex(/^c[0-9a-z]{8,40}$/, 'a cycle id');

/** Job payloads: each stage's payload carries everything the next stage needs. */
export const proposeJobSchema = z.object({
  cycleId: cycleIdSchema,
  gap: gapSchema,
  baseCommit: sha,
  /** ms since epoch; also fixes the bot commit's dates so any machine rebuilds the same id. */
  createdAt: z.number().int().positive(),
  dryRun: z.boolean(),
  /** Facts for the prompt that are not cycle records, e.g. a reviewer closed the last bot PR. */
  notes: z.array(z.string()).default([]),
});
export const applyJobSchema = proposeJobSchema.extend({ proposal: proposalSchema, model: modelInfoSchema, context: z.array(contextShownSchema).optional() });
export const testJobSchema = applyJobSchema.extend({ changes: z.array(changeSchema).min(1), botCommit: sha });
export const prJobSchema = testJobSchema.extend({ tests: z.array(commandResultSchema) });

export type ProposeJob = z.infer<typeof proposeJobSchema>;
export type ApplyJob = z.infer<typeof applyJobSchema>;
export type TestJob = z.infer<typeof testJobSchema>;
export type PrJob = z.infer<typeof prJobSchema>;
export type AnyCycleJob = ProposeJob & Partial<Omit<PrJob, keyof ProposeJob>>;

/** Sortable by time, unique across machines, never all digits and never containing ':' (BullMQ ids). */
export function newCycleId(now = Date.now()): string {
  return 'c' + now.toString(36).padStart(9, '0') + randomBytes(4).toString('hex');
}
