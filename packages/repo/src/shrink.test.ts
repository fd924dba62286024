import { describe, expect, it } from 'vitest';
import { lineStats } from '@prbot/core';
import { countTestCases, gapAsksForRemoval, shrinkRefusal } from './shrink.ts';

describe('shrink guard', () => {
  const change = (before: string, after: string) => ({
    path: 'f.js',
    action: 'UPDATE' as const,
    mode: '100644' as const,
    content: after,
    lines: lineStats(before, after),
  });
  const tenLines = Array.from({ length: 10 }, (_, i) => `line ${i}`).join('\n') + '\n';

  it('refuses removing more than maxShrink of a file, with the numbers', () => {
    const after = tenLines.split('\n').slice(0, 6).join('\n') + '\n';
    const r = shrinkRefusal([change(tenLines, after)], new Map([['f.js', tenLines]]), 'Add a helper', 0.3);
    expect(r).toBe(
      'f.js: the proposal removes 4 of its 10 lines (40.0 %, +0 −4); guardrails.maxShrink allows 30 % when the gap does not ask for removal',
    );
    const ok = tenLines.split('\n').slice(0, 8).join('\n') + '\n';
    expect(shrinkRefusal([change(tenLines, ok)], new Map([['f.js', tenLines]]), 'Add a helper', 0.3)).toBeNull();
    expect(
      shrinkRefusal([change(tenLines, after)], new Map([['f.js', tenLines]]), 'Remove the old helpers', 0.3),
    ).toBeNull();
  });

  it('refuses removing a test case even when few lines go', () => {
    const before = "test('a', () => {});\ntest('b', () => {});\n" + tenLines;
    const after = "test('a', () => {});\n" + tenLines;
    expect(shrinkRefusal([change(before, after)], new Map([['f.js', before]]), 'Add a test', 0.3)).toBe(
      'f.js: the proposal removes 1 test case(s) (2 → 1) and the gap does not ask for removal',
    );
  });

  it('counts test cases of the common runners', () => {
    expect(
      countTestCases(
        "test('a', t => {});\ntest.serial('b', t => {});\n  it('c', () => {});\n  it." +
          "only('d', () => {});\ndescribe('x', () => {});",
      ),
    ).toBe(4);
    expect(countTestCases('def test_one():\n    pass\n\nasync def test_two():\n    pass\ndef helper():\n')).toBe(2);
    expect(countTestCases('func TestA(t *testing.T) {}\nfunc helper() {}\nfunc BenchmarkB(b *testing.B) {}\n')).toBe(2);
    expect(countTestCases('#[test]\nfn a() {}\n#[tokio::test]\nasync fn b() {}\n')).toBe(2);
    expect(gapAsksForRemoval('Drop the deprecated flag')).toBe(true);
    expect(gapAsksForRemoval('Add a test for the parser')).toBe(false);
  });
});

describe('countTestCases', () => {
  it('counts each runner form once, indented or not', () => {
    const js = [
      "test('a', () => {});",
      "\tit('b', () => {});",
      "specify('c', () => {});",
      "it.skip('d', () => {});",
      "test.todo('e');",
      "it.concurrent('f', async () => {});",
      "test.failing('g', () => {});",
      "test.each([1, 2])('h %i', () => {});",
      "test.each`a | b`('i', () => {});",
      "it.only.skip ('j', () => {});",
    ].join('\n');
    expect(countTestCases(js)).toBe(10);
    expect(countTestCases('def test():\n  pass\ndef test_x():\n  pass\n    async  def test_y():\n')).toBe(3);
    expect(countTestCases('func FuzzA(f *testing.F) {}\nfunc ExampleB() {}\nfunc TestC(t *testing.T) {}\n')).toBe(3);
    expect(countTestCases('#[rstest::test]\nfn a() {}\n@Test\nvoid b() {}\n@Test public void c() {}')).toBe(3);
  });

  it('counts the spaced and long spellings of pytest and Go cases; a definition quoted mid-line is none', () => {
    expect(countTestCases('def  test_a():\n    pass\ndef test_b (self):\n    pass\n')).toBe(2);
    expect(countTestCases('x = "def test_c():"\ny = 1; def test_d(): pass\n')).toBe(0);
    expect(countTestCases("test.each ([1, 2])('h %i', () => {});\nit.each `a | b` ('i', () => {});\n")).toBe(2);
    expect(
      countTestCases('func  TestA(t *testing.T) {}\nfunc TestLonger(t *testing.T) {}\nfunc TestD (t *testing.T) {}\n'),
    ).toBe(3);
  });

  it('does not count helpers, suites or other calls', () => {
    const text = [
      "describe('x', () => {});",
      "mytest('a', () => {});",
      "testing('b');",
      "expect(it)('c');",
      'const t = test;',
      "foo.test('d', () => {});",
      'def helper_test():',
      'def testing_only',
      'func helper() {}',
      ' func TestIndented(t *testing.T) {}',
      '#[testing]',
      '@Tested',
    ].join('\n');
    expect(countTestCases(text)).toBe(0);
  });
});

