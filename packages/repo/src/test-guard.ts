import path from 'node:path/posix';
import { diffArrays } from 'diff';
import { countLines, type Change } from '@prbot/core';
import { isTestFile } from './context/related.ts';
import { canonicalPath } from './guardrails.ts';
import { countTestCases } from './shrink.ts';
import { selectionRefusal } from './test-selection.ts';
import { commandSurface, type TestSurface } from './test-surface.ts';

/**
 * The test guard: the bot never weakens the suite that judges it. A green run only means something
 * if the tests that ran are the tests the repository had, so an outside check once got a green PR
 * that replaced a library's test file with a much smaller one. Tamper variants are many (truncate,
 * `it.skip`, `xit`, `.only`, `@pytest.mark.skip`, `return` at the top, a no-op assertion, a
 * `conftest.py` that drops every item, `"test": "true"`, a stub module that shadows the real one),
 * so the guard is a policy over what a change may do to the *test surface*, not a list of examples:
 *
 * 1. Test configuration is not the bot's to write: what decides which tests run and how, per
 *    ecosystem, is one table (test-selection.ts, TEST_SELECTION_RULES), ADD or UPDATE alike; and
 *    every file and package.json script the configured commands reach (test-surface.ts).
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
  /** What the commands reach in the base tree (`testSurface`); their own words alone when absent. */
  surface?: TestSurface;
}

/** Directories test runs import from rather than from the tree: never written by the bot. */
const DEPENDENCY_DIRS = [
  'node_modules',
  'bower_components',
  'jspm_packages',
  '.venv',
  'venv',
  'site-packages',
  '__pycache__',
  '.tox',
  '.nox',
  '.pnp',
];

/** Why the change set weakens the test surface, or null. */
export function testGuardRefusal(changes: Change[], base: Map<string, string>, ctx: TestGuardContext): string | null {
  const surface = ctx.surface ?? commandSurface(ctx.commands);
  for (const c of changes) {
    if (c.action === 'NOOP') continue;
    const refusal =
      configRefusal(c, base.get(c.path), surface, ctx) ??
      runEnderRefusal(c, base.get(c.path)) ??
      (c.action === 'UPDATE' ? testFileRefusal(c, base.get(c.path), ctx.maxShrink) : null);
    if (refusal) return refusal;
  }
  return null;
}

function configRefusal(c: Change, old: string | undefined, surface: TestSurface, ctx: TestGuardContext): string | null {
  const canon = canonicalPath(c.path);
  const verb = c.action === 'ADD' ? 'adds' : 'changes';
  const dirs = [...DEPENDENCY_DIRS, ...ctx.cacheDirs.map((d) => canonicalPath(d.replace(/^\.\/|\/$/g, '')))];
  const segs = canon.split('/');
  const dep = dirs.find(
    (d) =>
      segs.slice(0, -1).includes(d) || (d.includes('/') && (canon.startsWith(`${d}/`) || canon.includes(`/${d}/`))),
  );
  if (dep)
    return `${c.path}: the change ${verb} a file under ${dep}/, where test runs load dependencies from instead of the repository's own code`;
  const selection = selectionRefusal(c.path, canon, c.action === 'ADD' ? undefined : old, c.content, surface);
  if (selection) return selection;
  // An existing one: a command naming a file the base lacks fails on every cycle today, so there is no suite there to weaken.
  // A test file the commands name (`node --test test/a.test.js`) may grow like any test file (rule 2 judges it).
  const isTests = isTestFile(c.path) || (old !== undefined && countTestCases(withoutComments(old, c.path)) > 0);
  if (c.action === 'UPDATE' && surface.files.has(canon) && !isTests)
    return `${c.path}: the change edits a file the configured setup or test commands run (rule any.command-files)`;
  return null;
}

