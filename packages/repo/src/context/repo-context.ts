import type { ContextShown } from '@prbot/core';
import { git } from '../git.ts';
import type { TreeFile } from './objects.ts';
import { findDefinitions, gapNames, searchWords, type GapName, type NameHit } from './names.ts';
import { gapIdentifiers, importsOf, isTestFile, namedFiles, stemOf, testsOf } from './related.ts';
import { CommitSnapshot, type SnapshotCache } from './snapshot.ts';
import { symbolsOf } from './symbols.ts';
import { chooseWindows, leftOut, rangesText, renderWindows } from './windows.ts';

export interface ContextOptions {
  /** Tokens (counted as 3 bytes each, as code tokenizes) for the map and the files together. */
  maxTokens: number;
  /** Tokens for the repository map (taken from maxTokens; files get the rest). */
  mapTokens: number;
  /** A file over this many tokens is shown as numbered windows, not whole. */
  maxFileTokens: number;
  /** Most related files considered (named, their tests, imports, importers). */
  maxFiles: number;
  /** Paths never shown as related files (the PRD the gap comes from). */
  exclude?: string[];
}

interface ShownFile {
  path: string;
  /** Why it is in the prompt: "named in the gap", "test of src/x.js", "imported by …", "imports …". */
  why: string;
  shown: 'whole' | 'windows';
  total: number;
  /** Whole content, or numbered windows with "… lines a-b not shown" between them. */
  text: string;
  /** Ranges left out ("41-199,261-1210"), empty when whole. */
  leftOut: string;
  lines: string;
}

export interface RepoContext {
  /** Files in the base tree. */
  fileCount: number;
  /** Map lines ("path: sym, sym"), best first. */
  map: string[];
  /** Paths the map had no room for. */
  mapOmitted: number;
  files: ShownFile[];
  /** Related files left out for the budget, with why they were related. */
  notShown: { path: string; why: string }[];
  /** For the cycle record. */
  shown: ContextShown[];
  /** The definitions of what the gap names, shown before the map (body null: the file is shown whole below). */
  definitions: { text: string; path: string; from: number; to: number; scoped: boolean; body: string | null }[];
  /** Which names of the gap had a definition found and which did not (the cycle record's `context_names`). */
  names: { found: string[]; missing: string[] };
}

/** At most this many definitions per name, and this share of the file budget for their bodies. */
const DEFS_PER_NAME = 2;
const DEFS_SHARE = 0.4;

// Code runs ~3 bytes a token (o200k_base measured 3.08 on a library prompt); 4 undercounted by 30 %.
const CHARS_PER_TOKEN = 3;
const SMALL_TREE_FILES = 3000;
const SMALL_TREE_BYTES = 8 * 1024 * 1024;
const escapeRe = (w: string) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const MAP_BLOB_MAX = 200_000;
const MAP_READ_MAX = 1500;

/**
 * The repository as the propose prompt shows it, read from the mirror at the base commit (one
 * `ls-tree`, one `git grep` for importers, `cat-file --batch` for contents): the files the gap
 * names, their tests, what they import and what imports them, whole when they fit and as
 * numbered windows otherwise, then a map of paths and top-level symbols in its own share.
 */
export async function buildRepoContext(
  dir: string,
  commit: string,
  gapText: string,
  o: ContextOptions,
  snapshots?: SnapshotCache,
): Promise<RepoContext> {
  const snap = snapshots ? await snapshots.get(dir, commit) : await CommitSnapshot.read(dir, commit);
  try {
    return await buildFrom(snap, gapText, o);
  } finally {
    snapshots?.release(snap);
  }
}

