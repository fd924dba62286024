import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { changeSchema } from './change.ts';
import { contextShownSchema } from './context-shown.ts';
import { modelInfoSchema } from './model-info.ts';
import { gapSchema } from './gap.ts';
import { refreshRequestSchema } from './refresh.ts';
import { proposalSchema } from './proposal.ts';
import { commandResultSchema } from './test-result.ts';

const sha = z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, 'a full commit id');
export const cycleIdSchema = z.string().regex(/^c[0-9a-z]{8,40}$/, 'a cycle id');

/**
 * A revise cycle's request (issue 17): the PR, what asked for it, and the conversation, all
 * hostile text, capped when the request is made. `baseCommit` of such a cycle is the PR's head.
 */
const reviseRequestSchema = z.object({
  pr: z.number().int().positive(),
  url: z.string(),
  branch: z.string().min(1),
  /** The cycle that opened the PR (from its signed marker). */
  originCycle: z.string(),
  trigger: z.object({
    kind: z.enum(['comment', 'label']),
    id: z.string(),
    author: z.string(),
    via: z.enum(['poll', 'webhook']),
  }),
  /** Newest last, at most revise.threadCap, each body at most revise.commentChars. */
  thread: z.array(
    z.object({
      author: z.string(),
      kind: z.enum(['issue', 'review', 'summary']),
      body: z.string(),
      path: z.string().optional(),
      trigger: z.boolean(),
    }),
  ),
  /** Comments left out of the thread by the cap (the prompt says so). */
  threadOmitted: z.number().int().min(0),
  /** The last test digest of the gap's cycles (the PR's own, or a previous revision's). */
  lastDigest: z.string().nullable(),
  /** 1 for the first revision of this PR. */
  revision: z.number().int().positive(),
});
export type ReviseRequest = z.infer<typeof reviseRequestSchema>;

/** Job payloads: each stage's payload carries everything the next stage needs. */
export const proposeJobSchema = z.object({
  cycleId: cycleIdSchema,
  /**
   * The configured repository the cycle belongs to (its runtime view); absent in jobs enqueued
   * before many repositories: those belong to the legacy repository (pipeline legacy-repo.ts).
   */
  repo: z.string().optional(),
  gap: gapSchema,
  baseCommit: sha,
  /** ms since epoch; also fixes the bot commit's dates so any machine rebuilds the same id. */
  createdAt: z.number().int().positive(),
  dryRun: z.boolean(),
  /**
   * The cycle's place in its repository's line when it was enqueued (1 = nothing of its
   * repository ahead of it): every stage's job carries it as its BullMQ priority, so across
   * repositories the queues take turns instead of serving one repository's backlog first
   * (docs/ARCHITECTURE.md, "Fair shares"). Absent: no priority (revise and refresh cycles).
   */
  rank: z.number().int().min(1).max(2_097_152).optional(),
  /** Facts for the prompt that are not cycle records, e.g. a reviewer closed the last bot PR. */
  notes: z.array(z.string()).default([]),
  /** Set for a revise cycle: the PR it revises; pr then pushes to that branch instead of opening a PR. */
  revise: reviseRequestSchema.optional(),
  /** Set for a refresh cycle (issue 25): pr then pushes to that branch with a lease instead of opening a PR. */
  refresh: refreshRequestSchema.optional(),
});
export const applyJobSchema = proposeJobSchema.extend({
  proposal: proposalSchema,
  model: modelInfoSchema,
  context: z.array(contextShownSchema).optional(),
  /** The names the gap mentions and whether their definitions were found (record `context_names`). */
  contextNames: z.object({ found: z.array(z.string()), missing: z.array(z.string()) }).optional(),
});
export const testJobSchema = applyJobSchema.extend({ changes: z.array(changeSchema).min(1), botCommit: sha });
export const prJobSchema = testJobSchema.extend({ tests: z.array(commandResultSchema) });

export type ProposeJob = z.infer<typeof proposeJobSchema>;
type ApplyJob = z.infer<typeof applyJobSchema>;
export type TestJob = z.infer<typeof testJobSchema>;
export type PrJob = z.infer<typeof prJobSchema>;
export type AnyCycleJob = ProposeJob & Partial<Omit<PrJob, keyof ProposeJob>>;

/** Sortable by time, unique across machines, never all digits and never containing ':' (BullMQ ids). */
export function newCycleId(now = Date.now()): string {
  return 'c' + now.toString(36).padStart(9, '0') + randomBytes(4).toString('hex');
}
