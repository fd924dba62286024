import { describe, expect, it } from 'vitest';
import { gapIdentifiers, importsOf, isTestFile, namedFiles, testsOf } from './related.ts';
import { symbolsOf } from './symbols.ts';
import { chooseWindows, leftOut, rangesText, renderWindows } from './windows.ts';

describe('related files', () => {
  const paths = [
    'index.js',
    'test.js',
    'src/strings.js',
    'src/util/index.ts',
    'src/parse.ts',
    'test/strings.test.js',
    'src/__tests__/parse.ts',
    'pkg/slug.py',
    'tests/test_slug.py',
    'slug_test.go',
    'docs/PRD.md',
  ];
  it('finds the files a gap names by path or file name, not by bare stems', () => {
    expect(namedFiles('Make sure `capitalize` in src/strings.js keeps the empty string', paths, 5)).toEqual([
      'src/strings.js',
    ]);
    expect(namedFiles('Add a test to test.js for unicode', paths, 5)).toEqual(['test.js']);
    expect(namedFiles('Add a test for the parser', paths, 5)).toEqual([]);
    expect(gapIdentifiers('Add a `truncate(text, max)` helper and `x`')).toEqual(['truncate']);
  });
  it('knows the common test conventions', () => {
    expect(paths.filter(isTestFile)).toEqual([
      'test.js',
      'test/strings.test.js',
      'src/__tests__/parse.ts',
      'tests/test_slug.py',
      'slug_test.go',
    ]);
    expect(testsOf('src/strings.js', paths.filter(isTestFile))).toEqual(['test/strings.test.js']);
    expect(testsOf('src/parse.ts', paths.filter(isTestFile))).toEqual(['src/__tests__/parse.ts']);
    expect(testsOf('pkg/slug.py', paths.filter(isTestFile))).toEqual(['tests/test_slug.py', 'slug_test.go']);
    expect(testsOf('index.js', paths.filter(isTestFile))).toEqual(['test.js']);
  });
  it('resolves relative imports against the tree (TS .js → .ts, index files, Python packages)', () => {
    const has = (p: string) => paths.includes(p);
    const ts =
      "import { a } from './util/index.js';\nimport x from 'lodash';\nexport * from './parse.js';\nconst s = require('./strings');";
    expect(importsOf('src/main.ts', ts, has).sort()).toEqual(['src/parse.ts', 'src/strings.js', 'src/util/index.ts']);
    expect(importsOf('tests/test_slug.py', 'from pkg.slug import slugify\nimport os\n', has)).toEqual(['pkg/slug.py']);
  });
});

describe('symbols', () => {
  it('scans top-level definitions per language, with their lines', () => {
    expect(
      symbolsOf(
        'a.ts',
        'import x from "y";\nexport function f() {}\nexport const g = 1;\nclass H {}\n  function inner() {}\nexport interface I {}\n',
      ),
    ).toEqual([
      { name: 'f', line: 2 },
      { name: 'g', line: 3 },
      { name: 'H', line: 4 },
      { name: 'I', line: 6 },
    ]);
    expect(
      symbolsOf('a.py', 'import os\n\ndef f():\n    def g(): pass\nclass K:\n    pass\n').map((s) => s.name),
    ).toEqual(['f', 'K']);
    expect(
      symbolsOf('a.go', 'package a\n\nfunc F() {}\nfunc (r *R) M() {}\ntype R struct{}\n').map((s) => s.name),
    ).toEqual(['F', 'M', 'R']);
    expect(symbolsOf('a.rs', 'pub fn f() {}\nstruct S;\npub(crate) enum E {}\n').map((s) => s.name)).toEqual([
      'f',
      'S',
      'E',
    ]);
    expect(symbolsOf('a.txt', 'function f() {}')).toEqual([]);
  });
});

describe('windows', () => {
  const lines = Array.from({ length: 1000 }, (_, i) => `line ${i + 1}`);
  it('keeps head, tail and the neighbourhood of relevant lines, and says what it left out', () => {
    const ws = chooseWindows(lines, [500], { head: 10, tail: 20, radius: 5, maxChars: 100_000 });
    expect(rangesText(ws)).toBe('1-10,495-505,981-1000');
    expect(rangesText(leftOut(1000, ws))).toBe('11-494,506-980');
    const text = renderWindows(lines, ws);
    expect(text).toContain('    1| line 1');
    expect(text).toContain('     … lines 11-494 not shown');
    expect(text).toContain(' 1000| line 1000');
    expect(text).not.toContain('line 600');
  });
  it('stays within its character budget, dropping relevant windows before the head', () => {
    const ws = chooseWindows(lines, [300, 600], { head: 10, tail: 20, radius: 5, maxChars: 600 });
    expect(ws[0]).toEqual({ from: 1, to: 10 });
    expect(renderWindows(lines, ws).length).toBeLessThan(900);
    const tiny = chooseWindows(lines, [], { head: 10, tail: 20, radius: 5, maxChars: 50 });
    expect(tiny).toEqual([{ from: 1, to: 3 }]);
  });
});