async function buildFrom(texts: CommitSnapshot, gapText: string, o: ContextOptions): Promise<RepoContext> {
  const { dir, commit, tree, byPath, paths, testPaths: tests } = texts;
  const has = (p: string) => byPath.has(p);
  const names = gapNames(gapText);
  const ids = [
    ...new Set([...gapIdentifiers(gapText), ...names.filter((n) => n.path === undefined).map((n) => n.name)]),
  ];
  // A small tree is read whole in one process: every later step then costs no git process at all.
  const small = tree.length <= SMALL_TREE_FILES && texts.bytes <= SMALL_TREE_BYTES;
  if (small) await texts.load(paths.filter((p) => byPath.get(p)!.size <= MAP_BLOB_MAX));
  const search = async (words: string[], wordMatch: boolean): Promise<string[]> => {
    if (!small) return grepFiles(dir, commit, words, wordMatch);
    const re = new RegExp(words.map((w) => (wordMatch ? `\\b${escapeRe(w)}\\b` : escapeRe(w))).join('|'));
    return paths.filter((p) => re.test(texts.get(p) ?? ''));
  };

  // 1. What the gap names: the definitions of its `Class.method`, `module.function`, `path:line`
  // and backticked names first, then the files it names; when it names neither, where its code is used.
  const excluded = new Set(o.exclude ?? []);
  const eligible = paths.filter((p) => !excluded.has(p));
  const hits = await resolveNames(
    names,
    texts,
    (w) => search(w, true),
    (p) => has(p) && !excluded.has(p),
  );
  const defFiles = [...new Set(hits.map((h) => h.path))];
  // The files the gap names by path first (what it asks to change), then where its names are defined.
  const named = namedFiles(gapText, eligible, o.maxFiles);
  let focus = [...named, ...defFiles.filter((p) => !named.includes(p))];
  const why = new Map<string, string>(
    focus.map((p) => [
      p,
      !named.includes(p)
        ? `defines ${[...new Set(hits.filter((h) => h.path === p).map((h) => h.name.text))].join(', ')}`
        : 'named in the gap',
    ]),
  );
  // A new file the gap names: its future neighbours show the conventions it should follow.
  for (const missing of missingPaths(gapText, has)) {
    const d = missing.slice(0, missing.lastIndexOf('/') + 1);
    const beside = eligible
      .filter((p) => p.startsWith(d) && !p.slice(d.length).includes('/') && !isTestFile(p) && !focus.includes(p))
      .slice(0, 2);
    for (const b of beside) why.set(b, `beside ${missing}, which the gap names and does not exist yet`);
    focus.push(...beside);
  }
  if (focus.length === 0 && ids.length) {
    focus = (await search(ids, true)).filter((p) => has(p) && !excluded.has(p)).slice(0, 3);
    for (const p of focus) why.set(p, `mentions ${ids.join(', ')}`);
  }
  focus = focus.slice(0, o.maxFiles);
  const related = new Map<string, string>(focus.map((p) => [p, why.get(p) ?? 'named in the gap']));
  const add = (p: string, reason: string) => {
    if (!related.has(p) && related.size < o.maxFiles && has(p) && !excluded.has(p)) related.set(p, reason);
  };
  await texts.load(focus);
  // 2. Their tests, then what they import, then what imports them (found by a `git grep` for the file's stem).
  for (const p of focus) for (const t of testsOf(p, tests)) add(t, `test of ${p}`);
  const imported: [string, string][] = [];
  for (const p of focus) for (const i of importsOf(p, texts.get(p) ?? '', has)) imported.push([i, p]);
  for (const [i, p] of imported) add(i, `imported by ${p}`);
  const sources = focus.filter((p) => !isTestFile(p) && stemOf(p).length >= 3);
  if (sources.length && related.size < o.maxFiles) {
    const candidates = (await search([...new Set(sources.map(stemOf))], false))
      .filter((p) => has(p) && !related.has(p))
      .slice(0, 200);
    await texts.load(candidates);
    for (const c of candidates) {
      const t = texts.get(c);
      if (t == null) continue;
      const hit = importsOf(c, t, has).find((i) => sources.includes(i));
      if (hit) add(c, `imports ${hit}`);
    }
  }

  // 3. Contents within the budget: whole when a file fits, numbered windows when it does not.
  await texts.load([...related.keys()]);
  let room = (o.maxTokens - o.mapTokens) * CHARS_PER_TOKEN;
  const files: ShownFile[] = [];
  const notShown: { path: string; why: string }[] = [];
  // The definitions' bodies come first and take at most their share: a named method is worth more
  // than a whole neighbour file, but not the whole budget.
  const definitions: RepoContext['definitions'] = [];
  let defRoom = room * DEFS_SHARE;
  for (const h of hits) {
    const t = texts.get(h.path);
    if (t == null) continue;
    const lines = t.split('\n');
    const body = renderWindows(lines, [{ from: h.from, to: h.to }])
      .split('\n')
      .filter((l) => !l.startsWith('     … lines '))
      .join('\n');
    const fitsWhole = t.length <= Math.min(room, o.maxFileTokens * CHARS_PER_TOKEN);
    if (!fitsWhole && body.length > defRoom) continue;
    definitions.push({
      text: h.name.text,
      path: h.path,
      from: h.from,
      to: h.to,
      scoped: h.scoped,
      body: fitsWhole ? null : body,
    });
    if (!fitsWhole) defRoom -= body.length;
  }
  room -= definitions.reduce((n, d) => n + (d.body?.length ?? 0) + 80, 0);
  for (const [p, why] of related) {
    const t = texts.get(p);
    if (t == null) {
      notShown.push({ path: p, why: `${why}; binary` });
      continue;
    }
    // A definition's whole body, not only its first lines: every line of it is relevant.
    const defLines = hits
      .filter((h) => h.path === p)
      .flatMap((h) => Array.from({ length: h.to - h.from + 1 }, (_, k) => h.from + k));
    const shown = showFile(p, why, t, ids, Math.min(room, o.maxFileTokens * CHARS_PER_TOKEN), defLines);
    if (!shown) {
      notShown.push({ path: p, why: `${why}; no room left in models.context.maxTokens` });
      continue;
    }
    files.push(shown);
    room -= shown.text.length + p.length + 80;
  }

  // 4. The map in its own share (room the files leave is not spent on it: every token is paid
  //    for on every call): files near the focus first, then the rest; paths alone when symbols do not fit.
  const mapRoom = o.mapTokens * CHARS_PER_TOKEN;
  const { map, omitted } = await repoMap(texts, tree, [...related.keys()], mapRoom);
  return {
    fileCount: tree.length,
    map,
    mapOmitted: omitted,
    files,
    notShown,
    shown: files.map((f) => ({ path: f.path, shown: f.shown, lines: f.lines, total: f.total })),
    definitions,
    names: {
      found: names.filter((n) => definitions.some((d) => d.text === n.text)).map((n) => n.text),
      missing: names.filter((n) => !definitions.some((d) => d.text === n.text)).map((n) => n.text),
    },
  };
}

