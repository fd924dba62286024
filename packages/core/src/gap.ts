import { createHash } from 'node:crypto';
import { z } from 'zod';

export const gapSchema = z.object({
  id: z.string().regex(/^g[0-9a-f]{12}$/),
  text: z.string().min(1),
  line: z.number().int().positive(),
});
export type Gap = z.infer<typeof gapSchema>;

export const TAG = '[bot-eligible]';

/**
 * A gap's id: a hash of its normalised text, and of its repository's name when `scope` is given
 * (the same line in two repositories is two gaps). The legacy repository (keys.ts) passes no
 * scope, so its ids, and the branches, locks and history built on them, stay what they were.
 */
export function gapId(text: string, scope?: string): string {
  const normalised = text
    .replace(/\[bot-eligible\]/gi, '')
    .normalize('NFC')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
  const input = scope === undefined ? normalised : `repo\0${scope}\0${normalised}`;
  return 'g' + createHash('sha256').update(input).digest('hex').slice(0, 12);
}

/** A short, readable slug for branch names. */
export function gapSlug(text: string, max = 40): string {
  const slug = text
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/, '');
  return slug || 'gap';
}

/** The gaps of a repository's PRD with its scoped ids (`gapId(text, scope)`); unchanged without a scope. */
export function scopeGaps<G extends { id: string; text: string }>(gaps: G[], scope: string | undefined): G[] {
  return scope === undefined ? gaps : gaps.map((g) => ({ ...g, id: gapId(g.text, scope) }));
}
