import { z } from 'zod';
import { contextShownSchema } from './context-shown.ts';
import { inertText } from './inert-text.ts';
import { modelInfoSchema } from './model-info.ts';
import { outcomeSchema, type Outcome } from './outcomes.ts';
import { commandResultSchema, limitHitSchema } from './test-result.ts';

export const cycleRecordSchema = z.object({
  cycle_id: z.string(),
  /** The configured repository's name (absent in records from before many repositories). */
  repo: z.string().optional(),
  gap_id: z.string().nullable(),
  gap_text: z.string().nullable(),
  gap_line: z.number().int().nullable(),
  outcome: outcomeSchema,
  reason: z.string(),
  /** The stage that ended the cycle. */
  stage: z.enum(['produce', 'propose', 'apply', 'test', 'pr']),
  started_at: z.string(),
  ended_at: z.string(),
  dry_run: z.boolean(),
  base_commit: z.string().nullable(),
  bot_commit: z.string().nullable(),
  summary: z.string().nullable(),
  files: z.array(z.object({ path: z.string(), action: z.enum(['ADD', 'UPDATE', 'NOOP']) })),
  tests: z.array(commandResultSchema),
  model: modelInfoSchema.nullable(),
  /** Every file the prompt showed, whole or in windows (absent in records from before it existed). */
  context: z.array(contextShownSchema).optional(),
  branch: z.string().nullable(),
  pr_url: z.string().nullable(),
  /** What went wrong without changing the outcome (a label not applied, a draft refused by the forge). */
  warnings: z.array(z.string()).optional(),
  /** A limit of tests.limits the run hit (memory, processes, time, output): the machine's bound, so the outcome is infra_failed. */
  limit: limitHitSchema.optional(),
  /** The names the gap mentions (`Class.method`, `path:line` …) and whether the prompt found their definitions. */
  context_names: z.object({ found: z.array(z.string()), missing: z.array(z.string()) }).optional(),
  /** `revise`: a revise cycle on an open bot PR (absent: a cycle that opens a PR). */
  kind: z.enum(['gap', 'revise', 'refresh', 'upkeep']).optional(),
  /** A revise cycle's PR: its number, the cycle that opened it and which revision this is. */
  revise_of: z
    .object({ pr: z.number().int(), cycle: z.string(), revision: z.number().int(), trigger: z.string() })
    .optional(),
  /** A refresh cycle (issue 25): the PR's branch, the commit prbot last pushed there (the lease) and how it was rebuilt. */
  refresh_of: z
    .object({
      pr: z.number().int().nullable(),
      branch: z.string(),
      lease: z.string(),
      mode: z.enum(['rebuild', 'repropose']),
      base: z.string(),
    })
    .optional(),
});
export type CycleRecord = z.infer<typeof cycleRecordSchema>;

/** A record with every optional part empty; callers give what their stage knows. */
export function cycleRecord(
  r: Pick<CycleRecord, 'cycle_id' | 'outcome' | 'reason' | 'stage' | 'started_at' | 'ended_at' | 'dry_run'> &
    Partial<CycleRecord>,
): CycleRecord {
  return {
    gap_id: null,
    gap_line: null,
    base_commit: null,
    bot_commit: null,
    files: [],
    tests: [],
    model: null,
    branch: null,
    pr_url: null,
    ...r,
    // Reasons quote providers, forges, models and test output; a record is shown on the
    // dashboard, in logs and in PR bodies, so what it keeps is inert (inert-text.ts).
    reason: inertText(r.reason, { multiline: true }),
    summary: r.summary == null ? null : inertText(r.summary, { multiline: true }),
    gap_text: r.gap_text == null ? null : inertText(r.gap_text),
    ...(r.warnings ? { warnings: r.warnings.map((w) => inertText(w, { multiline: true })) } : {}),
  };
}

/** How many of the newest records, in a row, ended in one of `outcomes`. */
export function leadingRun(history: Pick<CycleRecord, 'outcome'>[], outcomes: ReadonlySet<Outcome>): number {
  // infra_failed: the machine failed, not the gap; it neither counts toward a run nor breaks one.
  const relevant = history.filter((h) => h.outcome !== 'infra_failed');
  const i = relevant.findIndex((h) => !outcomes.has(h.outcome));
  return i === -1 ? relevant.length : i;
}

/** Renders prior attempts for the prompt ("Prior attempts on this gap …"). */
export function describeHistory(history: CycleRecord[]): string {
  if (history.length === 0) return 'Prior attempts on this gap: none.';
  const lines = history.map((h, i) => {
    const files = h.files.length ? h.files.map((f) => `${f.action} ${f.path}`).join(', ') : 'none';
    return `${i + 1}. ${h.ended_at} ${h.outcome}: ${h.reason}\n   files: ${files}${h.pr_url ? `\n   PR: ${h.pr_url}` : ''}`;
  });
  return `Prior attempts on this gap (newest first):\n${lines.join('\n')}`;
}
