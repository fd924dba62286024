import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { usageSchema } from '@prbot/core';
import type { ChatAnswer } from './chat.ts';
import { ModelCallError } from './errors.ts';

/**
 * A cassette of recorded answers, keyed by gap: the `gap` field matches a gap id, or a gap's
 * text (case-insensitive substring). The n-th call on a gap gets the n-th answer (the last one
 * repeats), so a recorded session replays the same way every time.
 */
export const cassetteSchema = z.object({
  version: z.literal(1),
  entries: z.array(
    z.object({
      gap: z.string().min(1),
      answers: z.array(
        z.object({ content: z.string(), usage: usageSchema.optional(), status: z.number().int().optional() }),
      ),
    }),
  ),
});
export type Cassette = z.infer<typeof cassetteSchema>;

export function loadCassette(file: string): Cassette {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cassette ${file}: ${(err as Error).message}`);
  }
  const r = cassetteSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Error(`cassette ${file}: ${i.path.join('.')}: ${i.message}`);
  }
  return r.data;
}

export function replayAnswer(cassette: Cassette, gap: { id: string; text: string }, callIndex: number): ChatAnswer {
  const entry = cassette.entries.find((e) => e.gap === gap.id || gap.text.toLowerCase().includes(e.gap.toLowerCase()));
  if (!entry) throw new ModelCallError('bad_answer', `the cassette has no answer for gap ${gap.id}`);
  const a = entry.answers[Math.min(callIndex, entry.answers.length - 1)];
  if (!a) throw new ModelCallError('bad_answer', `the cassette's entry for gap ${gap.id} has no answers`);
  if (a.status && a.status >= 400)
    throw new ModelCallError(a.status >= 500 ? 'http' : 'client', `HTTP ${a.status} (replayed)`, a.status);
  return { content: a.content, usage: a.usage ?? null };
}
