import { describe, expect, it } from 'vitest';
import type { Change } from '@prbot/core';
import { truncationRefusal } from './test-guard.ts';

const lines = (n: number, name = 'v') => Array.from({ length: n }, (_, i) => `export const ${name}${i} = ${i};`);
const FILE = lines(40);
const text = (ls: string[]) => ls.join('\n') + '\n';
/** truncationRefusal for one whole-content UPDATE of `path` from `before` to `after`. */
function judge(before: string, after: string, o: { action?: Change['action']; whole?: boolean; base?: boolean } = {}) {
  const change: Change = { path: 'src/v.js', action: o.action ?? 'UPDATE', mode: '100644', content: after };
  return truncationRefusal(
    [change],
    o.base === false ? new Map() : new Map([['src/v.js', before]]),
    new Set(o.whole === false ? [] : ['src/v.js']),
  );
}

describe('truncationRefusal: where the bar is', () => {
  it('refuses a cut that loses three lines or more, and lets a loss of two through', () => {
    expect(judge(text(FILE), text(FILE.slice(0, 37)))).toBe(
      "src/v.js: the answer's whole content stops at line 37 of 40 and the remaining 3 lines are gone, as when an answer is cut off by the model's output limit; remove lines with edits instead",
    );
    expect(judge(text(FILE), text(FILE.slice(0, 38)))).toBeNull();
  });

  it('judges only whole-content UPDATEs of files the base has', () => {
    const cut = text(FILE.slice(0, 10));
    expect(judge(text(FILE), cut)).toMatch(/stops at line 10 of 40/);
    expect(judge(text(FILE), cut, { action: 'ADD' })).toBeNull();
    expect(judge(text(FILE), cut, { whole: false })).toBeNull();
    expect(judge(text(FILE), cut, { base: false })).toBeNull();
  });

  it('checks every change, not only the first', () => {
    const ok: Change = { path: 'a.js', action: 'UPDATE', mode: '100644', content: text(FILE) };
    const cut: Change = { path: 'b.js', action: 'UPDATE', mode: '100644', content: text(FILE.slice(0, 10)) };
    const base = new Map([
      ['a.js', text(FILE)],
      ['b.js', text(FILE)],
    ]);
    expect(truncationRefusal([ok, cut], base, new Set(['a.js', 'b.js']))).toMatch(/^b\.js: .* stops at line 10 of 40/);
  });

  it('counts lines the same with or without a final newline on either side', () => {
    const bare = FILE.join('\n');
    expect(judge(bare, bare)).toBeNull();
    expect(judge(text(FILE), bare)).toBeNull();
    expect(judge(bare, text(FILE))).toBeNull();
    expect(judge(bare, FILE.slice(0, 30).join('\n'))).toMatch(/stops at line 30 of 40 and the remaining 10 lines/);
  });
});

describe('truncationRefusal: what counts as cut mid-line', () => {
  const head = FILE.slice(0, 30);
  it('a last line that starts the next base line is a mid-line cut', () => {
    expect(judge(text(FILE), `${head.join('\n')}\nexport const v30`)).toMatch(
      /stops at line 31 of 40 \(mid-line\) and the remaining 9 lines are gone/,
    );
  });

  it('a last line of its own that is not the start of the next base line is a new ending', () => {
    expect(judge(text(FILE), `${head.join('\n')}\nexport const other = 1;\n`)).toBeNull();
    expect(judge(text(FILE), `${head.join('\n')}\nexport const v31`)).toBeNull();
  });

  it('two lines of its own, or one followed by a blank line, are a new ending', () => {
    expect(judge(text(FILE), `${head.join('\n')}\nexport const v30\nexport const v30`)).toBeNull();
    expect(judge(text(FILE), `${head.join('\n')}\nexport const v30\n\n`)).toBeNull();
  });

  it('blank lines after the last base line are no ending of their own', () => {
    expect(judge(text(FILE), `${head.join('\n')}\n\n   \n`)).toMatch(/stops at line 30 of 40/);
  });

  it('closers after lines of its own close those lines; closers alone still show the cut', () => {
    const base = text([...lines(20), '});', ...lines(20, 'w')]);
    // Own lines, then a `});` the base also has: a new ending, not a stop at the base's `});`.
    expect(judge(base, text([...lines(20), 'it("new", () => {', '  expect(1).toBe(1);', '});']))).toBeNull();
    for (const closer of ['});', ']', '>', ',', ';', '  )', ''])
      expect(
        judge(text([...lines(20), closer, ...lines(20, 'w')]), text([...lines(20), 'foo(', closer])),
        JSON.stringify(closer),
      ).toBeNull();
    // The base's `});` right after its own lines, with nothing of the answer's own before it: a cut.
    expect(judge(base, text([...lines(20), '});']))).toMatch(/stops at line 21 of 41/);
  });
});

describe('truncationRefusal: where in the base the answer stops', () => {
  const base = [...lines(20), '});', ...lines(20, 'w')];

  it('counts base lines the answer dropped before the cut', () => {
    const dropped = [...FILE.slice(0, 5), ...FILE.slice(7, 30)];
    expect(judge(text(FILE), text(dropped))).toMatch(/stops at line 30 of 40 and the remaining 10 lines are gone/);
  });

  it('counts a closer the answer absorbed, and cuts after it', () => {
    expect(judge(text(base), text([...lines(20), 'foo(', '});', ...lines(10, 'w')]))).toMatch(
      /stops at line 31 of 41 and the remaining 10 lines are gone/,
    );
  });

  it('counts a closer it absorbed when base lines align after it again', () => {
    // `});` is its own aligned part here (a line of the answer's own follows it), closing `foo(`.
    const answer = [...lines(20), 'foo(', '});', 'bar', ...lines(20, 'w').slice(5, 15)];
    expect(judge(text(base), text(answer))).toMatch(/stops at line 36 of 41 and the remaining 5 lines are gone/);
  });

  it('a blank line is no line of its own before a closer', () => {
    for (const blank of ['', '  '])
      expect(judge(text(base), text([...lines(20), blank, '});'])), JSON.stringify(blank)).toMatch(
        /stops at line 21 of 41/,
      );
    // A line of its own, a blank, then the closer: the closer closes the answer's own line.
    expect(judge(text(base), text([...lines(20), 'foo(', '', '});']))).toBeNull();
  });

  it('an answer that keeps only a first line that is a closer stops there', () => {
    expect(judge(text(['}', ...FILE]), '}\n')).toMatch(/stops at line 1 of 41 and the remaining 40 lines are gone/);
  });

  it('an answer that aligns with nothing is a rewrite, however it ends', () => {
    expect(judge(text(FILE), 'export const v0')).toBeNull();
    expect(judge(text(FILE), '\n\n')).toBeNull();
    expect(judge(text(FILE), text(lines(5, 'q')))).toBeNull();
  });

  it('past the aligning diff, a last line that starts the next base line is a mid-line cut too', () => {
    const big = lines(4000, 'w');
    const odd = (l: string, i: number) => (i % 2 ? l.replace(' = ', ' = 1 + ') : l);
    const answer = big.slice(0, 3501).map(odd).join('\n') + '\nexport const w3501';
    expect(judge(text(big), answer)).toMatch(/stops at line 3502 of 4000 \(mid-line\)/);
    expect(judge(text(big), big.slice(0, 3501).map(odd).join('\n') + '\nexport const zz')).toBeNull();
  });
});
