import path from 'node:path/posix';
import picomatch from 'picomatch';
import { diffArrays } from 'diff';
import { countLines, type Change } from '@prbot/core';
import { isTestFile } from './context/related.ts';
import { canonicalPath } from './guardrails.ts';
import { countTestCases } from './shrink.ts';

/**
 * The test guard: the bot never weakens the suite that judges it. A green run only means something
 * if the tests that ran are the tests the repository had, so an outside check once got a green PR
 * that replaced a library's test file with a much smaller one. Tamper variants are many (truncate,
 * `it.skip`, `xit`, `.only`, `@pytest.mark.skip`, `return` at the top, a no-op assertion, a
 * `conftest.py` that drops every item, `"test": "true"`, a stub module that shadows the real one),
 * so the guard is a policy over what a change may do to the *test surface*, not a list of examples:
 *
 * 1. Test configuration is not the bot's to write: runner configs, pytest/tox files, conftest.py,
 *    interpreter start-up hooks, mocks and snapshots, every file the configured setup and test
 *    commands name, and the test-relevant parts of manifests (package.json scripts the commands run
 *    and runner keys; `[tool.pytest…]` and similar sections). ADD or UPDATE alike.
 * 2. An existing test file may grow; it may not lose or disable what it checks: the number of test
 *    cases and assertions cannot drop, skip/todo/only markers, early exits, dead `if (false)`
 *    guards and tautological assertions cannot be added, no imported module may disappear, and its
 *    lines may shrink by at most `maxShrink` — whatever the gap says (PRD text is untrusted input).
 * 3. Nothing may be written where the test run loads code from instead of the repository's own
 *    (cache and dependency directories: `node_modules`, `.venv` …).
 *
 * Counts are made on the text with comments removed, so commenting a test out counts as removing
 * it. This is a static check of the text, not a proof: a change can still be wrong in ways the
 * tests miss (docs/PROPOSALS.md says which); it makes the listed ways of turning red green fail.
 */
export interface TestGuardContext {
  /** tests.setup and tests.commands: the files and scripts they name are test configuration. */
  commands: string[][];
  /** tests.cacheDirs: kept between runs, so writing into them changes what later runs load. */
  cacheDirs: string[];
  /** guardrails.maxShrink, applied to test files without the gap's say. */
  maxShrink: number;
}

/** Runner configuration and hooks that decide which tests run and how (canonical, case-folded). */
const TEST_CONFIG_GLOBS = [
  '**/{vitest,jest,playwright,cypress,karma,wdio,nightwatch}.*',
  '**/{vite,ava,mocha,tap,c8,nyc,uvu,tsd,web-test-runner,wtr,protractor}.{config,conf,setup}.*',
  '**/.{mocharc,c8rc,nycrc,taprc,babelrc,swcrc}*',
  '**/bunfig.toml',
  '**/{pytest.ini,.pytest.ini,conftest.py,tox.ini,noxfile.py,.coveragerc,sitecustomize.py,usercustomize.py}',
  '**/*.pth',
  '**/__mocks__/**',
  '**/__snapshots__/**',
  '**/*.snap',
  '**/.cargo/config*',
  '**/.config/nextest.toml',
];
const isTestConfig = picomatch(TEST_CONFIG_GLOBS, { dot: true, nocase: true });

/** Directories test runs import from rather than from the tree: never written by the bot. */
const DEPENDENCY_DIRS = ['node_modules', 'bower_components', 'jspm_packages', '.venv', 'venv', 'site-packages', '__pycache__', '.tox', '.nox', '.pnp'];

/** package.json keys runners read their configuration from. */
const RUNNER_KEYS = ['jest', 'ava', 'mocha', 'c8', 'nyc', 'tap', 'vitest', 'xo', 'tsd', 'eslintConfig', 'babel'];
/** package.json keys that say which file a module name resolves to: existing entries must stay as they are. */
const RESOLUTION_KEYS = ['main', 'module', 'exports', 'imports', 'browser', 'type'];
/** npm lifecycle scripts that run during install (setup), and around `test`. */
const LIFECYCLE = ['preinstall', 'install', 'postinstall', 'prepare', 'pretest', 'test', 'posttest'];
/** TOML/INI sections that configure test runs (pyproject.toml, setup.cfg, tox.ini). */
const TEST_SECTION = /^\[\s*(?:tool[.:](?:pytest|coverage|tox|nox|hatch\.envs)|pytest|coverage:|testenv)[^\]]*\]/i;

