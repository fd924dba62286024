import { describe, expect, it } from 'vitest';
import { canonicalPath } from './guardrails.ts';
import { TEST_SELECTION_RULES, selectionRefusal } from './test-selection.ts';
import { commandSurface, type TestSurface } from './test-surface.ts';

/**
 * One row per rule of TEST_SELECTION_RULES: a change the rule refuses (named by file and rule id)
 * and a control, the nearest change it lets through (so each row can fail both ways). The
 * end-to-end proof on real libraries is test/e2e/ecosystems.
 */
interface Row {
  rule: string;
  file: string;
  /** Base text; undefined for an ADD. */
  before?: string;
  after: string;
  /** A change of the same file the rule lets through. */
  control: { file?: string; before?: string; after: string };
  /** The commands' reach (default: `npm test`). */
  surface?: TestSurface;
}

const npmTest = commandSurface([['npm', 'test']]);
const pkg = (o: object) =>
  JSON.stringify(
    {
      name: 'x',
      version: '1.0.0',
      main: 'index.js',
      scripts: { test: 'pnpm lint && vitest run', lint: 'prettier --check . && eslint .', build: 'tsc' },
      ...o,
    },
    null,
    2,
  );
const reached: TestSurface = {
  scripts: new Set(['test', 'lint', 'pretest', 'posttest', 'prelint', 'postlint']),
  direct: new Set(['test', 'pretest', 'posttest']),
  files: new Set(),
  tools: new Set(['pnpm', 'vitest', 'prettier', 'eslint', 'tsc']),
};
const PYPROJECT = '[project]\nname = "x"\ndependencies = []\n\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\n';
const SETUP_CFG = '[metadata]\nname = x\n\n[options]\npackages = find:\n';
const CARGO = '[package]\nname = "x"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n';
const GOMOD = 'module example.com/x\n\ngo 1.19\n';
const GOTEST =
  'package x\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal("bad")\n\t}\n}\n';
const RS =
  'pub fn add(a: u8, b: u8) -> u8 { a + b }\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn adds() {\n        assert_eq!(add(1, 2), 3);\n    }\n}\n';

