import { describe, expect, it } from 'vitest';
import { gapId, gapSlug, parsePrd } from './prd.ts';

const PRD = `# PRD
- [ ] Add truncate [bot-eligible]
- [x] Done already [bot-eligible]
- [ ] Not for the bot
* [ ]   Extra   spaces   here  [Bot-Eligible]
  - [ ] Nested item [bot-eligible]

\`\`\`md
- [ ] inside a fence [bot-eligible]
\`\`\`
~~~~
- [ ] inside a tilde fence [bot-eligible]
~~~~
- [ ] Add truncate [bot-eligible]
`;

describe('parsePrd', () => {
  it('keeps unchecked, tagged items outside fences, with line numbers', () => {
    const gaps = parsePrd(PRD);
    expect(gaps.map((g) => [g.text, g.line])).toEqual([
      ['Add truncate', 2],
      ['Extra spaces here', 5],
      ['Nested item', 6],
    ]);
  });

  it('gives stable ids that ignore case, spacing and the tag', () => {
    expect(gapId('Add   Truncate')).toBe(gapId('add truncate [bot-eligible]'));
    expect(gapId('Add truncate')).not.toBe(gapId('Add truncate now'));
    expect(parsePrd(PRD)[0]!.id).toBe(parsePrd(PRD.replace('# PRD', '# PRD v2\n'))[0]!.id);
    expect(gapId('x')).toMatch(/^g[0-9a-f]{12}$/);
  });

  it('makes branch-safe slugs', () => {
    expect(gapSlug('Add a `truncate(text)` helper!')).toBe('add-a-truncate-text-helper');
    expect(gapSlug('¿¿??')).toBe('gap');
  });

  it('handles 10,000 tagged lines', () => {
    const big = Array.from({ length: 10_000 }, (_, i) => `- [ ] gap number ${i} [bot-eligible]`).join('\n');
    const gaps = parsePrd(big);
    expect(gaps).toHaveLength(10_000);
    expect(new Set(gaps.map((g) => g.id)).size).toBe(10_000);
  });
});
