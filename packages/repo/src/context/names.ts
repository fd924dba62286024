import { extOf } from './symbols.ts';

/**
 * What a gap names in code: `FIFOCache.popitem()`, `cachetools.func.ttl_cache`, `Type::method`,
 * `src/x.py:120`, or a plain `identifier` in backticks. Only the leading dotted name of a
 * backticked span counts (`truncate(text, max)` names truncate, not text); outside backticks,
 * only dotted names with a call or a capital (`FIFOCache.popitem`, `os.path.join()`) and
 * `path:line`, so "e.g." or "README.md" are not names.
 */
export interface GapName {
  /** As the gap writes it, without call parentheses: "FIFOCache.popitem". */
  text: string;
  /** The last part: the symbol whose definition is wanted. */
  name: string;
  /** What qualifies it (class, struct, module, package), innermost last; empty for a plain name. */
  qualifiers: string[];
  /** For `path:line`. */
  path?: string;
  line?: number;
}

/** A definition found for a name: where it starts and where its body ends (1-based, inclusive). */
export interface NameHit {
  name: GapName;
  path: string;
  from: number;
  to: number;
  /** Inside its qualifier (the class, impl, receiver or module the gap names); false: a same-named definition elsewhere. */
  scoped: boolean;
}

const ID = '[A-Za-z_$][\\w$]*';
const DOTTED = new RegExp(`^${ID}(?:(?:\\.|::)${ID})*`);
const PATH_LINE = /(?:^|[\s`'"(])((?:[\w.-]+\/)*[\w.-]+\.[A-Za-z0-9]+):(\d+)\b/g;
const BARE_DOTTED = new RegExp(`(?:^|[\\s(])(${ID}(?:(?:\\.|::)${ID})+)(\\(\\))?`, 'g');
const FILE_EXT =
  /^(md|txt|js|mjs|cjs|ts|tsx|jsx|py|go|rs|json|toml|yaml|yml|lock|cfg|ini|html|css|sh|c|h|cpp|java|rb)$/i;

export function gapNames(gapText: string): GapName[] {
  const out = new Map<string, GapName>();
  const add = (text: string) => {
    const parts = text.split(/\.|::/).filter(Boolean);
    const name = parts.at(-1)!;
    if (name.length < 2 || (FILE_EXT.test(name) && parts.length > 1)) return;
    if (!out.has(text)) out.set(text, { text, name, qualifiers: parts.slice(0, -1) });
  };
  for (const m of gapText.matchAll(PATH_LINE)) {
    const text = `${m[1]}:${m[2]}`;
    if (!out.has(text))
      out.set(text, { text, name: m[1]!, qualifiers: [], path: m[1]!.replace(/^\.\//, ''), line: Number(m[2]) });
  }
  for (const m of gapText.matchAll(/`([^`]+)`/g)) {
    const span = m[1]!.trim();
    if (/^(?:[\w.-]+\/)*[\w.-]+\.[A-Za-z0-9]+:\d+$/.test(span)) continue; // a path:line, taken above
    const d = DOTTED.exec(span)?.[0];
    if (d) add(d);
  }
  const bare = gapText.replace(/`[^`]*`/g, ' ');
  for (const m of bare.matchAll(BARE_DOTTED)) {
    const text = m[1]!;
    if (m[2] || /[A-Z]/.test(text.split(/\.|::/)[0]!.slice(0, 1))) add(text);
  }
  return [...out.values()];
}

/** The files a name's definition may be in: the words to search the tree for. */
export function searchWords(names: GapName[]): string[] {
  return [...new Set(names.filter((n) => n.path === undefined).map((n) => n.name))];
}

/**
 * Where `n` is defined in `file`: a member of its qualifying class/struct/impl when the file has
 * one, else a definition at any depth (a module's function, a method of any class). Plain
 * line scans per language, as for the map (symbols.ts): definitions, not parse trees.
 */
export function findDefinitions(file: string, text: string, n: GapName): NameHit[] {
  const lang = langOf(file);
  if (!lang) return [];
  const lines = text.split('\n');
  const def = defPattern(lang, n.name);
  const starts: number[] = [];
  lines.forEach((l, i) => {
    if (def.test(l) && !(lang === 'js' && /;\s*$/.test(l))) starts.push(i);
  });
  if (!starts.length) return [];
  const q = n.qualifiers.at(-1);
  const scoped = q ? starts.filter((i) => inScopeOf(lang, lines, i, q) || moduleIs(file, n.qualifiers)) : starts;
  // Unscoped definitions (a `popitem` of another class) count only where no file has a scoped one (the caller picks).
  const chosen = scoped.length ? scoped : starts;
  return chosen
    .slice(0, 3)
    .map((i) => ({ name: n, path: file, from: i + 1, to: bodyEnd(lang, lines, i) + 1, scoped: scoped.length > 0 }));
}

type Lang = 'py' | 'js' | 'go' | 'rs';

function langOf(file: string): Lang | null {
  const e = extOf(file);
  if (e === 'py') return 'py';
  if (/^[cm]?[jt]sx?$/.test(e)) return 'js';
  if (e === 'go') return 'go';
  if (e === 'rs') return 'rs';
  return null;
}

const esc = (s: string) => s.replace(/[$]/g, '\\$');

function defPattern(lang: Lang, name: string): RegExp {
  const n = esc(name);
  switch (lang) {
    case 'py':
      return new RegExp(`^\\s*(?:async\\s+)?(?:def|class)\\s+${n}\\b`);
    case 'go':
      return new RegExp(`^(?:func\\s+(?:\\([^)]*\\)\\s*)?${n}\\s*[(\\[]|type\\s+${n}\\b)`);
    case 'rs':
      return new RegExp(
        `^\\s*(?:pub(?:\\([^)]*\\))?\\s+)?(?:default\\s+)?(?:const\\s+)?(?:async\\s+)?(?:unsafe\\s+)?(?:extern\\s+"[^"]*"\\s+)?(?:fn|struct|enum|trait|type|mod)\\s+${n}\\b`,
      );
    case 'js':
      return new RegExp(
        `^\\s*(?:(?:export|default|declare|public|private|protected|static|async|readonly|override|abstract|get|set|function\\*?|class|interface|type|enum|const|let|var)\\s+)*\\*?#?${n}\\s*(?:<[^>]*>\\s*)?(?:\\(|=\\s*(?:async\\s*)?(?:function\\b|\\(|${'[A-Za-z_$][\\w$]*'}\\s*=>)|:\\s*(?:async\\s*)?(?:function\\b|\\()|\\{|\\bextends\\b|$)`,
      );
  }
}