const ROWS: Row[] = [
  {
    rule: 'js.runner-config',
    file: 'vitest.config.ts',
    after: 'export default { test: { exclude: ["**"] } };\n',
    control: { file: 'src/vitest-helpers.ts', after: 'export const x = 1;\n' },
  },
  {
    rule: 'js.runner-rc',
    file: '.mocharc.yml',
    after: 'spec: []\n',
    control: { file: 'docs/mocha.md', after: '# notes\n' },
  },
  {
    rule: 'js.mocks-snapshots',
    file: 'src/__snapshots__/a.spec.ts.snap',
    before: 'exports[`a 1`] = `1`;\n',
    after: 'exports[`a 1`] = `2`;\n',
    control: { file: 'src/snapshots.ts', after: 'export const s = 1;\n' },
  },
  {
    rule: 'js.package-json',
    file: 'package.json',
    before: pkg({}),
    after: pkg({ scripts: { test: 'pnpm lint && vitest run', lint: 'eslint .', build: 'tsc' } }),
    surface: reached,
    control: {
      before: pkg({}),
      after: pkg({
        scripts: { test: 'pnpm lint && vitest run', lint: 'prettier --check . && eslint .', build: 'tsc -b' },
      }),
    },
  },
  {
    rule: 'js.workspace',
    file: 'pnpm-workspace.yaml',
    before: 'packages:\n  - packages/*\n',
    after: 'packages:\n  - packages/a\n',
    control: { file: 'packages/a/README.md', after: '# a\n' },
  },
  {
    rule: 'js.eslint',
    file: 'eslint.config.js',
    before: 'export default [{ rules: { semi: "error" } }];\n',
    after: 'export default [{ ignores: ["src/**"] }];\n',
    surface: reached,
    control: { before: 'x\n', after: 'y\n' },
  },
  { rule: 'js.prettier', file: '.prettierignore', after: 'src/\n', surface: reached, control: { after: 'src/\n' } },
  {
    rule: 'js.biome',
    file: 'biome.json',
    before: '{}\n',
    after: '{"linter":{"enabled":false}}\n',
    surface: commandSurface([['npx', 'biome', 'ci']]),
    control: { after: '{"linter":{"enabled":false}}\n' },
  },
  {
    rule: 'js.tsconfig',
    file: 'tsconfig.json',
    before: '{"compilerOptions":{"strict":true}}\n',
    after: '{"compilerOptions":{"strict":false}}\n',
    surface: reached,
    control: { after: '{"compilerOptions":{"strict":false}}\n' },
  },
  {
    rule: 'py.pytest-ini',
    file: 'pytest.ini',
    after: '[pytest]\naddopts = --deselect tests/test_a.py::test_x\n',
    control: { file: 'tests/test_new.py', after: 'def test_new():\n    assert 1 + 1 == 2\n' },
  },
  {
    rule: 'py.tox-nox',
    file: 'tox.ini',
    before: '[testenv]\ncommands = pytest\n',
    after: '[testenv]\ncommands = pytest -k "not slow"\n',
    control: { file: 'tox.md', after: '# tox\n' },
  },
  {
    rule: 'py.conftest',
    file: 'tests/conftest.py',
    after: 'def pytest_collection_modifyitems(items):\n    items.clear()\n',
    control: { file: 'tests/helpers.py', after: 'def helper():\n    return 1\n' },
  },
  {
    rule: 'py.startup',
    file: 'src/zz.pth',
    after: 'import os; os._exit(0)\n',
    control: { file: 'src/zz.py', after: 'X = 1\n' },
  },
  {
    rule: 'py.coveragerc',
    file: '.coveragerc',
    after: '[run]\nomit = *\n',
    control: { file: 'coverage.md', after: 'x\n' },
  },
  {
    rule: 'py.lint-config',
    file: 'ruff.toml',
    after: 'exclude = ["src"]\n',
    surface: commandSurface([['ruff', 'check', '.']]),
    control: { after: 'exclude = ["src"]\n' },
  },
  // The outside check's case: a NEW file holding the section (sections were compared on UPDATE only).
  {
    rule: 'py.setup-cfg',
    file: 'setup.cfg',
    after: '[metadata]\nname = x\n\n[tool:pytest]\naddopts = --deselect tests/test_fifo.py\n',
    control: { before: SETUP_CFG, after: SETUP_CFG.replace('find:', 'find:\ninstall_requires = attrs') },
  },
  {
    rule: 'py.pyproject',
    file: 'pyproject.toml',
    after: '[project]\nname = "x"\n\n[tool.pytest.ini_options]\naddopts = "-k nothing"\n',
    control: { before: PYPROJECT, after: PYPROJECT.replace('dependencies = []', 'dependencies = ["attrs"]') },
  },
  {
    rule: 'py.hooks',
    file: 'src/pkg/plugin.py',
    before: 'X = 1\n',
    after: 'X = 1\n\ndef pytest_collection_modifyitems(items):\n    items.clear()\n',
    control: { before: 'X = 1\n', after: 'X = 2\n\ndef helper():\n    return X\n' },
  },
  {
    rule: 'go.test-constraints',
    file: 'calc_test.go',
    before: GOTEST,
    after: '//go:build ignore\n\n' + GOTEST,
    control: {
      before: GOTEST,
      after: GOTEST + '\nfunc TestZero(t *testing.T) {\n\tif Add(0, 0) != 0 {\n\t\tt.Fatal("zero")\n\t}\n}\n',
    },
  },
  {
    rule: 'go.test-main',
    file: 'main_test.go',
    after: 'package x\n\nimport (\n\t"os"\n\t"testing"\n)\n\nfunc TestMain(m *testing.M) { os.Exit(0) }\n',
    control: { file: 'sub_test.go', after: GOTEST.replace('TestAdd', 'TestAdd2') },
  },
  {
    rule: 'go.mod',
    file: 'internal/slow/go.mod',
    after: 'module example.com/x/internal/slow\n',
    control: { file: 'go.mod', before: GOMOD, after: GOMOD + '\nrequire example.com/y v1.0.0\n' },
  },
  { rule: 'go.work', file: 'go.work', after: 'go 1.19\n\nuse ./a\n', control: { file: 'go.sum', after: '' } },
  {
    rule: 'go.vendor',
    file: 'vendor/example.com/y/y.go',
    after: 'package y\n',
    control: { file: 'pkg/vendoring.go', after: 'package pkg\n' },
  },
  {
    rule: 'go.testdata',
    file: 'testdata/golden.txt',
    before: 'expected\n',
    after: 'whatever\n',
    control: { file: 'testdata/new-case.txt', after: 'new\n' },
  },
  {
    rule: 'go.lint-config',
    file: '.golangci.yml',
    after: 'linters:\n  disable-all: true\n',
    surface: commandSurface([['golangci-lint', 'run']]),
    control: { after: 'linters:\n  disable-all: true\n' },
  },
  {
    rule: 'rust.cargo-toml',
    file: 'Cargo.toml',
    before: CARGO,
    after: CARGO.replace('[dependencies]', '[lib]\ntest = false\n\n[dependencies]'),
    control: { before: CARGO, after: CARGO.replace('version = "0.1.0"', 'version = "0.2.0"') },
  },
  {
    rule: 'rust.build-script',
    file: 'build.rs',
    after: 'fn main() { println!("cargo:rustc-cfg=skip"); }\n',
    control: { file: 'src/build_info.rs', after: 'pub const B: u8 = 1;\n' },
  },
  {
    rule: 'rust.toolchain',
    file: 'rust-toolchain.toml',
    after: '[toolchain]\nchannel = "1.50"\n',
    control: { file: 'toolchain.md', after: 'x\n' },
  },
  {
    rule: 'rust.cargo-config',
    file: '.cargo/config.toml',
    after: '[build]\nrustflags = ["--cfg", "skip"]\n',
    control: { file: 'cargo-notes.md', after: 'x\n' },
  },
  {
    rule: 'rust.cfg-test',
    file: 'src/lib.rs',
    before: RS,
    after: RS.replace('#[cfg(test)]', '#[cfg(all(test, feature = "never"))]'),
    control: { before: RS, after: RS.replace('a + b', 'a.wrapping_add(b)') },
  },
  {
    rule: 'rust.lint-config',
    file: 'clippy.toml',
    after: 'msrv = "1.0"\n',
    surface: commandSurface([['cargo', 'clippy']]),
    control: { after: 'msrv = "1.0"\n' },
  },
];

