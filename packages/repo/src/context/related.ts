import path from 'node:path/posix';

// Hoisted: a regular expression literal is a new object each time it is evaluated, and this runs
// for every path of the tree in every build.
const TEST_FILE = [
  /(^|\/)(__tests__|tests?|spec)\//,
  /\.(test|spec)\.[^./]+$/,
  /(^|\/)test_[^/]+\.py$/,
  /_test\.(go|py)$/,
  /(^|\/)test\.[cm]?[jt]sx?$/,
  /(^|\/)test-d\.ts$|\.test-d\.ts$/,
];

/** Test files by the common conventions: test.js, *.test.*, *.spec.*, __tests__/, tests/, test_*.py, *_test.go. */
export function isTestFile(p: string): boolean {
  return TEST_FILE.some((re) => re.test(p));
}

/** `src/strings.test.js` → `strings`; `tests/test_slug.py` → `slug`; `slug_test.go` → `slug`. */
export function stemOf(p: string): string {
  let b = path.basename(p);
  b = b.replace(/\.[^.]+$/, '').replace(/\.d$/, '');
  b = b
    .replace(/\.(test|spec|test-d)$/, '')
    .replace(/^test_/, '')
    .replace(/_test$/, '');
  return b;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Files the gap names: by path, or by file name as a word (`strings.js`). Bare stems (`strings`)
 * are not enough: a gap saying "add a test" must not pull in every file called test.
 */
export function namedFiles(gapText: string, paths: readonly string[], max: number): string[] {
  const text = gapText.toLowerCase();
  const byPath = paths.filter((p) => text.includes(p.toLowerCase()));
  const byName = paths.filter((p) => {
    const b = path.basename(p).toLowerCase();
    // The substring test first: a RegExp per path of a 2,000-file tree was most of what a
    // propose job allocated (docs/OPERATIONS.md, memory); the RegExp only confirms word edges.
    return (
      b.includes('.') &&
      text.includes(b) &&
      !byPath.includes(p) &&
      new RegExp(`(^|[^\\w./-])${escapeRe(b)}($|[^\\w/-])`).test(text)
    );
  });
  return [...byPath, ...byName].slice(0, max);
}

/** Identifiers the gap writes as code (`truncate(text, max)` → truncate). */
export function gapIdentifiers(gapText: string): string[] {
  const out = new Set<string>();
  for (const m of gapText.matchAll(/`([^`]+)`/g)) {
    const id = /[A-Za-z_$][\w$]*/.exec(m[1]!)?.[0];
    if (id && id.length > 1) out.add(id);
  }
  return [...out];
}

const JS_IMPORT =
  /(?:^|[;\s])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[;\s])import\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g;
const PY_IMPORT = /^\s*from\s+(\.+[\w.]*|[\w.]+)\s+import\s+([\w, ]+)|^\s*import\s+([\w.]+)/gm;
const RS_MOD = /^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z_]\w*)\s*;/gm;

const JS_EXTS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.mjs', '.cjs', '.jsx', '.d.ts'];

/** The repository files `file` imports, resolved against the tree (packages and unresolved specifiers dropped). */
export function importsOf(file: string, text: string, has: (p: string) => boolean): string[] {
  const out = new Set<string>();
  const dir = path.dirname(file);
  const ext = file.slice(file.lastIndexOf('.') + 1);
  if (/^[cm]?[jt]sx?$/.test(ext)) {
    for (const m of text.matchAll(JS_IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? m[4];
      if (!spec || !spec.startsWith('.')) continue;
      const r = resolveJs(path.join(dir, spec), has);
      if (r) out.add(r);
    }
  } else if (ext === 'py') {
    for (const m of text.matchAll(PY_IMPORT)) {
      const mod = m[1] ?? m[3]!;
      const names = (m[2] ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const r of resolvePy(dir, mod, names, has)) out.add(r);
    }
  } else if (ext === 'rs') {
    for (const m of text.matchAll(RS_MOD)) {
      const base =
        path.basename(file) === 'lib.rs' || path.basename(file) === 'main.rs' || path.basename(file) === 'mod.rs'
          ? dir
          : path.join(dir, path.basename(file, '.rs'));
      for (const c of [path.join(base, `${m[1]}.rs`), path.join(base, m[1]!, 'mod.rs')]) if (has(c)) out.add(c);
    }
  }
  out.delete(file);
  return [...out];
}

function resolveJs(p: string, has: (p: string) => boolean): string | null {
  if (has(p)) return p;
  // TypeScript ESM imports name the emitted `.js`; the source is `.ts`.
  const noExt = p.replace(/\.[cm]?js$/, '');
  for (const e of JS_EXTS) if (has(noExt + e)) return noExt + e;
  for (const e of JS_EXTS) if (has(`${p}/index${e}`)) return `${p}/index${e}`;
  return null;
}

function resolvePy(dir: string, mod: string, names: string[], has: (p: string) => boolean): string[] {
  const dots = /^\.*/.exec(mod)![0].length;
  const rest = mod.slice(dots).split('.').filter(Boolean);
  const roots = dots > 0 ? [path.join(dir, ...Array(dots - 1).fill('..'))] : ['.', 'src', 'lib'];
  const out: string[] = [];
  for (const root of roots) {
    const base = path.join(root, ...rest);
    for (const c of [`${base}.py`, path.join(base, '__init__.py'), ...names.map((n) => path.join(base, `${n}.py`))]) {
      const norm = path.normalize(c);
      if (!norm.startsWith('..') && has(norm)) out.push(norm);
    }
  }
  return out;
}

/** The tests of a source file: test files whose stem is the file's stem, else test files beside it. */
export function testsOf(file: string, testFiles: readonly string[]): string[] {
  if (isTestFile(file)) return [];
  const stem = stemOf(file);
  const byStem = testFiles.filter((t) => stemOf(t) === stem);
  if (byStem.length) return byStem;
  // `index.js` beside `test.js` (a small npm library's layout): tests of its language in its own folder.
  const dir = path.dirname(file);
  return testFiles.filter((t) => path.dirname(t) === dir && family(t) === family(file));
}

/** Files of one language family test each other (a Go test is not the test of index.js). */
function family(p: string): string {
  const ext = p.slice(p.lastIndexOf('.') + 1).toLowerCase();
  return /^[cm]?[jt]sx?$/.test(ext) ? 'js' : ext;
}
