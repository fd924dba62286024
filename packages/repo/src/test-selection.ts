import picomatch from 'picomatch';
import { isTestFile } from './context/related.ts';
import type { TestSurface } from './test-surface.ts';

/**
 * One table of what decides which tests run and how, per ecosystem. A change that ADDs or
 * changes one of these (or the part of it the rule names) is refused with the file and the rule's
 * id: which tests run is not the change's to decide. There is no DELETE or rename in a proposal
 * (a change can only add or update files), so "renamed" reaches the guard as an ADD and is
 * refused like one. An outside check once made a broken change green with a new setup.cfg
 * holding `[tool:pytest] addopts = --deselect …`: sections were compared only on UPDATE.
 *
 * `parts` rules compare only the test-relevant parts of a file that is otherwise the bot's to
 * change (package.json, pyproject.toml, setup.cfg, Cargo.toml, go.mod); a part the base lacks
 * counts as empty, so adding the file with such a part is refused like changing it.
 * `tools` rules apply only when the reached commands run that program (a lint or type-check
 * config weakens the suite only where the suite runs the linter).
 */
export interface SelectionRule {
  id: string;
  ecosystem: 'js' | 'python' | 'go' | 'rust' | 'any';
  /** Canonical (case-folded) path globs. */
  files: string[];
  /** What the file or part is, as the refusal says it. */
  what: string;
  /** Only when the reached commands run one of these programs. */
  tools?: string[];
  /** Only UPDATE is refused (a new file of this kind adds, it cannot take away). */
  updateOnly?: boolean;
  /** The test-relevant parts (name → text) to compare; whole file when absent. */
  parts?: (text: string, surface: TestSurface) => Map<string, string> | null;
  /** A check of its own: the refusal's detail, or null. */
  check?: (old: string | undefined, now: string, surface: TestSurface, file: string) => string | null;
}

/** Sections of TOML/INI files, by header, that hold test or check configuration. */
const PY_SECTION =
  /^\[\s*(?:tool[.:](?:pytest|coverage|tox|nox|hatch\.envs|poe|ruff|mypy|black|isort|pylint|flake8|pyright|setuptools\.package-data)|pytest|coverage:|testenv|flake8|mypy|pycodestyle|isort|pylint|aliases)[^\]]*\]/i;