// Rows whose control is the same file under a surface that does not run the tool.
const TOOL_ROWS = new Set([
  'js.eslint',
  'js.prettier',
  'js.biome',
  'js.tsconfig',
  'py.lint-config',
  'go.lint-config',
  'rust.lint-config',
]);
const refuse = (file: string, before: string | undefined, after: string, surface: TestSurface) =>
  selectionRefusal(file, canonicalPath(file), before, after, surface);

describe('test selection rules: one row per rule', () => {
  it.each(TEST_SELECTION_RULES.map((r) => r.id))('has a row for rule %s', (id) => {
    expect(ROWS.map((r) => r.rule)).toContain(id);
  });

  it.each(ROWS.map((r) => [r.rule, r] as const))('%s: refused, naming the file and the rule', (rule, r) => {
    const why = refuse(r.file, r.before, r.after, r.surface ?? npmTest);
    expect(why).toMatch(
      new RegExp(
        `^${r.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the change .*\\(rule ${rule.replace('.', '\\.')}:`,
      ),
    );
  });

  it.each(ROWS.map((r) => [r.rule, r] as const))('%s: control, the nearest change is let through', (rule, r) => {
    const file = r.control.file ?? r.file;
    // Tool rules: the same change where the commands do not run that tool.
    const surface = TOOL_ROWS.has(rule) ? commandSurface([['node', '--test']]) : (r.surface ?? npmTest);
    expect(refuse(file, r.control.before, r.control.after, surface)).toBeNull();
  });
});

