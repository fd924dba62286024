import { createHash } from 'node:crypto';
import { z } from 'zod';

export const gapSchema = z.object({
  id: z.string().regex(/^g[0-9a-f]{12}$/),
  text: z.string().min(1),
  line: z.number().int().positive(),
});
export type Gap = z.infer<typeof gapSchema>;

export const TAG = '[bot-eligible]';

export function gapId(text: string): string {
  const normalised = text
    .replace(/\[bot-eligible\]/gi, '')
    .normalize('NFC')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
  return 'g' + createHash('sha256').update(normalised).digest('hex').slice(0, 12);
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
