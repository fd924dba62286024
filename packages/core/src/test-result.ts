import { z } from 'zod';

/** A limit of tests.limits the run hit: the machine's bound, not a verdict on the change (infra_failed). */
export const limitHitSchema = z.object({
  kind: z.enum(['memory', 'processes', 'time', 'output']),
  /** The configured bound, in `unit`. */
  limit: z.number(),
  unit: z.enum(['MiB', 'threads', 'ms', 'bytes']),
  /** What was seen (resident MiB at the kill, threads, …) where known. */
  observed: z.number().nullable(),
  /** Which mechanism held it: "cgroup", "watchdog", "rlimit", "timer", "counter". */
  via: z.string(),
});
export type LimitHit = z.infer<typeof limitHitSchema>;

export const commandResultSchema = z.object({
  phase: z.enum(['setup', 'test']),
  argv: z.array(z.string()),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  timedOut: z.boolean(),
  durationMs: z.number().int().min(0),
  ok: z.boolean(),
  tail: z.string(),
  limit: limitHitSchema.nullable().optional(),
  /** Set when the command was not run, saying why (a setup whose inputs did not change). */
  skipped: z.string().optional(),
});
export type CommandResult = z.infer<typeof commandResultSchema>;