/** Whether line `i` lies inside the body of class/struct/impl `q` (Go: a method with receiver `q`). */
function inScopeOf(lang: Lang, lines: string[], i: number, q: string): boolean {
  const qn = esc(q);
  if (lang === 'go') return new RegExp(`^func\\s+\\(\\s*\\w*\\s*\\*?${qn}(?:\\[[^\\]]*\\])?\\s*\\)`).test(lines[i]!);
  const head =
    lang === 'py'
      ? new RegExp(`^\\s*class\\s+${qn}\\b`)
      : lang === 'rs'
        ? new RegExp(`^\\s*(?:impl\\b[^{]*\\b${qn}\\b|(?:pub(?:\\([^)]*\\))?\\s+)?trait\\s+${qn}\\b)`)
        : new RegExp(`\\bclass\\s+${qn}\\b`);
  for (let h = i - 1; h >= 0; h--) {
    if (!head.test(lines[h]!)) continue;
    return bodyEnd(lang, lines, h, Number.POSITIVE_INFINITY) >= i;
  }
  return false;
}

/** `cachetools.func.ttl_cache` in cachetools/func.py; `strings.Repeat` in a Go package dir "strings". */
function moduleIs(file: string, qualifiers: string[]): boolean {
  const parts = file.replace(/\.[^./]+$/, '').split('/');
  const last = qualifiers.at(-1)!;
  return (
    parts.at(-1) === last ||
    parts.at(-2) === last ||
    ((parts.at(-1) === '__init__' || parts.at(-1) === 'index' || parts.at(-1) === 'mod' || parts.at(-1) === 'lib') &&
      parts.at(-2) === last)
  );
}

const MAX_BODY = 80;

/** The last line (0-based) of the definition starting at `i`: by indentation (Python) or by braces, at most MAX_BODY lines. */
function bodyEnd(lang: Lang, lines: string[], i: number, maxLines = MAX_BODY): number {
  const cap = Math.min(lines.length - 1, i + maxLines - 1);
  if (lang === 'py') {
    const indent = /^\s*/.exec(lines[i]!)![0].length;
    let last = i;
    let j = i + 1;
    // A signature over several lines ends at the line ending with ':'.
    while (j <= cap && !/:\s*(#.*)?$/.test(lines[j - 1]!)) j++;
    for (; j <= cap; j++) {
      const l = lines[j]!;
      if (!l.trim()) continue;
      if (/^\s*/.exec(l)![0].length <= indent) break;
      last = j;
    }
    return last;
  }
  let depth = 0;
  let opened = false;
  for (let j = i; j <= cap; j++) {
    for (const ch of lines[j]!.replace(/\/\/.*$/, '').replace(/(["'`])(?:\\.|(?!\1).)*\1/g, '""')) {
      if (ch === '{') {
        depth++;
        opened = true;
      } else if (ch === '}') depth--;
    }
    if (opened && depth <= 0) return j;
    // A definition without a body (`type X = …;`, a declaration) ends at its line.
    if (!opened && /;\s*$/.test(lines[j]!)) return j;
  }
  return cap;
}