/** Markers that stop a test from running or from failing (counted per file; more of them is a refusal). */
const DISABLERS: { re: RegExp; what: string }[] = [
  {
    re: /\b(?:it|test|describe|context|suite|specify|bench)(?:\s*\.\s*\w+)*?\s*\.\s*(?:skip|todo|only|skipIf|runIf|fails|failing)\b/g,
    what: 'a skip/todo/only marker',
  },
  {
    re: /\b(?:xit|xtest|xdescribe|xcontext|xspecify|xsuite|fit|fdescribe|fcontext)\s*\(/g,
    what: 'a skip/focus function (xit, xdescribe, fit …)',
  },
  {
    re: /@pytest\.mark\.(?:skip|skipif|xfail)\b|\bpytest\.(?:skip|xfail|importorskip|exit)\s*\(|@(?:unittest\.)?(?:skip|skipIf|skipUnless|expectedFailure)\b|\bself\.skipTest\s*\(|__test__\s*=\s*False/g,
    what: 'a pytest/unittest skip',
  },
  {
    re: /\bt\.(?:skip|todo|Skip|SkipNow|Skipf)\s*\(|#\[ignore\b|@(?:Disabled|Ignore)\b|\b(?:skip|todo|only)\s*:\s*(?!false\b)[^,}\s]/g,
    what: 'a skip option or attribute',
  },
];
const EXITS: { re: RegExp; what: string }[] = [
  { re: /\breturn\s*(?:;|$|\}|None\b)/gm, what: 'a bare return' },
  {
    re: /\b(?:process\.(?:exit|kill|abort)|sys\.exit|os\._exit|os\.Exit|Deno\.exit|pytest\.exit|runtime\.Goexit)\s*\(|\bprocess\.exitCode\s*=/g,
    what: 'a process exit',
  },
  {
    re: /\bif\s*\(?\s*(?:false|0|False|None|null|undefined)\s*\)?\s*[:{]|\bif\s*\(\s*(?:false|0|null|undefined)\s*\)|\bwhile\s*\(\s*false\s*\)/g,
    what: 'a dead if (false) branch',
  },
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
const ASSERTION =
  /\b(?:assert\w*|expect\w*|should|assert_\w*!|must\w*)\s*[.(!]|\bassert\s+\S|\bt\.(?:is|not|true|false|truthy|falsy|deepEqual|notDeepEqual|like|throws|throwsAsync|notThrows|notThrowsAsync|regex|notRegex|snapshot|fail|equal|same|ok|match)\s*\(|\bt\.(?:Error|Errorf|Fatal|Fatalf|Fail|FailNow)\s*\(|\bself\.assert\w+\s*\(|\bpytest\.raises\s*\(/g;

/**
 * Code that ends or rigs the whole test run from wherever it is loaded: a module-level exit with
 * success (`process.exit(0)` in a module the tests import ends their process green before a test
 * runs; `os._exit(0)` in one test module ends all of pytest green), and, in test files, patches
 * of the module system or the process that let one file swap what the others import.
 */
const TOP_LEVEL_EXIT =
  /^(?:process\.exit|process\.reallyExit|Deno\.exit|os\._exit|sys\.exit|exit|quit|pytest\.exit)\s*\(\s*(?:0|None|True|['"][^'"]*['"])?\s*\)|^process\.exitCode\s*=\s*0\b/gm;
const RUN_PATCHES =
  /\bsys\.modules\s*\[|\bsys\.meta_path\b|\bsys\.path_hooks\b|\bbuiltins\.\w+\s*=|__builtins__|\brequire\.cache\b|\bModule\._(?:load|resolveFilename|extensions)\b|\bprocess\.exit\s*=|\bprocess\.on\s*\(\s*['"](?:exit|beforeExit|uncaughtException|unhandledRejection)['"]|\bos\._exit\s*\(|\batexit\.register\s*\(/g;

function runEnderRefusal(c: Change, old: string | undefined): string | null {
  if (!/\.(?:[cm]?[jt]sx?|py)$/i.test(c.path)) return null;
  const a = old === undefined ? '' : withoutComments(old, c.path);
  const b = withoutComments(c.content, c.path);
  if (count(b, TOP_LEVEL_EXIT) > count(a, TOP_LEVEL_EXIT))
    return `${c.path}: the change adds a module-level exit, which ends a test run that loads it before its tests run`;
  if (isTestFile(c.path) && count(b, RUN_PATCHES) > count(a, RUN_PATCHES))
    return `${c.path}: the change makes a test file patch the module system or the process (sys.modules, require.cache, process.exit …), which can change what other tests import or how the run ends`;
  return null;
}

/** Module specifiers a file imports (JS/TS imports and requires, Python imports). */
function importsOf(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(
    /\b(?:from|import)\s*\(?\s*['"]([^'"\n]+)['"]|\brequire\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g,
  ))
    out.add((m[1] ?? m[2])!);
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
  if (casesAfter < casesBefore)
    return `${p}: the change removes ${casesBefore - casesAfter} test case(s) (${casesBefore} → ${casesAfter}); the bot may add tests, never remove them`;
  for (const d of [...DISABLERS, ...EXITS]) {
    const before = count(a, d.re);
    const after = count(b, d.re);
    if (after > before)
      return `${p}: the change adds ${d.what} to a test file (${before} → ${after}), which stops tests from running or failing`;
  }
  const tautBefore = TAUTOLOGIES.reduce((n, re) => n + count(a, re), 0);
  const tautAfter = TAUTOLOGIES.reduce((n, re) => n + count(b, re), 0);
  if (tautAfter > tautBefore)
    return `${p}: the change adds an assertion that cannot fail (${tautBefore} → ${tautAfter}, e.g. assert(true) or expect(x).toBe(x))`;
  const assertsBefore = count(a, ASSERTION);
  const assertsAfter = count(b, ASSERTION);
  if (assertsAfter < assertsBefore)
    return `${p}: the change removes ${assertsBefore - assertsAfter} assertion(s) (${assertsBefore} → ${assertsAfter}); the bot may add checks, never remove them`;
  const importsAfter = importsOf(b);
  const lost = [...importsOf(a)].filter((m) => !importsAfter.has(m));
  if (lost.length)
    return `${p}: the change stops importing ${lost.map((m) => JSON.stringify(m)).join(', ')}, so the tests would no longer check that module`;
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
export function truncationRefusal(
  changes: Change[],
  base: Map<string, string>,
  wholeContent: Set<string>,
): string | null {
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
  if (own.length === 1 && tail.at(-1) === own[0] && next !== undefined && next !== own[0] && next.startsWith(own[0]!))
    return { at: at + 1, mid: true };
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
      if (twin)
        return `${c.path}: the change adds ${prefix}, which is the existing ${twin} in another case or spelling (one file on macOS and Windows, two on Linux)`;
      // The first new segment: a file or directory beside an existing module of the same stem.
      const dir = segs.slice(0, k - 1).join('/');
      const name = canonicalPath(segs[k - 1]!);
      // A new directory shadows only through the file that makes it a package (index.js, __init__.py).
      const isDir = k === segs.length - 1 && /^(?:index\.[cm]?[jt]sx?|__init__\.py|package\.json)$/i.test(segs[k]!);
      // Any new file: `strings` without an extension is what require('./strings') and vite load first.
      if (isDir || k === segs.length) {
        const s = stem(name);
        const sibling = entries.find(
          (e) =>
            e !== prefix &&
            path.dirname(e) === (dir || '.') &&
            MODULE_EXT.test(e) &&
            stem(canonicalPath(path.basename(e))) === s,
        );
        if (sibling)
          return `${c.path}: the change adds ${prefix} beside the existing module ${sibling}; an import of that module could resolve to the new ${isDir ? 'package' : 'file'} instead`;
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