/** Why the change set weakens the test surface, or null. */
export function testGuardRefusal(changes: Change[], base: Map<string, string>, ctx: TestGuardContext): string | null {
  const named = namedByCommands(ctx.commands);
  for (const c of changes) {
    if (c.action === 'NOOP') continue;
    const refusal =
      configRefusal(c, base.get(c.path), named, ctx) ?? runEnderRefusal(c, base.get(c.path)) ?? (c.action === 'UPDATE' ? testFileRefusal(c, base.get(c.path), ctx.maxShrink) : null);
    if (refusal) return refusal;
  }
  return null;
}

function configRefusal(c: Change, old: string | undefined, named: Named, ctx: TestGuardContext): string | null {
  const canon = canonicalPath(c.path);
  const verb = c.action === 'ADD' ? 'adds' : 'changes';
  const dirs = [...DEPENDENCY_DIRS, ...ctx.cacheDirs.map((d) => canonicalPath(d.replace(/^\.\/|\/$/g, '')))];
  const segs = canon.split('/');
  const dep = dirs.find((d) => segs.slice(0, -1).includes(d) || (d.includes('/') && (canon.startsWith(`${d}/`) || canon.includes(`/${d}/`))));
  if (dep) return `${c.path}: the change ${verb} a file under ${dep}/, where test runs load dependencies from instead of the repository's own code`;
  if (isTestConfig(canon)) return `${c.path}: the change ${verb} test configuration (which tests run and how is not the bot's to decide)`;
  // An existing one: a command naming a file the base lacks fails on every cycle today, so there is no suite there to weaken.
  if (c.action === 'UPDATE' && named.files.has(canon)) return `${c.path}: the change edits a file the configured setup or test commands run`;
  if (c.action !== 'UPDATE' || old === undefined) return null;
  const name = path.basename(canon);
  if (name === 'package.json') return packageJsonRefusal(c.path, old, c.content, named.scripts);
  if (name === 'pyproject.toml' || name === 'setup.cfg') {
    const a = testSections(old);
    const b = testSections(c.content);
    for (const [head, body] of a) if (b.get(head) !== body) return `${c.path}: the change edits or removes the test configuration section ${head}`;
    for (const head of b.keys()) if (!a.has(head)) return `${c.path}: the change adds the test configuration section ${head}`;
  }
  return null;
}