describe('gapAsksForRemoval', () => {
  it('reads every form of the removal verbs, in any case', () => {
    const asks = [
      'Remove the flag',
      'removes',
      'REMOVED',
      'removing',
      'the removal of x',
      'Delete x',
      'deletes',
      'deleted',
      'deleting',
      'deletion of y',
      'drop it',
      'drops',
      'dropped',
      'dropping',
      'prune',
      'prunes',
      'pruned',
      'pruning',
      'strip',
      'strips',
      'stripped',
      'stripping',
      'get rid of z',
      'clean up',
      'cleans up',
      'cleaned up',
      'cleaning up',
      'deprecate',
      'deprecates',
      'deprecated',
      'deprecating',
      'replace',
      'replaces',
      'replaced',
      'replacing',
      'rewrite',
      'rewrites',
      'rewriting',
      'trim',
      'trims',
      'trimmed',
      'trimming',
    ];
    for (const a of asks) expect(gapAsksForRemoval(`Please ${a} now`), a).toBe(true);
  });

  it('does not read removal into other words', () => {
    for (const a of [
      'Add a removable cache',
      'a dropdown menu',
      'redelete',
      'cleanup()',
      'get ridge',
      'the stripe API',
      'a trimmer',
    ])
      expect(gapAsksForRemoval(a), a).toBe(false);
  });
});

describe('shrinkRefusal, more', () => {
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `line ${i}`).join('\n') + '\n';
  const upd = (path: string, before: string, after: string, action: 'UPDATE' | 'ADD' = 'UPDATE') => ({
    path,
    action,
    mode: '100644' as const,
    content: after,
    lines: lineStats(before, after),
  });

  it('allows exactly maxShrink, refuses one line more, and rounds the numbers it shows', () => {
    const base = lines(10);
    const keep = (n: number) => base.split('\n').slice(0, n).join('\n') + '\n';
    expect(shrinkRefusal([upd('f', base, keep(7))], new Map([['f', base]]), 'Add x', 0.3)).toBeNull();
    expect(shrinkRefusal([upd('f', base, keep(6))], new Map([['f', base]]), 'Add x', 0.3)).toMatch(
      /removes 4 of its 10 lines/,
    );
    const three = lines(3);
    expect(shrinkRefusal([upd('g', three, 'line 0\nline 1\n')], new Map([['g', three]]), 'Add x', 0.334)).toBeNull();
    expect(shrinkRefusal([upd('g', three, 'line 0\n')], new Map([['g', three]]), 'Add x', 0.334)).toBe(
      'g: the proposal removes 2 of its 3 lines (66.7 %, +0 −2); guardrails.maxShrink allows 33 % when the gap does not ask for removal',
    );
  });

  it('judges only updates of files the base has, with line counts, and checks every change', () => {
    const base = lines(10);
    const gone = 'line 0\n';
    expect(shrinkRefusal([upd('f', base, gone, 'ADD')], new Map([['f', base]]), 'Add x', 0.3)).toBeNull();
    expect(shrinkRefusal([upd('f', base, gone)], new Map(), 'Add x', 0.3)).toBeNull();
    expect(
      shrinkRefusal([{ ...upd('f', base, gone), lines: undefined }], new Map([['f', base]]), 'Add x', 0.3),
    ).toBeNull();
    expect(shrinkRefusal([upd('e', '', 'x\n')], new Map([['e', '']]), 'Add x', 0.3)).toBeNull();
    expect(
      shrinkRefusal(
        [upd('a', base, base + 'more\n'), upd('f', base, gone)],
        new Map([
          ['a', base],
          ['f', base],
        ]),
        'Add x',
        0.3,
      ),
    ).toMatch(/^f: the proposal removes 9 of its 10 lines/);
  });

  it('allows keeping or adding test cases, and refuses fewer, naming both counts', () => {
    const before = "test('a', () => {});\ntest('b', () => {});\n" + lines(20);
    const more = before + "test('c', () => {});\n";
    const base = new Map([['t.js', before]]);
    expect(shrinkRefusal([upd('t.js', before, more)], base, 'Add x', 0.3)).toBeNull();
    expect(
      shrinkRefusal([upd('t.js', before, before.replace("test('b'", "test('b2'"))], base, 'Add x', 0.3),
    ).toBeNull();
    expect(shrinkRefusal([upd('t.js', before, lines(20))], base, 'Add x', 0.3)).toBe(
      't.js: the proposal removes 2 test case(s) (2 → 0) and the gap does not ask for removal',
    );
    expect(shrinkRefusal([upd('t.js', before, lines(20))], base, 'Remove the old tests', 0.3)).toBeNull();
  });
});