describe('test selection: ADD is refused like UPDATE', () => {
  it('a new setup.cfg or pyproject.toml with a pytest section, a new package.json with a test script', () => {
    expect(refuse('setup.cfg', undefined, '[tool:pytest]\naddopts = --deselect x\n', npmTest)).toMatch(
      /adds the test configuration section \[tool:pytest\] to setup\.cfg \(rule py\.setup-cfg/,
    );
    expect(refuse('pyproject.toml', undefined, '[tool.pytest.ini_options]\naddopts = "-k x"\n', npmTest)).toMatch(
      /rule py\.pyproject/,
    );
    expect(
      refuse('packages/a/package.json', undefined, JSON.stringify({ scripts: { test: 'true' } }), npmTest),
    ).toMatch(/edits the "test" script.*rule js\.package-json/);
    expect(
      refuse('packages/a/package.json', undefined, JSON.stringify({ name: 'a', dependencies: { x: '1' } }), npmTest),
    ).toBeNull();
  });
  it('a Cargo.toml test target, a go.mod in a subdirectory, a tox.ini', () => {
    expect(refuse('crates/a/Cargo.toml', undefined, '[package]\nname = "a"\nautotests = false\n', npmTest)).toMatch(
      /\[package\] autotests/,
    );
    expect(refuse('Cargo.toml', CARGO, CARGO + '\n[[test]]\nname = "only"\npath = "tests/only.rs"\n', npmTest)).toMatch(
      /section \[\[test\]\]/,
    );
    expect(refuse('tox.ini', undefined, '[tox]\n', npmTest)).toMatch(/rule py\.tox-nox/);
  });
  it('go.mod: the toolchain and replace directives are fixed, requirements may be added', () => {
    expect(refuse('go.mod', GOMOD, GOMOD + '\ntoolchain go1.22.0\n', npmTest)).toMatch(/toolchain/);
    expect(refuse('go.mod', GOMOD, GOMOD + '\nreplace example.com/y => ./stub\n', npmTest)).toMatch(/replace/);
    expect(refuse('go.mod', GOMOD, GOMOD.replace('go 1.19', 'go 1.22'), npmTest)).toMatch(/rule go\.mod/);
  });
});

describe('package.json: scripts reached through other scripts', () => {
  it('a script the test script calls (`pnpm lint`), directly or through run-s / npm-run-all / concurrently', () => {
    const base = pkg({});
    const weakened = pkg({ scripts: { test: 'pnpm lint && vitest run', lint: 'eslint .', build: 'tsc' } });
    // The base's own chain is followed within the file, even when the commands' surface knows only `test`.
    expect(refuse('package.json', base, weakened, npmTest)).toMatch(
      /edits the "lint" script, which a script the setup or test commands run calls/,
    );
    const runS = (lint: string) =>
      pkg({ scripts: { test: 'run-s lint:* unit', 'lint:fmt': lint, 'lint:es': 'eslint .', unit: 'vitest run' } });
    expect(refuse('package.json', runS('prettier --check .'), runS('true'), npmTest)).toMatch(/"lint:fmt" script/);
    const conc = (lint: string) => pkg({ scripts: { test: 'concurrently "npm:lint" "vitest run"', lint } });
    expect(refuse('package.json', conc('eslint .'), conc('true'), npmTest)).toMatch(/"lint" script/);
    // Control: a script nothing reaches may change.
    expect(
      refuse(
        'package.json',
        base,
        pkg({
          scripts: {
            test: 'pnpm lint && vitest run',
            lint: 'prettier --check . && eslint .',
            build: 'tsc -b',
            docs: 'typedoc',
          },
        }),
        npmTest,
      ),
    ).toBeNull();
  });
});