function packageJsonRefusal(p: string, before: string, after: string, scripts: Set<string>): string | null {
  const a = parseObject(before);
  if (!a) return null; // not JSON at base: nothing to compare (the tests will say)
  const b = parseObject(after);
  if (!b) return `${p}: the change leaves package.json unparseable`;
  const sa = (a.scripts ?? {}) as Record<string, unknown>;
  const sb = (b.scripts ?? {}) as Record<string, unknown>;
  const guardedScripts = new Set([...LIFECYCLE, ...scripts].flatMap((s) => [s, `pre${s}`, `post${s}`]));
  for (const k of new Set([...Object.keys(sa), ...Object.keys(sb)])) {
    if ((guardedScripts.has(k) || /^test[:-]/.test(k)) && JSON.stringify(sa[k]) !== JSON.stringify(sb[k])) {
      return `${p}: the change edits the "${k}" script, which the setup or test commands run`;
    }
  }
  // Tools the guarded scripts call read their options from a key of the same name (`"ava": {…}`).
  const tools = new Set([...RUNNER_KEYS, ...[...guardedScripts].flatMap((k) => String(sa[k] ?? '').split(/[^A-Za-z0-9_-]+/))]);
  for (const k of tools) {
    if (k && JSON.stringify(a[k]) !== JSON.stringify(b[k])) return `${p}: the change edits the "${k}" key, configuration of a tool the tests run`;
  }
  for (const k of RESOLUTION_KEYS) {
    const gone = lostLeaves(a[k], b[k], k);
    if (gone) return `${p}: the change repoints "${gone}", which decides which file the tests import (entries may be added, not changed)`;
  }
  return null;
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

function testSections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let head: string | null = null;
  for (const line of text.split('\n')) {
    if (/^\s*\[/.test(line)) head = TEST_SECTION.test(line.trim()) ? line.trim() : null;
    if (head !== null) out.set(head, (out.get(head) ?? '') + line.trimEnd() + '\n');
  }
  return out;
}

interface Named {
  /** Canonical repository paths the commands name (scripts, Makefiles, tox.ini …). */
  files: Set<string>;
  /** package.json scripts the commands run (`npm test` → test, `pnpm run check` → check). */
  scripts: Set<string>;
}

const RUNS_MAKEFILE: Record<string, string[]> = {
  make: ['makefile', 'gnumakefile'],
  gmake: ['makefile', 'gnumakefile'],
  just: ['justfile', '.justfile'],
  task: ['taskfile.yml', 'taskfile.yaml'],
  tox: ['tox.ini'],
  nox: ['noxfile.py'],
  rake: ['rakefile'],
};

function namedByCommands(commands: string[][]): Named {
  const files = new Set<string>();
  const scripts = new Set<string>();
  for (const argv of commands) {
    const [cmd = '', ...args] = argv;
    const prog = path.basename(cmd);
    for (const f of RUNS_MAKEFILE[prog] ?? []) files.add(f);
    if (['npm', 'pnpm', 'yarn', 'bun'].includes(prog)) {
      const words = args.filter((a) => !a.startsWith('-'));
      if (words[0] === 'test' || words[0] === 't') scripts.add('test');
      else if ((words[0] === 'run' || words[0] === 'run-script') && words[1]) scripts.add(words[1]);
      else if (prog !== 'npm' && words[0] && !['install', 'i', 'ci', 'add', 'exec', 'dlx', 'x'].includes(words[0])) scripts.add(words[0]);
    }
    // A relative path the command runs or reads (`sh scripts/test.sh`, `node test/run.js`).
    for (const a of [cmd, ...args]) {
      if (a.startsWith('-') || a.startsWith('/') || a.endsWith('/') || /\s/.test(a) || !/[/.]/.test(a) || a.includes('..')) continue;
      const p = path.normalize(a.replace(/^\.\//, ''));
      if (/\.[A-Za-z0-9]+$/.test(p) || p.includes('/')) files.add(canonicalPath(p));
    }
  }
  return { files, scripts };
}

/** Markers that stop a test from running or from failing (counted per file; more of them is a refusal). */
const DISABLERS: { re: RegExp; what: string }[] = [
  { re: /\b(?:it|test|describe|context|suite|specify|bench)(?:\s*\.\s*\w+)*?\s*\.\s*(?:skip|todo|only|skipIf|runIf|fails|failing)\b/g, what: 'a skip/todo/only marker' },
  { re: /\b(?:xit|xtest|xdescribe|xcontext|xspecify|xsuite|fit|fdescribe|fcontext)\s*\(/g, what: 'a skip/focus function (xit, xdescribe, fit …)' },
  { re: /@pytest\.mark\.(?:skip|skipif|xfail)\b|\bpytest\.(?:skip|xfail|importorskip|exit)\s*\(|@(?:unittest\.)?(?:skip|skipIf|skipUnless|expectedFailure)\b|\bself\.skipTest\s*\(|__test__\s*=\s*False/g, what: 'a pytest/unittest skip' },
  { re: /\bt\.(?:skip|todo|Skip|SkipNow|Skipf)\s*\(|#\[ignore\b|@(?:Disabled|Ignore)\b|\b(?:skip|todo|only)\s*:\s*(?!false\b)[^,}\s]/g, what: 'a skip option or attribute' },
];
const EXITS: { re: RegExp; what: string }[] = [
  { re: /\breturn\s*(?:;|$|\}|None\b)/gm, what: 'a bare return' },
  { re: /\b(?:process\.(?:exit|kill|abort)|sys\.exit|os\._exit|os\.Exit|Deno\.exit|pytest\.exit|runtime\.Goexit)\s*\(|\bprocess\.exitCode\s*=/g, what: 'a process exit' },
  { re: /\bif\s*\(?\s*(?:false|0|False|None|null|undefined)\s*\)?\s*[:{]|\bif\s*\(\s*(?:false|0|null|undefined)\s*\)|\bwhile\s*\(\s*false\s*\)/g, what: 'a dead if (false) branch' },
];
const TAUTOLOGIES = [
  /\b(?:assert(?:\.ok)?|expect|t\.(?:true|truthy|assert)|assertTrue|self\.assertTrue)\s*\(\s*(?:true|True|1|!0|!!1|"[^"]*"|'[^']*')\s*[,)]/g,
  /^\s*assert\s+(?:True|1|"[^"]*"|'[^']*')\s*(?:,|$)/gm,
  /\bt\.pass\s*\(/g,
  /\bassert\.\w*[eE]qual\s*\(\s*([^,()]+?)\s*,\s*\1\s*[,)]/g,
  /\bexpect\(\s*([^()]+?)\s*\)\s*\.\s*(?:toBe|toEqual|toStrictEqual)\s*\(\s*\1\s*\)/g,
  /\bt\.(?:is|deepEqual)\s*\(\s*([^,()]+?)\s*,\s*\1\s*[,)]/g,
  /^\s*assert\s+([^=\n]+?)\s*==\s*\1\s*$/gm,
];
const ASSERTION = /\b(?:assert\w*|expect\w*|should|assert_\w*!|must\w*)\s*[.(!]|\bassert\s+\S|\bt\.(?:is|not|true|false|truthy|falsy|deepEqual|notDeepEqual|like|throws|throwsAsync|notThrows|notThrowsAsync|regex|notRegex|snapshot|fail|equal|same|ok|match)\s*\(|\bt\.(?:Error|Errorf|Fatal|Fatalf|Fail|FailNow)\s*\(|\bself\.assert\w+\s*\(|\bpytest\.raises\s*\(/g;

/**
 * Code that ends or rigs the whole test run from wherever it is loaded: a module-level exit with
 * success (`process.exit(0)` in a module the tests import ends their process green before a test
 * runs; `os._exit(0)` in one test module ends all of pytest green), and, in test files, patches
 * of the module system or the process that let one file swap what the others import.
 */
const TOP_LEVEL_EXIT = /^(?:process\.exit|process\.reallyExit|Deno\.exit|os\._exit|sys\.exit|exit|quit|pytest\.exit)\s*\(\s*(?:0|None|True|['"][^'"]*['"])?\s*\)|^process\.exitCode\s*=\s*0\b/gm;
const RUN_PATCHES = /\bsys\.modules\s*\[|\bsys\.meta_path\b|\bsys\.path_hooks\b|\bbuiltins\.\w+\s*=|__builtins__|\brequire\.cache\b|\bModule\._(?:load|resolveFilename|extensions)\b|\bprocess\.exit\s*=|\bprocess\.on\s*\(\s*['"](?:exit|beforeExit|uncaughtException|unhandledRejection)['"]|\bos\._exit\s*\(|\batexit\.register\s*\(/g;

function runEnderRefusal(c: Change, old: string | undefined): string | null {
  if (!/\.(?:[cm]?[jt]sx?|py)$/i.test(c.path)) return null;
  const a = old === undefined ? '' : withoutComments(old, c.path);
  const b = withoutComments(c.content, c.path);
  if (count(b, TOP_LEVEL_EXIT) > count(a, TOP_LEVEL_EXIT)) return `${c.path}: the change adds a module-level exit, which ends a test run that loads it before its tests run`;
  if (isTestFile(c.path) && count(b, RUN_PATCHES) > count(a, RUN_PATCHES)) return `${c.path}: the change makes a test file patch the module system or the process (sys.modules, require.cache, process.exit …), which can change what other tests import or how the run ends`;
  return null;
}

/** Module specifiers a file imports (JS/TS imports and requires, Python imports). */
function importsOf(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/\b(?:from|import)\s*\(?\s*['"]([^'"\n]+)['"]|\brequire\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g)) out.add((m[1] ?? m[2])!);
  for (const m of text.matchAll(/^\s*(?:from\s+([\w.]+)\s+import\b|import\s+([\w.]+))/gm)) out.add((m[1] ?? m[2])!);
  return out;
}

function count(text: string, re: RegExp): number {
  return text.match(re)?.length ?? 0;
}

/** The text without comments (`//`, `/* *\/`, `#` at the start of a line), so a commented-out test or assertion no longer counts. */
export function withoutComments(text: string, p: string): string {
  const hashComments = /\.(py|pyi|rb|sh|toml|ya?ml|cfg|ini)$/i.test(p);
  // `//` is floor division in Python: C-style comments only where they are comments.
  let t = hashComments ? text : text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[\s;{}(),])\/\/.*$/gm, '$1');
  if (hashComments) t = t.replace(/^\s*#.*$/gm, '').replace(/^\s*(?:"""[\s\S]*?"""|'''[\s\S]*?''')\s*$/gm, '');
  return t;
}

function testFileRefusal(c: Change, old: string | undefined, maxShrink: number): string | null {
  if (old === undefined) return null;
  const a = withoutComments(old, c.path);
  const b = withoutComments(c.content, c.path);
  const casesBefore = countTestCases(a);
  if (!isTestFile(c.path) && casesBefore === 0) return null;
  const p = c.path;
  const casesAfter = countTestCases(b);
  if (casesAfter < casesBefore) return `${p}: the change removes ${casesBefore - casesAfter} test case(s) (${casesBefore} → ${casesAfter}); the bot may add tests, never remove them`;
  for (const d of [...DISABLERS, ...EXITS]) {
    const before = count(a, d.re);
    const after = count(b, d.re);
    if (after > before) return `${p}: the change adds ${d.what} to a test file (${before} → ${after}), which stops tests from running or failing`;
  }
  const tautBefore = TAUTOLOGIES.reduce((n, re) => n + count(a, re), 0);
  const tautAfter = TAUTOLOGIES.reduce((n, re) => n + count(b, re), 0);
  if (tautAfter > tautBefore) return `${p}: the change adds an assertion that cannot fail (${tautBefore} → ${tautAfter}, e.g. assert(true) or expect(x).toBe(x))`;
  const assertsBefore = count(a, ASSERTION);
  const assertsAfter = count(b, ASSERTION);
  if (assertsAfter < assertsBefore) return `${p}: the change removes ${assertsBefore - assertsAfter} assertion(s) (${assertsBefore} → ${assertsAfter}); the bot may add checks, never remove them`;
  const importsAfter = importsOf(b);
  const lost = [...importsOf(a)].filter((m) => !importsAfter.has(m));
  if (lost.length) return `${p}: the change stops importing ${lost.map((m) => JSON.stringify(m)).join(', ')}, so the tests would no longer check that module`;
  const total = countLines(old);
  if (c.lines && total > 0 && c.lines.removed > maxShrink * total) {
    return `${p}: the change removes ${c.lines.removed} of the test file's ${total} lines (+${c.lines.added} −${c.lines.removed}); guardrails.maxShrink allows ${Math.round(maxShrink * 100)} % for test files whatever the gap says`;
  }
  return null;
}

/**
 * A whole-content UPDATE that stops partway through the base file: the base's last lines are gone
 * and nothing follows where the answer stops, as when a model's output limit cut the file off. An
 * intended removal at the end of a file is expressed as an edit, which names what it removes.
 * Decided from the whole answer aligned against the base (a line diff), never from one line: an
 * answer that keeps the base's end and appends after it, or replaces the end with lines of its
 * own, is not cut off, whatever its last line happens to match earlier in the file.
 */
export function truncationRefusal(changes: Change[], base: Map<string, string>, wholeContent: Set<string>): string | null {
  for (const c of changes) {
    if (c.action !== 'UPDATE' || !wholeContent.has(c.path)) continue;
    const old = base.get(c.path);
    if (old === undefined) continue;
    const oldLines = old.replace(/\n$/, '').split('\n');
    const newLines = c.content.replace(/\n$/, '').split('\n');
    const cut = cutOffAt(oldLines, newLines);
    if (!cut) continue;
    const gone = oldLines.length - 1 - cut.at;
    if (gone >= 3) {
      return `${c.path}: the answer's whole content stops at line ${cut.at + 1} of ${oldLines.length}${cut.mid ? ' (mid-line)' : ''} and the remaining ${gone} lines are gone, as when an answer is cut off by the model's output limit; remove lines with edits instead`;
    }
  }
  return null;
}

/** A line of closing brackets and punctuation only (or blank): no identity of its own. */
const closingOnly = (l: string) => /^[\s)}\];,>]*$/.test(l);

/** Edit distance (lines) beyond which the aligning diff gives up for the cheaper in-order match. */
const MAX_ALIGN_EDITS = 500;

/**
 * Where the answer stops in the base (0-based base line), or null when something of the answer's
 * own follows its last base-aligned line (an append or a new ending). `mid`: the answer's last line
 * is the start of the base line after that point (cut mid-line).
 */
function cutOffAt(oldLines: string[], newLines: string[]): { at: number; mid: boolean } | null {
  // The base beyond the answer's length plus slack cannot align with anything: leave it out of the diff.
  const window = oldLines.slice(0, newLines.length + MAX_ALIGN_EDITS);
  const parts = diffArrays(window, newLines, { maxEditLength: MAX_ALIGN_EDITS });
  let at = -1;
  let tail: string[] = [];
  if (parts) {
    let o = 0;
    for (const p of parts) {
      if (p.added) tail.push(...p.value);
      else if (p.removed) o += p.value.length;
      else if (tail.some((l) => l.trim() !== '') && p.value.every(closingOnly)) {
        // A closer (`});`) after lines of the answer's own closes those lines; that the base has
        // the same closer somewhere says nothing about where the answer stops.
        tail.push(...p.value);
        o += p.value.length;
      } else {
        o += p.value.length;
        at = o - 1;
        tail = [];
      }
    }
  } else {
    // Too different for the diff's bound: match answer lines in order to their next base occurrence.
    let o = 0;
    for (const l of newLines) {
      const i = oldLines.indexOf(l, o);
      if (i === -1) tail.push(l);
      else {
        at = i;
        o = i + 1;
        tail = [];
      }
    }
  }
  if (at === -1) return null;
  const own = tail.filter((l) => l.trim() !== '');
  if (own.length === 0) return { at, mid: false };
  const next = oldLines[at + 1];
  if (own.length === 1 && tail.at(-1) === own[0] && next !== undefined && next !== own[0] && next.startsWith(own[0]!)) return { at: at + 1, mid: true };
  return null;
}

/** Extensions a module name resolves to (node, TypeScript, Python): a file beside one of these with the same stem can take its place. */
const MODULE_EXT = /\.(?:[cm]?[jt]sx?|json|node|py)$/i;

function stem(name: string): string {
  return name.replace(MODULE_EXT, '');
}

/**
 * Why an ADD would take the place of an existing file, or null: a name that differs from an
 * existing one only in case or in a spelling one file system folds (on macOS and Windows they are
 * one file; on Linux two, and which one a test loads depends on the machine), or a module beside an
 * existing module of the same name (`src/strings.ts` or `src/strings/index.js` beside
 * `src/strings.js`, `pkg/slug/__init__.py` beside `pkg/slug.py`), which resolution may prefer to
 * the file the tests import. `entries` are the base tree's entries of the listed directories.
 */
export function shadowRefusal(changes: Change[], entries: string[]): string | null {
  const byCanon = new Map<string, string>();
  for (const e of entries) byCanon.set(canonicalPath(e), e);
  const exact = new Set(entries);
  for (const c of changes) {
    if (c.action !== 'ADD') continue;
    const segs = c.path.split('/');
    for (let k = 1; k <= segs.length; k++) {
      const prefix = segs.slice(0, k).join('/');
      if (exact.has(prefix)) continue;
      const twin = byCanon.get(canonicalPath(prefix));
      if (twin) return `${c.path}: the change adds ${prefix}, which is the existing ${twin} in another case or spelling (one file on macOS and Windows, two on Linux)`;
      // The first new segment: a file or directory beside an existing module of the same stem.
      const dir = segs.slice(0, k - 1).join('/');
      const name = canonicalPath(segs[k - 1]!);
      // A new directory shadows only through the file that makes it a package (index.js, __init__.py).
      const isDir = k === segs.length - 1 && /^(?:index\.[cm]?[jt]sx?|__init__\.py|package\.json)$/i.test(segs[k]!);
      if (isDir || (k === segs.length && MODULE_EXT.test(name))) {
        const s = stem(name);
        const sibling = entries.find((e) => e !== prefix && path.dirname(e) === (dir || '.') && MODULE_EXT.test(e) && stem(canonicalPath(path.basename(e))) === s);
        if (sibling) return `${c.path}: the change adds ${prefix} beside the existing module ${sibling}; an import of that module could resolve to the new ${isDir ? 'package' : 'file'} instead`;
      }
      break;
    }
  }
  return null;
}

/** The directories whose entries `shadowRefusal` needs: the root and every existing ancestor of an ADD. */
export function shadowDirs(changes: Change[]): string[] {
  if (!changes.some((c) => c.action === 'ADD')) return []; // no ADD, nothing to list (no git call)
  const dirs = new Set<string>(['']);
  for (const c of changes) {
    if (c.action !== 'ADD') continue;
    const segs = c.path.split('/');
    for (let k = 1; k < segs.length; k++) dirs.add(segs.slice(0, k).join('/'));
  }
  return [...dirs];
}