/**
 * The definitions of the names: `path:line` directly; the rest in the files that contain the
 * name as a word (the same search as for uses). A definition inside the named class, impl,
 * receiver or module wins over a same-named one elsewhere.
 */
async function resolveNames(
  names: GapName[],
  texts: CommitSnapshot,
  search: (words: string[]) => Promise<string[]>,
  ok: (p: string) => boolean,
): Promise<NameHit[]> {
  const out: NameHit[] = [];
  for (const n of names.filter((x) => x.path !== undefined)) {
    if (!ok(n.path!)) continue;
    await texts.load([n.path!]);
    const t = texts.get(n.path!);
    if (t == null) continue;
    const total = t.split('\n').length;
    if (n.line! >= 1 && n.line! <= total)
      out.push({
        name: n,
        path: n.path!,
        from: Math.max(1, n.line! - 12),
        to: Math.min(total, n.line! + 12),
        scoped: true,
      });
  }
  const words = searchWords(names);
  if (!words.length) return out;
  const candidates = (await search(words)).filter(ok).slice(0, 60);
  await texts.load(candidates);
  for (const n of names.filter((x) => x.path === undefined)) {
    const found = candidates.flatMap((p) => findDefinitions(p, texts.get(p) ?? '', n));
    const scoped = found.filter((h) => h.scoped);
    out.push(...(scoped.length ? scoped : found).slice(0, DEFS_PER_NAME));
  }
  return out;
}

