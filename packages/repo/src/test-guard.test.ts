import { describe, expect, it } from 'vitest';
import { lineStats, type Change } from '@prbot/core';
import { shadowDirs, shadowRefusal, testGuardRefusal, truncationRefusal, withoutComments } from './test-guard.ts';

/**
 * The rules one by one, on texts in the languages and runners the guard names. The end-to-end
 * proof (each tamper made a green PR before, none does now) is apps/worker/test/e2e/test-tampering.test.ts.
 */
const CTX = { commands: [['npm', 'test']], cacheDirs: ['node_modules', 'target', '.venv'], maxShrink: 0.3 };
const update = (path: string, before: string, after: string): [Change[], Map<string, string>] => [
  [{ path, action: 'UPDATE', mode: '100644', content: after, lines: lineStats(before, after) }],
  new Map([[path, before]]),
];
const add = (path: string, content = 'x\n'): Change[] => [{ path, action: 'ADD', mode: '100644', content }];
const guard = (path: string, before: string, after: string, ctx = CTX) =>
  testGuardRefusal(...update(path, before, after), ctx);

const JEST =
  "import { sum } from '../src/sum';\n\ndescribe('sum', () => {\n  it('adds', () => {\n    expect(sum(1, 2)).toBe(3);\n  });\n  it('adds negatives', () => {\n    expect(sum(-1, -2)).toBe(-3);\n  });\n});\n";
const PY =
  'import pytest\nfrom pkg.calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\ndef test_neg():\n    assert add(-1, -2) == -3\n';
const GO =
  'package calc\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal("bad")\n\t}\n}\n';
const RS =
  '#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn adds() {\n        assert_eq!(add(1, 2), 3);\n    }\n}\n';

