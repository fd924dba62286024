/**
 * Top-level symbols of a source file by a per-language line scan. A repository map needs names
 * and their lines, not a parse tree: the scan costs microseconds a file and needs no grammar
 * per language (tree-sitter would add native builds for what a map line shows).
 */

export interface SymbolAt {
  name: string;
  /** 1-based line of the definition. */
  line: number;
}

const JS =
  /^(?:export\s+(?:default\s+)?)?(?:declare\s+)?(?:abstract\s+)?(?:async\s+)?(?:function\s*\*?|class|interface|type|enum|const|let|var|namespace)\s+([A-Za-z_$][\w$]*)/gm;
const JS_EXPORTS = /^(?:module\.)?exports\.([A-Za-z_$][\w$]*)\s*=/gm;
const PY = /^(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)/gm;
const GO = /^(?:func\s+(?:\([^)]*\)\s*)?|type\s+)([A-Za-z_]\w*)/gm;
const RS =
  /^(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:unsafe\s+)?(?:fn|struct|enum|trait|type|mod|const|static|macro_rules!)\s*([A-Za-z_]\w*)/gm;
const JVM =
  /^(?:public\s+|internal\s+|export\s+)?(?:final\s+|abstract\s+|sealed\s+|data\s+|open\s+)*(?:class|interface|enum|record|object|fun)\s+([A-Za-z_]\w*)/gm;
const RB = /^(?:def|class|module)\s+([\w.:]+)/gm;
const SH = /^(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)\s*\{/gm;
const MD = /^#{1,3}\s+(.+)$/gm;

const BY_EXT: Record<string, RegExp[]> = {
  js: [JS, JS_EXPORTS],
  mjs: [JS, JS_EXPORTS],
  cjs: [JS, JS_EXPORTS],
  jsx: [JS],
  ts: [JS],
  tsx: [JS],
  mts: [JS],
  cts: [JS],
  py: [PY],
  go: [GO],
  rs: [RS],
  java: [JVM],
  kt: [JVM],
  scala: [JVM],
  cs: [JVM],
  rb: [RB],
  sh: [SH],
  bash: [SH],
  md: [MD],
};

export function extOf(p: string): string {
  const base = p.slice(p.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
}

/** Definitions at the top level (column 0), in file order, each name once. */
export function symbolsOf(path: string, text: string): SymbolAt[] {
  const res = BY_EXT[extOf(path)];
  if (!res) return [];
  const found: { name: string; index: number }[] = [];
  for (const re of res) {
    re.lastIndex = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) found.push({ name: m[1]!.trim(), index: m.index });
  }
  found.sort((a, b) => a.index - b.index);
  const seen = new Set<string>();
  const out: SymbolAt[] = [];
  let line = 1;
  let at = 0;
  for (const f of found) {
    if (seen.has(f.name)) continue;
    seen.add(f.name);
    for (let i = text.indexOf('\n', at); i !== -1 && i < f.index; i = text.indexOf('\n', i + 1)) {
      line++;
      at = i + 1;
    }
    out.push({ name: f.name, line });
  }
  return out;
}
