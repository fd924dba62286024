import { createHash } from 'node:crypto';
import { z } from 'zod';

export const gapSchema = z.object({
  id: z.string().regex(/^g[0-9a-f]{12}$/),
  text: z.string().min(1),
  line: z.number().int().positive(),
});
export type Gap = z.infer<typeof gapSchema>;

export const TAG = '[bot-eligible]';
const UNCHECKED_ITEM = /^\s{0,12}[-*+]\s+\[ \]\s+(.*)$/;
const FENCE = /^\s{0,3}(`{3,}|~{3,})/;

/**
 * Unchecked list items (`- [ ] …`) carrying `[bot-eligible]`, outside fenced code blocks.
 * A gap's id hashes its normalised text, so re-running produce finds the same ids and a reworded
 * line is a new gap (a human's closed PR does not block the new wording).
 */
export function parsePrd(markdown: string): Gap[] {
  const gaps: Gap[] = [];
  const seen = new Set<string>();
  let fence: string | null = null;
  markdown.split(/\r?\n/).forEach((raw, i) => {
    const f = FENCE.exec(raw);
    if (f) {
      const marker = f[1]!;
      if (fence === null) fence = marker;
      else if (marker[0] === fence[0] && marker.length >= fence.length && raw.trim() === marker) fence = null;
      return;
    }
    if (fence !== null) return;
    const m = UNCHECKED_ITEM.exec(raw);
    if (!m || !m[1]!.toLowerCase().includes(TAG)) return;
    const text = m[1]!.replace(/\[bot-eligible\]/gi, '').replace(/\s+/g, ' ').trim();
    if (!text) return;
    const id = gapId(text);
    if (seen.has(id)) return; // the same line twice is one gap
    seen.add(id);
    gaps.push({ id, text, line: i + 1 });
  });
  return gaps;
}

export function gapId(text: string): string {
  const normalised = text.replace(/\[bot-eligible\]/gi, '').normalize('NFC').toLowerCase().replace(/\s+/g, ' ').trim();
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