function showFile(
  p: string,
  why: string,
  t: string,
  ids: string[],
  maxChars: number,
  defLines: number[] = [],
): ShownFile | null {
  const lines = t.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const total = lines.length;
  if (t.length <= maxChars)
    return { path: p, why, shown: 'whole', total, text: t, leftOut: '', lines: total ? `1-${total}` : '' };
  if (maxChars < 400) return null;
  const relevant = [...new Set([...defLines, ...relevantLines(p, t, lines, ids)])];
  const ws = chooseWindows(lines, relevant, { head: 15, tail: 30, radius: 12, maxChars });
  if (ws.length === 0) return null;
  return {
    path: p,
    why,
    shown: 'windows',
    total,
    text: renderWindows(lines, ws),
    leftOut: rangesText(leftOut(total, ws)),
    lines: rangesText(ws),
  };
}

/** Lines defining or mentioning what the gap names, definitions first. */
function relevantLines(p: string, t: string, lines: string[], ids: string[]): number[] {
  if (ids.length === 0) return [];
  const defs = symbolsOf(p, t)
    .filter((s) => ids.includes(s.name))
    .map((s) => s.line);
  const re = new RegExp(`\\b(${ids.map((i) => i.replace(/[$]/g, '\\$')).join('|')})\\b`);
  const uses: number[] = [];
  lines.forEach((l, i) => {
    if (re.test(l)) uses.push(i + 1);
  });
  return [...new Set([...defs, ...uses])].slice(0, 40);
}

/** Paths the gap writes (`src/reverse.js`) that the tree does not have. */
function missingPaths(gapText: string, has: (p: string) => boolean): string[] {
  const out = new Set<string>();
  for (const m of gapText.matchAll(/(?:^|[\s`'"(])((?:[\w.-]+\/)+[\w.-]+\.[A-Za-z0-9]+)\b/g)) {
    const p = m[1]!.replace(/^\.\//, '');
    if (!has(p) && !p.split('/').includes('..')) out.add(p);
  }
  return [...out].slice(0, 3);
}

async function grepFiles(dir: string, commit: string, words: string[], wordMatch: boolean): Promise<string[]> {
  const args = [
    'grep',
    '-l',
    '-I',
    '-F',
    ...(wordMatch ? ['-w'] : []),
    ...words.flatMap((w) => ['-e', w]),
    commit,
    '--',
  ];
  const r = await git(args, { cwd: dir, okCodes: [1] });
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(commit.length + 1));
}

/** Map lines within `maxChars`: directories of the related files first, then every other path. */
async function repoMap(
  texts: CommitSnapshot,
  tree: readonly TreeFile[],
  related: string[],
  maxChars: number,
): Promise<{ map: string[]; omitted: number }> {
  const near = new Set(related.map((p) => p.slice(0, p.lastIndexOf('/') + 1)));
  const dirOf = (p: string) => p.slice(0, p.lastIndexOf('/') + 1);
  const ordered = [...tree].sort(
    (a, b) =>
      Number(near.has(dirOf(b.path))) - Number(near.has(dirOf(a.path))) ||
      (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
  );
  // Read what could fit (a map line is rarely under 20 characters), in one batch.
  const readable = ordered
    .slice(0, Math.min(MAP_READ_MAX, Math.ceil(maxChars / 20)))
    .filter((f) => f.size <= MAP_BLOB_MAX);
  await texts.load(readable.map((f) => f.path));
  const map: string[] = [];
  let used = 0;
  let i = 0;
  for (; i < ordered.length; i++) {
    const f = ordered[i]!;
    const syms = texts.mapEntry(f.path);
    const shown = syms.slice(0, 12);
    const full = shown.length
      ? `${f.path}: ${shown.join(', ')}${syms.length > shown.length ? `, … (${syms.length - shown.length} more)` : ''}`
      : f.path;
    const line = used + full.length + 1 <= maxChars ? full : f.path;
    if (used + line.length + 1 > maxChars) break;
    map.push(line);
    used += line.length + 1;
  }
  return { map, omitted: ordered.length - i };
}