describe('test guard: existing test files', () => {
  it('lets a test file grow: a new case, a new assertion, a new import', () => {
    expect(
      guard(
        'src/sum.test.ts',
        JEST,
        JEST.replace('});\n});\n', "});\n  it('adds zero', () => {\n    expect(sum(0, 0)).toBe(0);\n  });\n});\n"),
      ),
    ).toBeNull();
    expect(guard('tests/test_calc.py', PY, PY + '\n\ndef test_zero():\n    assert add(0, 0) == 0\n')).toBeNull();
    expect(
      guard('calc_test.go', GO, GO.replace('\t}\n}\n', '\t}\n\tif Add(0, 0) != 0 {\n\t\tt.Fatal("zero")\n\t}\n}\n')),
    ).toBeNull();
  });

  it.each([
    ['it.skip', JEST.replace("it('adds',", "it.skip('adds',"), /skip\/todo\/only marker/],
    ['describe.only', JEST.replace("describe('sum'", "describe.only('sum'"), /skip\/todo\/only marker/],
    ['xit', JEST.replace("it('adds',", "xit('adds',"), /removes 1 test case|skip\/focus function/],
    ['fit', JEST.replace("it('adds',", "fit('adds',"), /removes 1 test case|skip\/focus function/],
    ['it.skipIf', JEST.replace("it('adds',", "it.skipIf(true)('adds',"), /removes 1 test case|skip\/todo\/only marker/],
    [
      'return first',
      JEST.replace('    expect(sum(1, 2)).toBe(3);', '    return;\n    expect(sum(1, 2)).toBe(3);'),
      /bare return/,
    ],
    [
      'process.exit',
      JEST.replace("describe('sum'", "process.exit(0);\ndescribe('sum'"),
      /module-level exit|process exit/,
    ],
    ['tautology', JEST.replace('expect(sum(1, 2)).toBe(3)', 'expect(3).toBe(3)'), /cannot fail/],
    ['expect(true)', JEST.replace('expect(sum(1, 2)).toBe(3)', 'expect(true).toBeTruthy()'), /cannot fail/],
    [
      'comment out',
      JEST.replace('    expect(sum(1, 2)).toBe(3);', '    // expect(sum(1, 2)).toBe(3);'),
      /removes 1 assertion/,
    ],
    [
      'block comment',
      JEST.replace(
        "  it('adds', () => {\n    expect(sum(1, 2)).toBe(3);\n  });\n",
        "  /* it('adds', () => {\n    expect(sum(1, 2)).toBe(3);\n  }); */\n",
      ),
      /removes 1 test case/,
    ],
    ['import a stub', JEST.replace("'../src/sum'", "'./stub'"), /stops importing "\.\.\/src\/sum"/],
    [
      'if (false)',
      JEST.replace('    expect(sum(1, 2)).toBe(3);', '    if (false) {\n    expect(sum(1, 2)).toBe(3);\n    }'),
      /dead if \(false\)/,
    ],
  ])('refuses %s in a jest/vitest file', (_, after, why) => {
    expect(guard('src/sum.test.ts', JEST, after)).toMatch(why);
  });

  it.each([
    ['@pytest.mark.skip', PY.replace('def test_add', '@pytest.mark.skip\ndef test_add'), /pytest\/unittest skip/],
    [
      'pytest.skip()',
      PY.replace('    assert add(1, 2) == 3', '    pytest.skip("later")\n    assert add(1, 2) == 3'),
      /pytest\/unittest skip/,
    ],
    ['return first', PY.replace('    assert add(1, 2) == 3', '    return\n    assert add(1, 2) == 3'), /bare return/],
    ['assert True', PY.replace('assert add(1, 2) == 3', 'assert True'), /cannot fail|removes/],
    ['x == x', PY.replace('assert add(1, 2) == 3', 'assert 3 == 3'), /cannot fail/],
    [
      'commented out',
      PY.replace('    assert add(1, 2) == 3', '    # assert add(1, 2) == 3\n    pass'),
      /removes 1 assertion/,
    ],
    ['a case deleted', PY.replace('\n\ndef test_neg():\n    assert add(-1, -2) == -3\n', ''), /removes 1 test case/],
    ['renamed away from test_', PY.replace('def test_neg', 'def check_neg'), /removes 1 test case/],
    ['__test__ = False', PY + '\n__test__ = False\n', /pytest\/unittest skip/],
  ])('refuses %s in a pytest file', (_, after, why) => {
    expect(guard('tests/test_calc.py', PY, after)).toMatch(why);
  });

  it('refuses t.Skip in Go and #[ignore] in Rust', () => {
    expect(
      guard(
        'calc_test.go',
        GO,
        GO.replace('func TestAdd(t *testing.T) {\n', 'func TestAdd(t *testing.T) {\n\tt.Skip("flaky")\n'),
      ),
    ).toMatch(/skip option or attribute/);
    expect(
      guard(
        'calc_test.go',
        GO,
        GO.replace('func TestAdd(t *testing.T) {\n', 'func TestAdd(t *testing.T) {\n\tt.Skip ("flaky")\n'),
      ),
    ).toMatch(/skip option or attribute/);
    expect(guard('src/lib.rs', RS, RS.replace('    #[test]\n', '    #[test]\n    #[ignore]\n'))).toMatch(
      /skip option or attribute/,
    );
  });

  it('holds whatever the gap says, and counts lines in test files against maxShrink', () => {
    const many = Array.from({ length: 20 }, (_, i) => `// note ${i}`).join('\n') + '\n' + JEST;
    expect(guard('src/sum.test.ts', many, JEST)).toMatch(/removes 20 of the test file's 30 lines/);
  });

  it('does not treat `//` as a comment in Python (floor division)', () => {
    expect(withoutComments('x = 7 // 2\nassert x == 3\n', 't.py')).toContain('assert x == 3');
  });
});

describe('test guard: configuration', () => {
  it.each([
    'vitest.config.ts',
    'jest.config.js',
    'packages/a/jest.setup.js',
    '.mocharc.yml',
    'ava.config.js',
    'playwright.config.ts',
    'pytest.ini',
    'tox.ini',
    'noxfile.py',
    'tests/conftest.py',
    'conftest.py',
    'sitecustomize.py',
    'lib/evil.pth',
    'src/__mocks__/fs.js',
    'src/__snapshots__/a.test.ts.snap',
    '.cargo/config.toml',
    'Vitest.Config.TS',
  ])('refuses adding or changing %s', (p) => {
    expect(testGuardRefusal(add(p), new Map(), CTX)).toMatch(/test configuration/);
    expect(guard(p, 'a\n', 'b\n')).toMatch(/test configuration/);
  });

  it('refuses writing under cache and dependency directories', () => {
    expect(testGuardRefusal(add('node_modules/ava/index.js'), new Map(), CTX)).toMatch(/under node_modules\//);
    expect(testGuardRefusal(add('packages/a/node_modules/x.js'), new Map(), CTX)).toMatch(/under node_modules\//);
    expect(testGuardRefusal(add('.venv/lib/site.py'), new Map(), CTX)).toMatch(/under \.venv\//);
    expect(testGuardRefusal(add('vendor/cache/x.js'), new Map(), { ...CTX, cacheDirs: ['vendor/cache'] })).toMatch(
      /under vendor\/cache\//,
    );
  });

  it('refuses files the configured commands run', () => {
    const ctx = {
      ...CTX,
      commands: [
        ['sh', 'scripts/test.sh'],
        ['make', 'check'],
      ],
    };
    expect(guard('scripts/test.sh', 'exit 1\n', 'exit 0\n', ctx)).toMatch(/the configured setup or test commands run/);
    expect(guard('Makefile', 'check:\n\tpytest\n', 'check:\n\ttrue\n', ctx)).toMatch(
      /the configured setup or test commands run/,
    );
    expect(guard('scripts/build.sh', 'a\n', 'b\n', ctx)).toBeNull();
    // A test file the command names is a test file: it may grow, not shrink (rule 2), and is not frozen whole.
    const named = { ...CTX, commands: [['node', '--test', 'src/sum.test.ts']] };
    expect(
      guard(
        'src/sum.test.ts',
        JEST,
        JEST.replace('});\n});\n', "});\n  it('adds zero', () => {\n    expect(sum(0, 0)).toBe(0);\n  });\n});\n"),
        named,
      ),
    ).toBeNull();
    expect(guard('src/sum.test.ts', JEST, JEST.replace("it('adds',", "it.skip('adds',"), named)).toMatch(
      /skip\/todo\/only marker/,
    );
  });

  it('package.json: the scripts the commands run, runner keys and module resolution are fixed; the rest may change', () => {
    const pkg = (o: object) =>
      JSON.stringify(
        {
          name: 'x',
          main: 'src/index.js',
          exports: { '.': './src/index.js' },
          scripts: { test: 'xo && ava', check: 'tsc', build: 'tsc' },
          ava: { files: ['test/**'] },
          dependencies: {},
          ...o,
        },
        null,
        2,
      );
    const base = pkg({});
    expect(guard('package.json', base, pkg({ dependencies: { lodash: '^4' } }))).toBeNull();
    expect(
      guard('package.json', base, pkg({ scripts: { test: 'xo && ava', check: 'tsc', build: 'tsc -b' } })),
    ).toBeNull();
    expect(
      guard('package.json', base, pkg({ exports: { '.': './src/index.js', './extra': './src/extra.js' } })),
    ).toBeNull();
    expect(guard('package.json', base, pkg({ scripts: { test: 'true', check: 'tsc', build: 'tsc' } }))).toMatch(
      /the "test" script/,
    );
    expect(
      guard(
        'package.json',
        base,
        pkg({ scripts: { test: 'xo && ava', pretest: 'sed -i s/a/b/ t.js', check: 'tsc', build: 'tsc' } }),
      ),
    ).toMatch(/the "pretest" script/);
    expect(
      guard(
        'package.json',
        base,
        pkg({ scripts: { test: 'xo && ava', check: 'tsc', build: 'tsc', postinstall: 'node x.js' } }),
      ),
    ).toMatch(/the "postinstall" script/);
    expect(guard('package.json', base, pkg({ ava: { files: [] } }))).toMatch(/the "ava" key/);
    expect(guard('package.json', base, pkg({ xo: { rules: {} } }))).toMatch(/the "xo" key/);
    expect(guard('package.json', base, pkg({ exports: { '.': './test/stub.js' } }))).toMatch(/repoints "exports\.\."/);
    expect(guard('package.json', base, pkg({ main: 'stub.js' }))).toMatch(/repoints "main"/);
    expect(guard('package.json', base, '{ "name": ')).toMatch(/unparseable/);
    const ctx = { ...CTX, commands: [['pnpm', 'run', 'check']] };
    expect(
      guard('package.json', base, pkg({ scripts: { test: 'xo && ava', check: 'true', build: 'tsc' } }), ctx),
    ).toMatch(/the "check" script/);
  });

  it('pyproject.toml and setup.cfg: test sections are fixed, the rest may change', () => {
    const toml =
      '[project]\nname = "x"\ndependencies = []\n\n[tool.pytest.ini_options]\naddopts = "-q"\ntestpaths = ["tests"]\n';
    expect(guard('pyproject.toml', toml, toml.replace('dependencies = []', 'dependencies = ["attrs"]'))).toBeNull();
    expect(guard('pyproject.toml', toml, toml.replace('addopts = "-q"', 'addopts = "-q -k nothing"'))).toMatch(
      /section \[tool\.pytest\.ini_options\]/,
    );
    expect(
      guard(
        'pyproject.toml',
        '[project]\nname = "x"\n',
        '[project]\nname = "x"\n\n[tool.pytest.ini_options]\naddopts = "--co"\n',
      ),
    ).toMatch(/adds the test configuration section/);
    expect(
      guard('setup.cfg', '[metadata]\nname = x\n\n[tool:pytest]\ntestpaths = tests\n', '[metadata]\nname = x\n'),
    ).toMatch(/\[tool:pytest\]/);
  });
});

describe('test guard: code that ends or rigs the run', () => {
  it('refuses a module-level exit with success in any module, and run patches in test files, new or changed', () => {
    expect(
      testGuardRefusal(
        ...update(
          'src/sum.js',
          'export const sum = (a, b) => a + b;\n',
          'export const sum = (a, b) => a + b;\nprocess.exit(0);\n',
        ),
        CTX,
      ),
    ).toMatch(/module-level exit/);
    expect(testGuardRefusal(add('tests/test_aaa.py', 'import os\nos._exit(0)\n'), new Map(), CTX)).toMatch(
      /module-level exit/,
    );
    expect(
      testGuardRefusal(
        add('tests/test_aab.py', 'import sys\nimport stub\nsys.modules["pkg.calc"] = stub\n'),
        new Map(),
        CTX,
      ),
    ).toMatch(/patch the module system/);
    expect(
      testGuardRefusal(
        add('test/a.test.js', "require.cache[require.resolve('../src/sum')] = { exports: {} };\n"),
        new Map(),
        CTX,
      ),
    ).toMatch(/patch the module system/);
  });
  it('lets an indented exit in a CLI entry point through', () => {
    expect(
      testGuardRefusal(
        add('src/cli.py', 'import sys\n\nif __name__ == "__main__":\n    sys.exit(main())\n'),
        new Map(),
        CTX,
      ),
    ).toBeNull();
    expect(testGuardRefusal(add('src/cli.js', 'main().catch(() => process.exit(1));\n'), new Map(), CTX)).toBeNull();
  });
});

describe('shadowing and truncation', () => {
  const entries = ['src', 'test', 'pkg', 'README.md', 'src/strings.js', 'test/strings.test.js', 'pkg/slug.py'];
  it('refuses an ADD that is an existing name in another case, or a module beside a module of the same name', () => {
    expect(shadowRefusal(add('test/Strings.test.js'), entries)).toMatch(
      /existing test\/strings\.test\.js in another case/,
    );
    expect(shadowRefusal(add('SRC/new.js'), entries)).toMatch(/existing src in another case/);
    expect(shadowRefusal(add('src/strings.ts'), entries)).toMatch(/beside the existing module src\/strings\.js/);
    expect(shadowRefusal(add('src/strings/index.js'), entries)).toMatch(
      /beside the existing module src\/strings\.js; .* new package/,
    );
    expect(shadowRefusal(add('pkg/slug/__init__.py'), entries)).toMatch(/beside the existing module pkg\/slug\.py/);
  });
  it('lets ordinary new files through', () => {
    expect(shadowRefusal(add('src/truncate.js'), entries)).toBeNull();
    expect(shadowRefusal(add('src/strings.d.ts'), entries)).toBeNull();
    expect(shadowRefusal(add('test/truncate.test.js'), entries)).toBeNull();
    expect(shadowRefusal(add('docs/guide/intro.md'), entries)).toBeNull();
    expect(shadowRefusal(add('src/strings/helpers.js'), entries)).toBeNull();
  });

  const file = Array.from({ length: 40 }, (_, i) => `export const v${i} = ${i};`).join('\n') + '\n';
  const whole = (content: string) => truncationRefusal(...update('src/v.js', file, content), new Set(['src/v.js']));
  it('refuses whole content that stops partway through the base file (at a line or mid-line)', () => {
    expect(whole(file.split('\n').slice(0, 30).join('\n') + '\n')).toMatch(
      /stops at line 30 of 40 and the remaining 10 lines are gone/,
    );
    expect(whole(file.split('\n').slice(0, 30).join('\n') + '\nexport const v3')).toMatch(
      /stops at line 31 of 40 \(mid-line\)/,
    );
  });
  it('lets whole content through that keeps the end, changes it, or appends; and never judges edits', () => {
    expect(whole(file + 'export const extra = 1;\n')).toBeNull();
    expect(whole(file.replace('v5 = 5', 'v5 = 6'))).toBeNull();
    expect(whole(file.replace(/export const v39 = 39;\n$/, 'export const last = 39;\n'))).toBeNull();
    const cut = file.split('\n').slice(0, 30).join('\n') + '\n';
    expect(truncationRefusal(...update('src/v.js', file, cut), new Set())).toBeNull();
  });

  // A test file as libraries keep them: many `it` blocks closing with `});`, then a closing comment.
  const suite =
    "import { expect, it } from 'vitest';\nimport { pad } from '../src/pad.js';\n\n" +
    Array.from(
      { length: 48 },
      (_, i) =>
        `it('pads case ${i}', () => {\n  const s = pad('x${i}', ${i + 3});\n  expect(s.length).toBe(${i + 3});\n  expect(s.trim()).toBe('x${i}');\n  expect(s.endsWith('x${i}')).toBe(true);\n  expect(s).not.toBe('');\n  expect(typeof s).toBe('string');\n});\n`,
    ).join('\n') +
    '\n// end of the pad tests: keep this file free of fixtures\n';
  const suiteLines = suite.replace(/\n$/, '').split('\n');
  const block = (name: string) => `\nit('${name}', () => {\n  expect(pad('', 2)).toBe('  ');\n});\n`;
  const wholeSuite = (content: string) =>
    truncationRefusal(...update('test/pad.test.js', suite, content), new Set(['test/pad.test.js']));
  it('lets an answer through that appends a test after the last line, whose `});` occurs earlier in the file', () => {
    expect(suiteLines.length).toBeGreaterThan(400);
    expect(suiteLines.at(-1)).toMatch(/^\/\/ end of the pad tests/);
    expect(wholeSuite(suite + block('pads nothing'))).toBeNull();
    expect(wholeSuite(suite + block('pads nothing') + block('pads twice'))).toBeNull();
    // Appended before the closing comment, and with a test changed on the way.
    expect(
      wholeSuite(suite.replace('\n// end of the pad tests', `${block('pads nothing')}\n// end of the pad tests`)),
    ).toBeNull();
    expect(wholeSuite(suite.replace("pad('x7', 10)", "pad('x7', 10, ' ')") + block('pads nothing'))).toBeNull();
    // The end replaced by lines of the answer's own is a rewrite, not a cut.
    expect(wholeSuite(suiteLines.slice(0, -12).join('\n') + block('pads nothing'))).toBeNull();
  });
  it('still refuses real cuts of that file, at every line, with or without a change before the cut', () => {
    for (let n = 4; n < suiteLines.length - 3; n += 7) {
      const gone = suiteLines.length - n;
      expect(wholeSuite(suiteLines.slice(0, n).join('\n') + '\n')).toMatch(
        new RegExp(`stops at line ${n} of ${suiteLines.length} and the remaining ${gone} lines are gone`),
      );
      const edited = suiteLines.slice(0, n).map((l) => l.replace("'x1'", "'y1'"));
      expect(wholeSuite(edited.join('\n') + '\n')).toMatch(
        /stops at line \d+ of \d+ and the remaining \d+ lines are gone/,
      );
    }
    // A rewrite too large for the aligning diff (every other line changed) is still judged whole.
    const big = Array.from({ length: 4000 }, (_, i) => `export const w${i} = ${i};`);
    const odd = (l: string, i: number) => (i % 2 ? l.replace(' = ', ' = 1 + ') : l);
    // The Change is built by hand: truncationRefusal reads no line counts.
    const bigUpdate = (after: string[]) =>
      truncationRefusal(
        [{ path: 'src/w.js', action: 'UPDATE', mode: '100644', content: after.join('\n') + '\n' }],
        new Map([['src/w.js', big.join('\n') + '\n']]),
        new Set(['src/w.js']),
      );
    expect(bigUpdate(big.slice(0, 3501).map(odd))).toMatch(/stops at line 3501 of 4000/);
    expect(bigUpdate([...big.map(odd), 'export const more = 1;'])).toBeNull();
    // Cut mid-line, after a `});` that also closes every earlier test.
    const at = suiteLines.indexOf('});', 200);
    expect(wholeSuite(suiteLines.slice(0, at + 2).join('\n') + '\n' + suiteLines[at + 2]!.slice(0, 5))).toMatch(
      new RegExp(`stops at line ${at + 3} of ${suiteLines.length} \\(mid-line\\)`),
    );
  });
});

/**
 * Each pattern in the spellings its language allows: written tight and written with spaces (both
 * run the same), and near misses that must stay allowed. The guard counts per file, so each
 * tamper is added beside the existing tests (no case is lost, which would be refused first).
 */
describe('test guard: the spellings of each tamper', () => {
  const addJs = (snippet: string) => guard('src/sum.test.ts', JEST, `${JEST}${snippet}\n`);
  const addPy = (snippet: string) => guard('tests/test_calc.py', PY, `${PY}\n\n${snippet}\n`);
  const inJsTest = (line: string) =>
    guard(
      'src/sum.test.ts',
      JEST,
      JEST.replace('    expect(sum(1, 2)).toBe(3);', `    ${line}\n    expect(sum(1, 2)).toBe(3);`),
    );
  const inPyTest = (line: string) =>
    guard('tests/test_calc.py', PY, PY.replace('    assert add(1, 2) == 3', `    ${line}\n    assert add(1, 2) == 3`));

  it.each([
    ["it.concurrent.skip('later', () => {});", /skip\/todo\/only marker/],
    ["it . concurrent . skip ('later', () => {});", /skip\/todo\/only marker/],
    ["test . skip('later', () => {});", /skip\/todo\/only marker/],
    ["xit('later', () => {});", /skip\/focus function/],
    ["xit ('later', () => {});", /skip\/focus function/],
    ["test('later', { skip: true }, () => {});", /skip option or attribute/],
    ["test('later', {skip:'flaky'}, () => {});", /skip option or attribute/],
    ["test('later', { todo : 1 }, () => {});", /skip option or attribute/],
  ])('refuses %j added to a jest/vitest/node:test file', (snippet, why) => {
    expect(addJs(snippet)).toMatch(why);
  });

  it.each([
    ['return;', /bare return/],
    ['return ;', /bare return/],
    ['process.exit(0);', /a process exit/],
    ['process.exit (0);', /a process exit/],
    ['process.exitCode=1;', /a process exit/],
    ['process.exitCode = 1;', /a process exit/],
    ['if(false){ }', /dead if \(false\)/],
    ['if ( false ) { }', /dead if \(false\)/],
    ['if(0) sum(0, 0);', /dead if \(false\)/],
    ['if ( null ) sum(0, 0);', /dead if \(false\)/],
    ['while(false) {}', /dead if \(false\)/],
    ['while ( false ) {}', /dead if \(false\)/],
  ])('refuses %j inside a jest/vitest test', (line, why) => {
    expect(inJsTest(line)).toMatch(why);
  });

  it.each([
    ['return None', /bare return/],
    ['pytest.skip ("later")', /pytest\/unittest skip/],
    ['self.skipTest("later")', /pytest\/unittest skip/],
    ['self.skipTest ("later")', /pytest\/unittest skip/],
    ['if False:', /dead if \(false\)/],
    ['if 0 :', /dead if \(false\)/],
    ['if(None):', /dead if \(false\)/],
  ])('refuses %j inside a pytest test', (line, why) => {
    expect(inPyTest(line.endsWith(':') ? `${line}\n        pass` : line)).toMatch(why);
  });

  it.each([
    ['@skip("later")\ndef test_later():\n    assert add(0, 0) == 0', /pytest\/unittest skip/],
    ['__test__=False', /pytest\/unittest skip/],
    ['__test__ =  False', /pytest\/unittest skip/],
  ])('refuses %j added to a pytest file', (snippet, why) => {
    expect(addPy(snippet)).toMatch(why);
  });

  it.each([
    "test('later', { skip: false }, () => {});",
    "test('later', { only:false }, () => {});",
    "it('skips nothing', () => { expect(skip(1)).toBe(2); });",
    "it('later', () => { expect(xitem(1)).toBe(2); });",
  ])('lets %j through: no marker', (snippet) => {
    expect(addJs(snippet)).toBeNull();
  });

  it.each([
    'assert(true);',
    'expect("ok").toBeTruthy();',
    "expect('ok').toBeTruthy();",
    'expect( true ).toBeTruthy();',
    't.pass();',
    't.pass ();',
    'assert.equal(result, result);',
    'assert.equal (result, result);',
    'assert.strictEqual( result , result );',
    'assert.deepEqual(result,result);',
    'expect( result ).toBe( result );',
    'expect(result) . toEqual (result);',
    't.is(result,result);',
    't.deepEqual ( result , result );',
  ])('refuses the tautology %j in a jest/vitest/ava test', (line) => {
    expect(inJsTest(line)).toMatch(/cannot fail/);
  });

  it.each([
    'assert True',
    'assert  1',
    'assert "always"',
    "assert 'always'",
    'assert True, "why"',
    'assert True , "why"',
    'assert result==result',
    'assert result  ==  result',
  ])('refuses the tautology %j in a pytest test', (line) => {
    expect(inPyTest(line)).toMatch(/cannot fail/);
  });

  it.each([
    ['assert total == total_before', 'py'],
    // A trailing comment is no assertion: only a line that starts with assert is one.
    ['total = 2  # assert total == total', 'py'],
    ['total = 2  # assert True', 'py'],
    ['expect(total).toBe(totalBefore);', 'js'],
    ['assert.equal(a, ab);', 'js'],
  ])('lets %j through: no tautology', (line, lang) => {
    expect(lang === 'py' ? inPyTest(line) : inJsTest(line)).toBeNull();
  });

  // An assertion in each spelling, then removed: the count drops only if it was counted.
  it.each([
    'assertEquals(sum(1, 2), 3);',
    'expectTypeOf(sum).toBeFunction();',
    'assert_eq!(sum(1, 2), 3);',
    'mustBe(sum(1, 2), 3);',
    'expect (sum(1, 2)).toBe(3);',
    't.throws(() => sum());',
    't.throws (() => sum());',
    't.Fatal("bad");',
    't.Fatal ("bad");',
    'self.assertEqual(sum(1, 2), 3)',
    'self.assertEqual (sum(1, 2), 3)',
    'pytest.raises(TypeError)',
    'pytest.raises (TypeError)',
  ])('refuses removing the assertion %j', (line) => {
    const before = JEST.replace('    expect(sum(1, 2)).toBe(3);', `    expect(sum(1, 2)).toBe(3);\n    ${line}`);
    expect(guard('src/sum.test.ts', before, JEST)).toMatch(/removes 1 assertion/);
  });

  it.each(['assert  sum(1, 2) == 3', 'assert(sum(1, 2) == 3)'])('refuses removing the Python assertion %j', (line) => {
    const before = PY.replace('    assert add(1, 2) == 3', `    assert add(1, 2) == 3\n    ${line}`);
    expect(guard('tests/test_calc.py', before, PY)).toMatch(/removes 1 assertion/);
  });

  it.each([
    ['src/a.js', 'process.exit(0);'],
    ['src/a.js', 'process.exit (0);'],
    ['src/a.mjs', 'process.exit( 0 );'],
    ['src/a.js', "process.exit('done');"],
    ['src/a.js', 'process.exit("");'],
    ['src/a.js', 'process.exitCode=0;'],
    ['src/a.js', 'process.exitCode = 0;'],
    ['src/a.py', 'sys.exit( None )'],
    ['src/a.py', 'exit()'],
  ])('refuses the module-level exit %j %j', (p, line) => {
    expect(testGuardRefusal(...update(p, 'export const a = 1;\n', `export const a = 1;\n${line}\n`), CTX)).toMatch(
      /module-level exit/,
    );
  });

  it.each([
    ['src/a.js', '  process.exit(0);'],
    ['src/a.js', 'process.exit(code);'],
    ['src/a.js', 'process.exitCode = 1;'],
    ['src/a.js', '  process.exitCode = 0;'],
    ['docs/run.md', 'process.exit(0);'],
    ['docs/run.js.txt', 'process.exit(0);'],
  ])('lets %j %j through: no module-level exit with success in code', (p, line) => {
    expect(testGuardRefusal(...update(p, 'export const a = 1;\n', `export const a = 1;\n${line}\n`), CTX)).toBeNull();
  });

  it('judges the exits a change adds, not the ones the base had', () => {
    const cli = 'main();\nprocess.exit(0);\n';
    expect(testGuardRefusal(...update('src/cli.js', cli, `${cli}// done\n`), CTX)).toBeNull();
  });

  it.each([
    'sys.modules ["pkg.calc"] = stub',
    'sys.modules["pkg.calc"] = stub',
    'builtins.open=fake_open',
    'builtins.open = fake_open',
    'process.exit=() => {};',
    'process.exit = () => {};',
    "process.on('exit', () => {});",
    'process.on ( "exit", () => {});',
    'os._exit(0)',
    'os._exit (0)',
    'atexit.register(stop)',
    'atexit.register (stop)',
  ])('refuses the run patch %j in a new test file', (line) => {
    const p = line.includes(';') ? 'test/a.test.js' : 'tests/test_aac.py';
    expect(testGuardRefusal(add(p, `  ${line}\n`), new Map(), CTX)).toMatch(/patch the module system/);
  });

  it.each([
    ["import { sum } from'../src/sum';", '../src/sum'],
    ["import { sum } from  '../src/sum';", '../src/sum'],
    ["const { sum } = await import( '../src/sum');", '../src/sum'],
    ["const { sum } = require('../src/sum');", '../src/sum'],
    ["const { sum } = require ( '../src/sum' ) ;", '../src/sum'],
    ["const { sum } = require('../src/sum' );", '../src/sum'],
  ])('refuses dropping the import %j', (line, module) => {
    const before = JEST.replace("import { sum } from '../src/sum';", line);
    const after = JEST.replace("import { sum } from '../src/sum';", "import { sum } from './stub';");
    expect(guard('src/sum.test.ts', before, after)).toContain(`stops importing "${module}"`);
  });

  it.each([
    ['from pkg.calc import add', 'pkg.calc'],
    ['from  pkg.calc  import add', 'pkg.calc'],
    ['import pkg.calc', 'pkg.calc'],
    ['import  pkg.calc', 'pkg.calc'],
    ['  import pkg.calc', 'pkg.calc'],
  ])('refuses dropping the Python import %j', (line, module) => {
    const before = PY.replace('from pkg.calc import add', line);
    const after = PY.replace('from pkg.calc import add', 'from stub import add');
    expect(guard('tests/test_calc.py', before, after)).toContain(`stops importing "${module}"`);
  });

  it.each([
    ['src/sum.test.ts', JEST, "const level = importance('low');"],
    ['src/sum.test.ts', JEST, "const cheese = fromage('brie');"],
    ['tests/test_calc.py', PY, 'hint = "run: import numpy first"'],
  ])('lets %j drop %j: a call or a string that reads like an import is none', (p, base, line) => {
    const marker = p.endsWith('.py') ? 'def test_add' : "describe('sum'";
    const before = base.replace(marker, `${line}\n${marker}`);
    expect(guard(p, before, base)).toBeNull();
  });

  it('names every import a change drops', () => {
    const before = JEST.replace(
      "import { sum } from '../src/sum';",
      "import { sum } from '../src/sum';\nimport '../src/setup';",
    );
    const after = JEST.replace("import { sum } from '../src/sum';", "import { sum } from './stub';");
    expect(guard('src/sum.test.ts', before, after)).toContain('stops importing "../src/sum", "../src/setup"');
  });
});

describe('withoutComments', () => {
  it.each([
    ['a /* one two */ b', 'f.js', 'a   b'],
    ['a/*x*/b', 'f.js', 'a b'],
    ['a /*\n x\n*/ b', 'f.js', 'a   b'],
    ['// head\nb', 'f.js', '\nb'],
    ['x; // tail\ny', 'f.js', 'x; \ny'],
    ['x = 7 // 2', 'f.py', 'x = 7 // 2'],
    ['# head\nx = 1 # tail\n', 'f.py', '\nx = 1 # tail\n'],
    ['  # indented\nb', 'f.yml', '\nb'],
    ['# head\nb', 'f.yaml', '\nb'],
    ['// kept\nb', 'copy.py.ts', '\nb'],
    ['"""Doc string."""\nx', 'f.py', '\nx'],
    ['    """Doc\n    more."""  \nx', 'f.py', '\nx'],
    ["'''doc'''\nx", 'f.py', '\nx'],
    ["  '''two words'''\nx", 'f.py', '\nx'],
    ['x = """not a docstring"""\n', 'f.py', 'x = """not a docstring"""\n'],
    ['"""a""" + b\n', 'f.py', '"""a""" + b\n'],
  ])('%j in %s is %j', (text, p, out) => {
    expect(withoutComments(text, p)).toBe(out);
  });
});

describe('test guard: what it judges', () => {
  it('skips NOOP changes, and judges every change in the set, not only the first', () => {
    expect(
      testGuardRefusal([{ path: 'vitest.config.ts', action: 'NOOP', mode: '100644', content: '' }], new Map(), CTX),
    ).toBeNull();
    expect(testGuardRefusal([...add('src/a.js'), ...add('vitest.config.ts')], new Map(), CTX)).toMatch(
      /test configuration/,
    );
  });

  it('says whether the change adds or changes a file under a dependency directory', () => {
    const noCache = { ...CTX, cacheDirs: [] };
    expect(testGuardRefusal(add('node_modules/ava/index.js'), new Map(), noCache)).toContain(
      'the change adds a file under node_modules/',
    );
    expect(guard('lib/site-packages/x.py', 'a\n', 'b\n', noCache)).toContain(
      'the change changes a file under site-packages/',
    );
    for (const d of ['bower_components', 'jspm_packages', '.venv', 'venv', '__pycache__', '.tox', '.nox', '.pnp'])
      expect(testGuardRefusal(add(`a/${d}/x.js`), new Map(), noCache)).toContain(`under ${d}/`);
    // A file that has a dependency directory's name is no directory.
    expect(testGuardRefusal(add('tools/venv'), new Map(), noCache)).toBeNull();
  });

  it('reads cache directories as written in config: leading ./, trailing /, several segments', () => {
    const ctx = { ...CTX, cacheDirs: ['./build/cache/'] };
    expect(testGuardRefusal(add('build/cache/x.js'), new Map(), ctx)).toContain('under build/cache/');
    expect(testGuardRefusal(add('packages/a/build/cache/x.js'), new Map(), ctx)).toContain('under build/cache/');
    expect(testGuardRefusal(add('src/a.js'), new Map(), ctx)).toBeNull();
    expect(testGuardRefusal(add('build/cached/x.js'), new Map(), ctx)).toBeNull();
  });

  it('freezes files the commands run, but lets the commands add a file the base lacks and grow test files', () => {
    const ctx = {
      ...CTX,
      commands: [
        ['sh', 'scripts/test.sh'],
        ['node', '--test', 'test/setup.test.js'],
        ['python', 'checks.py'],
      ],
    };
    expect(testGuardRefusal(add('scripts/test.sh', 'exit 0\n'), new Map(), ctx)).toBeNull();
    // A test file by its name, with no case yet, may grow.
    expect(
      guard('test/setup.test.js', 'export const x = 1;\n', "export const x = 1;\nit('a', () => {});\n", ctx),
    ).toBeNull();
    // A file with test cases is a test file whatever its name.
    const checks = 'def test_one():\n    assert one() == 1\n';
    expect(guard('checks.py', checks, `${checks}\n\ndef test_two():\n    assert two() == 2\n`, ctx)).toBeNull();
  });

  it('does not hold an UPDATE without line counts, or of a file the base lacks, to the test-file rules', () => {
    const c: Change = { path: 'src/sum.test.ts', action: 'UPDATE', mode: '100644', content: JEST };
    expect(testGuardRefusal([c], new Map([['src/sum.test.ts', JEST]]), CTX)).toBeNull();
    expect(testGuardRefusal([c], new Map(), CTX)).toBeNull();
  });

  it('lets a change through that keeps a tautology the base already had', () => {
    const before = JEST.replace(
      'expect(sum(-1, -2)).toBe(-3);',
      'expect(sum(-1, -2)).toBe(-3);\n    expect(true).toBe(true);',
    );
    expect(guard('src/sum.test.ts', before, `${before}// more later\n`)).toBeNull();
  });

  it('counts lines against maxShrink at its edge, and says the bound', () => {
    const notes = Array.from({ length: 10 }, (_, i) => `// note ${i}`).join('\n') + '\n';
    const base = notes + JEST; // 20 lines: 30 % is 6
    const drop = (n: number) => notes.split('\n').slice(n).join('\n') + JEST;
    expect(guard('src/sum.test.ts', base, drop(6))).toBeNull();
    expect(guard('src/sum.test.ts', base, drop(7))).toContain(
      "removes 7 of the test file's 20 lines (+0 −7); guardrails.maxShrink allows 30 %",
    );
  });
});

describe('shadowing: more shapes', () => {
  const entries = [
    'src',
    'test',
    'pkg',
    'index.js',
    'src/strings.js',
    'test/strings.test.js',
    'pkg/slug.py',
    'pkg/sub',
    'pkg/sub/slug.py',
  ];
  it.each([
    ['index.ts', /beside the existing module index\.js; .* new file instead/],
    ['src/strings.mjs', /beside the existing module src\/strings\.js/],
    ['src/strings/index.mjs', /beside the existing module src\/strings\.js; .* new package/],
    ['pkg/sub/slug/__init__.py', /beside the existing module pkg\/sub\/slug\.py/],
  ])('refuses adding %j', (p, why) => {
    expect(shadowRefusal(add(p), entries)).toMatch(why);
  });
  it.each(['test/slug.js', 'src/strings/index.js.map', 'src/strings/reindex.js'])('lets %j through', (p) => {
    expect(shadowRefusal(add(p), entries)).toBeNull();
  });

  it('lists the root and every ancestor of an ADD, and nothing without an ADD', () => {
    expect(shadowDirs([])).toEqual([]);
    expect(shadowDirs(update('src/a.js', 'a\n', 'b\n')[0])).toEqual([]);
    expect(shadowDirs([...update('lib/x.js', 'a\n', 'b\n')[0], ...add('src/deep/a.js'), ...add('b.js')])).toEqual([
      '',
      'src',
      'src/deep',
    ]);
  });
});

describe('shadowing: an extensionless file', () => {
  it('refuses a new file named like a module without its extension (require and vite load that file first)', () => {
    expect(shadowRefusal(add('src/strings'), ['src', 'src/strings.js'])).toMatch(
      /adds src\/strings beside the existing module src\/strings\.js/,
    );
    expect(shadowRefusal(add('src/strings.md'), ['src', 'src/strings.js'])).toBeNull();
    expect(shadowRefusal(add('src/LICENSE'), ['src', 'src/strings.js'])).toBeNull();
  });
});