export const TEST_SELECTION_RULES: readonly SelectionRule[] = [
  // JavaScript / TypeScript
  {
    id: 'js.runner-config',
    ecosystem: 'js',
    files: [
      '**/{vitest,jest,playwright,cypress,karma,wdio,nightwatch}.*',
      '**/{vite,ava,mocha,tap,c8,nyc,uvu,tsd,web-test-runner,wtr,protractor,vitest.workspace}.{config,conf,setup}.*',
      '**/vitest.{workspace,projects}.*',
    ],
    what: 'a test runner configuration file',
  },
  {
    id: 'js.runner-rc',
    ecosystem: 'js',
    files: ['**/.{mocharc,c8rc,nycrc,taprc,babelrc,swcrc}*', '**/bunfig.toml'],
    what: 'a test runner rc file',
  },
  {
    id: 'js.mocks-snapshots',
    ecosystem: 'js',
    files: ['**/__mocks__/**', '**/__snapshots__/**', '**/*.snap'],
    what: 'a mock or snapshot the tests compare against',
  },
  { id: 'js.package-json', ecosystem: 'js', files: ['**/package.json'], what: 'package.json', check: packageJsonCheck },
  {
    id: 'js.workspace',
    ecosystem: 'js',
    files: ['**/pnpm-workspace.yaml', '**/lerna.json', '**/turbo.json', '**/nx.json', '**/rush.json'],
    what: 'the workspace list or task graph (which packages’ tests run)',
  },
  {
    id: 'js.eslint',
    ecosystem: 'js',
    tools: ['eslint', 'xo', 'next', 'standard'],
    files: ['**/eslint.config.*', '**/.eslintrc*', '**/.eslintignore'],
    what: 'eslint configuration, which the reached commands run',
  },
  {
    id: 'js.prettier',
    ecosystem: 'js',
    tools: ['prettier', 'xo'],
    files: ['**/prettier.config.*', '**/.prettierrc*', '**/.prettierignore', '**/.editorconfig'],
    what: 'prettier configuration, which the reached commands run',
  },
  {
    id: 'js.biome',
    ecosystem: 'js',
    tools: ['biome'],
    files: ['**/biome.json', '**/biome.jsonc'],
    what: 'biome configuration, which the reached commands run',
  },
  {
    id: 'js.tsconfig',
    ecosystem: 'js',
    tools: ['tsc', 'vue-tsc', 'tsd', 'tsgo', 'type-coverage', 'ts-scripts'],
    files: ['**/tsconfig*.json', '**/jsconfig.json'],
    what: 'TypeScript configuration, which the reached type check reads',
  },
  // Python
  {
    id: 'py.pytest-ini',
    ecosystem: 'python',
    files: ['**/pytest.ini', '**/.pytest.ini'],
    what: 'pytest configuration',
  },
  {
    id: 'py.tox-nox',
    ecosystem: 'python',
    files: ['**/tox.ini', '**/noxfile.py'],
    what: 'tox or nox configuration (test environments and their commands)',
  },
  {
    id: 'py.conftest',
    ecosystem: 'python',
    files: ['**/conftest.py'],
    what: 'a pytest conftest.py (hooks that collect, skip or rewrite tests)',
  },
  {
    id: 'py.startup',
    ecosystem: 'python',
    files: ['**/sitecustomize.py', '**/usercustomize.py', '**/*.pth'],
    what: 'an interpreter start-up hook',
  },
  { id: 'py.coveragerc', ecosystem: 'python', files: ['**/.coveragerc'], what: 'coverage configuration' },
  {
    id: 'py.lint-config',
    ecosystem: 'python',
    tools: ['ruff', 'flake8', 'mypy', 'pylint', 'pyright', 'black', 'isort'],
    files: [
      '**/ruff.toml',
      '**/.ruff.toml',
      '**/.flake8',
      '**/mypy.ini',
      '**/.mypy.ini',
      '**/.pylintrc',
      '**/pylintrc',
      '**/pyrightconfig.json',
      '**/.isort.cfg',
    ],
    what: 'lint or type-check configuration, which the reached commands run',
  },
  {
    id: 'py.pyproject',
    ecosystem: 'python',
    files: ['**/pyproject.toml'],
    what: 'pyproject.toml',
    parts: (t) => sections(t, PY_SECTION),
  },
  {
    id: 'py.setup-cfg',
    ecosystem: 'python',
    files: ['**/setup.cfg'],
    what: 'setup.cfg',
    parts: (t) => sections(t, PY_SECTION),
  },
  {
    id: 'py.hooks',
    ecosystem: 'python',
    files: ['**/*.py'],
    what: 'Python module',
    check: (old, now) =>
      grows(
        old,
        now,
        /^\s*def\s+(?:pytest_\w+|load_tests)\s*\(|^\s*(?:collect_ignore(?:_glob)?|pytest_plugins)\s*[=+]/gm,
        'a pytest hook, plugin list, collect_ignore or load_tests (they decide which tests are collected)',
      ),
  },
  // Go
  {
    id: 'go.test-constraints',
    ecosystem: 'go',
    files: ['**/*_test.go'],
    what: 'Go test file',
    check: goConstraintCheck,
  },
  {
    id: 'go.test-main',
    ecosystem: 'go',
    files: ['**/*_test.go'],
    what: 'Go test file',
    check: (old, now) =>
      grows(old, now, /^func\s+TestMain\s*\(/gm, 'a TestMain (it decides whether m.Run runs the tests)'),
  },
  { id: 'go.mod', ecosystem: 'go', files: ['**/go.mod'], what: 'go.mod', check: goModCheck },
  { id: 'go.work', ecosystem: 'go', files: ['**/go.work'], what: 'go.work (which modules `go test` sees)' },
  {
    id: 'go.vendor',
    ecosystem: 'go',
    files: ['**/vendor/modules.txt', 'vendor/**/*.go'],
    what: 'vendored Go source (what the tests import instead of the module cache)',
  },
  {
    id: 'go.testdata',
    ecosystem: 'go',
    files: ['**/testdata/**'],
    updateOnly: true,
    what: 'test data (golden files the tests compare against)',
  },
  {
    id: 'go.lint-config',
    ecosystem: 'go',
    tools: ['golangci-lint', 'staticcheck'],
    files: ['**/.golangci.*', '**/staticcheck.conf'],
    what: 'Go lint configuration, which the reached commands run',
  },
  // Rust
  { id: 'rust.cargo-toml', ecosystem: 'rust', files: ['**/cargo.toml'], what: 'Cargo.toml', parts: cargoParts },
  {
    id: 'rust.build-script',
    ecosystem: 'rust',
    files: ['**/build.rs'],
    what: 'a Cargo build script (it runs before the tests and sets their cfg flags)',
  },
  {
    id: 'rust.toolchain',
    ecosystem: 'rust',
    files: ['**/rust-toolchain', '**/rust-toolchain.toml'],
    what: 'the Rust toolchain pin',
  },
  {
    id: 'rust.cargo-config',
    ecosystem: 'rust',
    files: ['**/.cargo/config', '**/.cargo/config.toml', '**/.config/nextest.toml'],
    what: 'Cargo or nextest configuration (flags, runners, test filters)',
  },
  { id: 'rust.cfg-test', ecosystem: 'rust', files: ['**/*.rs'], what: 'Rust source', check: rustCfgCheck },
  {
    id: 'rust.lint-config',
    ecosystem: 'rust',
    tools: ['cargo-clippy', 'cargo-fmt', 'clippy-driver', 'rustfmt'],
    files: ['**/clippy.toml', '**/.clippy.toml', '**/rustfmt.toml', '**/.rustfmt.toml'],
    what: 'clippy or rustfmt configuration',
  },
];

const MATCHERS = TEST_SELECTION_RULES.map((r) => ({ rule: r, test: picomatch(r.files, { dot: true, nocase: true }) }));

/** Why a change (ADD or UPDATE of `canonical`) changes which tests run, naming file and rule; or null. */
export function selectionRefusal(
  file: string,
  canonical: string,
  old: string | undefined,
  now: string,
  surface: TestSurface,
): string | null {
  const verb = old === undefined ? 'adds' : 'changes';
  for (const { rule, test } of MATCHERS) {
    if (!test(canonical)) continue;
    if (rule.tools && !rule.tools.some((t) => surface.tools.has(t))) continue;
    if (rule.updateOnly && old === undefined) continue;
    let detail: string | null;
    if (rule.check) detail = rule.check(old, now, surface, file);
    else if (rule.parts) detail = partsDiff(rule.parts(old ?? '', surface), rule.parts(now, surface), rule.what);
    else detail = `${verb} test configuration, ${rule.what}`;
    if (detail)
      return `${file}: the change ${detail} (rule ${rule.id}: which tests run and how is not the bot's to decide)`;
  }
  return null;
}

function partsDiff(a: Map<string, string> | null, b: Map<string, string> | null, what: string): string | null {
  if (!b) return `leaves ${what} in a form the guard cannot read`;
  const before = a ?? new Map<string, string>();
  for (const [k, v] of before)
    if (b.get(k) !== v) return `edits or removes the test configuration section ${k} of ${what}`;
  for (const k of b.keys()) if (!before.has(k)) return `adds the test configuration section ${k} to ${what}`;
  return null;
}

function count(text: string, re: RegExp): number {
  return text.match(re)?.length ?? 0;
}

function grows(old: string | undefined, now: string, re: RegExp, what: string): string | null {
  const a = count(old ?? '', re);
  const b = count(now, re);
  return b > a ? `adds ${what} (${a} → ${b})` : null;
}

/** TOML/INI sections whose header matches `head`, by header (the header line included). */
function sections(text: string, head: RegExp): Map<string, string> {
  const out = new Map<string, string>();
  let current: string | null = null;
  for (const line of text.split('\n')) {
    if (/^\s*\[/.test(line)) current = head.test(line.trim()) ? line.trim().replace(/\s+/g, '') : null;
    if (current !== null && line.trim() && !/^\s*[#;]/.test(line))
      out.set(current, (out.get(current) ?? '') + line.trim() + '\n');
  }
  return out;
}

// ---- package.json

/** package.json keys runners read their configuration from. */
const RUNNER_KEYS = [
  'jest',
  'ava',
  'mocha',
  'c8',
  'nyc',
  'tap',
  'vitest',
  'xo',
  'tsd',
  'eslintConfig',
  'eslintIgnore',
  'prettier',
  'babel',
  'workspaces',
  'size-limit',
  'ts-scripts',
  'standard',
  'remarkConfig',
  'typeCoverage',
];
/** package.json keys that say which file a module name resolves to: existing entries must stay as they are. */
const RESOLUTION_KEYS = ['main', 'module', 'exports', 'imports', 'browser', 'type'];
/** npm lifecycle scripts that run during install (setup), and around `test`. */
const LIFECYCLE = [
  'preinstall',
  'install',
  'postinstall',
  'prepare',
  'preprepare',
  'postprepare',
  'pretest',
  'test',
  'posttest',
];

function packageJsonCheck(old: string | undefined, now: string, surface: TestSurface): string | null {
  const a = old === undefined ? {} : parseObject(old);
  if (!a) return null; // not JSON at base: nothing to compare (the tests will say)
  const b = parseObject(now);
  if (!b) return 'leaves package.json unparseable';
  const sa = (a.scripts ?? {}) as Record<string, unknown>;
  const sb = (b.scripts ?? {}) as Record<string, unknown>;
  // Scripts this file's reached scripts call, followed within the file (a nested package's own chain).
  const reached = closeScripts(new Set([...LIFECYCLE, ...surface.scripts]), sa);
  for (const k of new Set([...Object.keys(sa), ...Object.keys(sb)])) {
    if ((reached.has(k) || /^test[:-]/.test(k)) && JSON.stringify(sa[k]) !== JSON.stringify(sb[k])) {
      const via =
        surface.direct.has(k) || LIFECYCLE.includes(k)
          ? 'which the setup or test commands run'
          : 'which a script the setup or test commands run calls';
      return `edits the "${k}" script, ${via}`;
    }
  }
  // Tools the reached scripts call read their options from a key of the same name (`"ava": {…}`).
  const tools = new Set([
    ...RUNNER_KEYS,
    ...surface.tools,
    ...[...reached].flatMap((k) => String(sa[k] ?? '').split(/[^A-Za-z0-9_-]+/)),
  ]);
  for (const k of tools) {
    if (k && JSON.stringify(a[k]) !== JSON.stringify(b[k]))
      return `edits the "${k}" key, configuration of a tool the tests run`;
  }
  for (const k of RESOLUTION_KEYS) {
    const gone = lostLeaves(a[k], b[k], k);
    if (gone)
      return `repoints "${gone}", which decides which file the tests import (entries may be added, not changed)`;
  }
  return null;
}

/** The scripts reached from `seed` by `npm run x` / `pnpm x` / `run-s x` calls inside `scripts`. */
function closeScripts(seed: Set<string>, scripts: Record<string, unknown>): Set<string> {
  const out = new Set<string>();
  const todo = [...seed];
  while (todo.length) {
    const n = todo.pop()!;
    for (const k of [n, `pre${n}`, `post${n}`]) {
      if (out.has(k)) continue;
      out.add(k);
      const body = scripts[k];
      if (typeof body !== 'string') continue;
      for (const m of body.matchAll(
        /\b(?:npm|pnpm|yarn|bun)\s+(?:-\S+\s+)*(?:run(?:-script)?\s+(?:-\S+\s+)*)?([A-Za-z0-9:_.-]+)/g,
      ))
        todo.push(m[1] === 't' ? 'test' : m[1]!);
      for (const m of body.matchAll(/\b(?:npm-run-all2?|run-s|run-p)\s+([^&|;]+)/g)) {
        for (const pat of m[1]!.split(/\s+/).filter((w) => w && !w.startsWith('-'))) {
          const isMatch = picomatch(pat.replace(/:/g, '/'));
          for (const name of Object.keys(scripts)) if (isMatch(name.replace(/:/g, '/'))) todo.push(name);
        }
      }
      for (const m of body.matchAll(/["']?(?:npm|pnpm|yarn):([A-Za-z0-9:_.-]+)/g)) todo.push(m[1]!);
    }
  }
  return out;
}

function parseObject(s: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(s) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The first leaf (as a dotted path) of `a` that `b` lacks or changes, or null. */
function lostLeaves(a: unknown, b: unknown, at: string): string | null {
  if (a === undefined) return null;
  if (a === null || typeof a !== 'object') return JSON.stringify(a) === JSON.stringify(b) ? null : at;
  if (b === null || typeof b !== 'object' || Array.isArray(a) !== Array.isArray(b)) return at;
  for (const [k, v] of Object.entries(a)) {
    const gone = lostLeaves(v, (b as Record<string, unknown>)[k], `${at}.${k}`);
    if (gone) return gone;
  }
  return null;
}

// ---- Go

const GO_CONSTRAINT = /^\s*\/\/(?:go:build\s|\s*\+build\s).*$/gm;

/** Build constraints decide whether a test file is compiled at all: on an existing test file they are fixed. */
function goConstraintCheck(old: string | undefined, now: string): string | null {
  if (old === undefined) return null; // a new test file that excludes itself adds nothing and removes nothing
  const a = (old.match(GO_CONSTRAINT) ?? []).map((l) => l.trim()).join('\n');
  const b = (now.match(GO_CONSTRAINT) ?? []).map((l) => l.trim()).join('\n');
  if (a === b) return null;
  return `changes the build constraint of a Go test file (${a || 'none'} → ${b || 'none'}), which decides whether its tests are compiled`;
}

function goModCheck(old: string | undefined, now: string): string | null {
  // `go test ./...` stops at a nested module's root: a new go.mod hides its directory's tests.
  if (old === undefined)
    return 'adds a go.mod, which takes its directory out of the enclosing module (and out of `go test ./...`)';
  const keep = (t: string) => {
    const lines: string[] = [];
    let block = false;
    for (const raw of t.split('\n')) {
      const l = raw.replace(/\/\/.*$/, '').trim();
      if (/^(?:replace|godebug)\s*\($/.test(l)) block = true;
      if (block || /^(?:go|toolchain|replace|godebug)\b/.test(l)) lines.push(l);
      if (block && l === ')') block = false;
    }
    return lines.join('\n');
  };
  return keep(old) === keep(now)
    ? null
    : 'changes the go, toolchain, replace or godebug directives of go.mod (which toolchain and which module source the tests build with)';
}

// ---- Rust

/** The parts of a Cargo.toml that decide which tests are built and run. */
function cargoParts(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let head: string | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const h = /^\[\[?\s*([^\]]+?)\s*\]\]?$/.exec(line);
    if (h) {
      head = line.replace(/\s+/g, '');
      // Whole sections: every test target, features (cfg of tests), test/dev profiles, workspace members.
      if (
        /^\[\[test\]\]$|^\[(?:features|profile\.(?:test|dev)|workspace)\]$|^\[target\..*\.dev-dependencies\]$/.test(
          head,
        )
      )
        out.set(head, (out.get(head) ?? '') + '');
      continue;
    }
    if (head === null) continue;
    if (/^\[\[test\]\]$|^\[(?:features|profile\.(?:test|dev)|workspace)\]$/.test(head))
      out.set(head, (out.get(head) ?? '') + line + '\n');
    else if (/^\[(?:lib|package)\]$|^\[\[(?:bin|bench|example)\]\]$/.test(head)) {
      const key = /^([A-Za-z_-]+)\s*=/.exec(line)?.[1] ?? '';
      if (
        /^(?:test|doctest|harness|required-features|autotests|autobenches|autoexamples|autobins|autolib|build|proc-macro)$/.test(
          key,
        )
      )
        out.set(`${head} ${key}`, line);
    }
  }
  return out;
}

/** `#[cfg(test)]` modules hold Rust's unit tests: narrowing or dropping that cfg, or adding a crate-level cfg to a test file, hides them. */
function rustCfgCheck(old: string | undefined, now: string, _s: TestSurface, file: string): string | null {
  const a = old ?? '';
  const cfgTest = /#\[cfg\(\s*test\s*\)\]/g;
  if (count(now, cfgTest) < count(a, cfgTest))
    return `removes or narrows #[cfg(test)] attributes (${count(a, cfgTest)} → ${count(now, cfgTest)}), which hides unit tests`;
  const hasTests = /#\[test\]/.test(a) || isTestFile(file) || /(^|\/)tests\//.test(file);
  const inner = /#!\[cfg\(/g;
  if (hasTests && count(now, inner) > count(a, inner))
    return `adds a crate-level #![cfg(…)] to a file with tests (${count(a, inner)} → ${count(now, inner)}), which can compile them out`;
  const ignore = /#\[cfg_attr\([^\]]*\bignore\b|#\[should_panic\b/g;
  if (old !== undefined && count(now, ignore) > count(a, ignore))
    return `adds a conditional #[ignore] or #[should_panic] to existing tests (${count(a, ignore)} → ${count(now, ignore)})`;
  return null;
}
