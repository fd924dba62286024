import { describe, expect, it } from 'vitest';
import { gapId, gapSlug } from '@prbot/core';
import { parsePrd, parsePrdWithWarnings, PRD_LINE_CAP } from './prd.ts';

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

const texts = async (md: string) => (await parsePrd(md)).map((g) => [g.text, g.line]);

describe('parsePrd', () => {
  it('keeps unchecked, tagged items outside fences, with line numbers', async () => {
    expect(await texts(PRD)).toEqual([
      ['Add truncate', 2],
      ['Extra spaces here', 5],
      ['Nested item', 6],
    ]);
  });

  it('gives stable ids that ignore case, spacing and the tag', async () => {
    expect(gapId('Add   Truncate')).toBe(gapId('add truncate [bot-eligible]'));
    expect(gapId('Add truncate')).not.toBe(gapId('Add truncate now'));
    expect((await parsePrd(PRD))[0]!.id).toBe((await parsePrd(PRD.replace('# PRD', '# PRD v2\n')))[0]!.id);
    expect(gapId('x')).toMatch(/^g[0-9a-f]{12}$/);
  });

  it('keeps the ids the line-based parser gave (the text as written, backticks included)', async () => {
    // Values computed by the parser on main before the Markdown parser replaced it.
    const [g] = await parsePrd('- [ ] Add a `truncate(text)` helper in src/truncate.js [bot-eligible]\n');
    expect(g!.text).toBe('Add a `truncate(text)` helper in src/truncate.js');
    expect(g!.id).toBe('g274cca8fcf44');
    expect((await parsePrd('- [ ] Add truncate [bot-eligible]'))[0]!.id).toBe('gecc9318b9caf');
  });

  it('ignores the tag inside a multi-line HTML comment', async () => {
    expect(await texts('<!--\n- [ ] hidden in a comment [bot-eligible]\n-->\n- [ ] real [bot-eligible]\n')).toEqual([
      ['real', 4],
    ]);
    expect(
      await texts('- [ ] real [bot-eligible]\n\n<!-- start\n\n- [ ] still hidden [bot-eligible]\n\nend -->\n'),
    ).toEqual([['real', 1]]);
  });

  it('ignores the tag inside an inline HTML comment and inline code', async () => {
    expect(
      await texts(
        '- [ ] docs for `[bot-eligible]` tags\n- [ ] <!-- [bot-eligible] --> commented\n- [ ] ``two `[bot-eligible]` ticks``\n',
      ),
    ).toEqual([]);
    expect(await texts('- [ ] <b>bold</b> tagged [bot-eligible]\n')).toEqual([['<b>bold</b> tagged', 1]]);
    expect(await texts('- [ ] uses `code` but is tagged [bot-eligible]\n')).toEqual([['uses `code` but is tagged', 1]]);
  });

  it('ignores the tag inside an indented code block', async () => {
    expect(await texts('Example:\n\n    - [ ] indented code [bot-eligible]\n\n- [ ] real [bot-eligible]\n')).toEqual([
      ['real', 5],
    ]);
  });

  it("gives a nested item's tag to the nested item, not its parent", async () => {
    const md =
      '- [ ] parent without the tag\n  - [ ] child [bot-eligible]\n- [x] done parent\n  - [ ] open child [bot-eligible]\n';
    expect(await texts(md)).toEqual([
      ['child', 2],
      ['open child', 4],
    ]);
  });

  it('ignores quoted items and items that are not task items', async () => {
    expect(await texts('> - [ ] quoted [bot-eligible]\n- plain item [bot-eligible]\n- [ ]\n')).toEqual([]);
  });

  it('reads CRLF files the same as LF files', async () => {
    const lf = PRD;
    const crlf = PRD.replace(/\n/g, '\r\n');
    expect(await parsePrd(crlf)).toEqual(await parsePrd(lf));
    expect((await parsePrd(crlf)).map((g) => g.text)).not.toContain('Add truncate\r');
  });

  it(`skips a line over ${PRD_LINE_CAP} characters with a warning naming it, and stores none of it`, async () => {
    const long = `- [ ] ${'x'.repeat(8 * 1024 * 1024)} [bot-eligible]`;
    const md = `# PRD\n- [ ] before [bot-eligible]\n${long}\n- [ ] after [bot-eligible]\n`;
    const { gaps, warnings } = await parsePrdWithWarnings(md);
    expect(gaps.map((g) => [g.text, g.line])).toEqual([
      ['before', 2],
      ['after', 4],
    ]);
    expect(warnings).toEqual([
      { line: 3, message: expect.stringMatching(/^line 3 is \d+ characters, over the cap of 2000: skipped$/) },
    ]);
    expect(JSON.stringify(gaps).length).toBeLessThan(500);
    const heard: number[] = [];
    await parsePrd(md, (w) => heard.push(w.line));
    expect(heard).toEqual([3]);
    // At the cap is fine.
    const atCap = `- [ ] ${'y'.repeat(PRD_LINE_CAP - '- [ ]  [bot-eligible]'.length)} [bot-eligible]`;
    expect(atCap.length).toBe(PRD_LINE_CAP);
    expect(await parsePrdWithWarnings(atCap)).toMatchObject({ gaps: [{ line: 1 }], warnings: [] });
  });

  it('makes branch-safe slugs', async () => {
    expect(gapSlug('Add a `truncate(text)` helper!')).toBe('add-a-truncate-text-helper');
    expect(gapSlug('¿¿??')).toBe('gap');
  });

  it('handles 10,000 tagged lines', async () => {
    const big = Array.from({ length: 10_000 }, (_, i) => `- [ ] gap number ${i} [bot-eligible]`).join('\n');
    const gaps = await parsePrd(big);
    expect(gaps).toHaveLength(10_000);
    expect(new Set(gaps.map((g) => g.id)).size).toBe(10_000);
  });
});
