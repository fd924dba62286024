import type { ListItem, Nodes, Paragraph, PhrasingContent } from 'mdast';
import { gapId, TAG, type Gap, inertText } from '@prbot/core';

/**
 * A PRD line longer than this is skipped (with a warning naming its line), never parsed or stored:
 * one 8 MB line once grew Redis by 42 MB per produce.
 */
export const PRD_LINE_CAP = 2000;

/**
 * The longest run of indentation and container markers (spaces, tabs, `>`, list bullets and
 * numbers) a PRD line may open with. The Markdown parser's work grows with the square of the
 * nesting: 600 lines nested one level deeper each took 18 s to parse (measured); a PRD is a
 * list, not a 30-deep tree, so a deeper line is skipped with a warning.
 */
export const PRD_NESTING_CAP = 64;
const CONTAINERS = /^(?:[ \t>*+-]|\d{1,9}[.)])*/;

/**
 * The largest PRD read, in bytes. A PRD is a page a human edits; 4 MiB is ~2,000 of its longest
 * lines. A bigger one (or one holding a NUL byte: a binary pushed in its place) is not parsed.
 */
export const PRD_BYTE_CAP = 4 * 1024 * 1024;

/**
 * Gaps taken from one PRD, in document order; the rest are dropped with a warning. 10,000 is
 * what prd.test.ts asks to be handled; past it, every produce would read that many histories.
 */
export const PRD_GAP_CAP = 10_000;

/**
 * The PRD reader's and parser's rules, switchable for one purpose: the positive controls in
 * test/hostile-text.test.ts turn one off in their own process (back in a `finally`) to show the
 * same hostile PRD then gets through. No variable, config field or PRD reaches this object.
 */
export const prdDefences = { regularFileOnly: true, byteCap: true, noNul: true, gapCap: true, nestingCap: true };

/** Why a PRD at a commit cannot be read, said in produce's error and the dashboard issue. */
export class PrdUnreadable extends Error {
  override readonly name = 'PrdUnreadable';
}

/**
 * What a parse of a PRD depends on besides its bytes: bump it whenever parsePrdWithWarnings could
 * answer differently for the same text, so a parse cached by blob id (control's prd-cache.ts) is
 * not reused. The caps are part of it.
 */
export const PRD_PARSE_VERSION = `1-${PRD_LINE_CAP}-${PRD_NESTING_CAP}-${PRD_GAP_CAP}`;

interface PrdSource {
  lsTree(commit: string, paths: string[]): Promise<Map<string, { mode: string; type: string; oid?: string }>>;
  blobSize(commit: string, file: string): Promise<number | null>;
  readFile(commit: string, file: string): Promise<string | null>;
}

/**
 * The PRD's text at a commit, or null when absent. Only a regular file is read: a symlink (its
 * blob is the target's path, and a link may name anything), a directory or a submodule is
 * refused by name, and so is a file over PRD_BYTE_CAP or with a NUL byte.
 */
export async function readPrd(m: PrdSource, commit: string, file: string): Promise<string | null> {
  return (await readPrdBlob(m, commit, file))?.text ?? null;
}

/** readPrd with the PRD's git blob id (null when the source does not say it): the parse's cache key. */
export async function readPrdBlob(
  m: PrdSource,
  commit: string,
  file: string,
): Promise<{ text: string; blob: string | null } | null> {
  const entry = (await m.lsTree(commit, [file])).get(file);
  if (!entry) return null;
  if (prdDefences.regularFileOnly && (entry.type !== 'blob' || !/^100(644|755)$/.test(entry.mode))) {
    throw new PrdUnreadable(
      `the PRD ${file} is ${entry.mode === '120000' ? 'a symbolic link' : `not a regular file (mode ${entry.mode}, ${entry.type})`}; prbot reads only a regular file`,
    );
  }
  const size = await m.blobSize(commit, file);
  if (size !== null && size > PRD_BYTE_CAP && prdDefences.byteCap)
    throw new PrdUnreadable(`the PRD ${file} is ${size} bytes, over the cap of ${PRD_BYTE_CAP}`);
  const text = await m.readFile(commit, file);
  if (text !== null && text.includes('\0') && prdDefences.noNul)
    throw new PrdUnreadable(`the PRD ${file} holds NUL bytes: it is not text`);
  return text === null ? null : { text, blob: entry.oid ?? null };
}

export interface PrdWarning {
  line: number;
  message: string;
}

export interface ParsedPrd {
  gaps: Gap[];
  warnings: PrdWarning[];
}

/**
 * The PRD's gaps: unchecked GFM task-list items (`- [ ] …`) whose own text carries `[bot-eligible]`.
 * Parsed as Markdown (mdast), so a tag inside code (fenced, indented, inline), HTML (comments
 * included, over many lines) or a quote is not a gap, and a nested item's tag belongs to the nested
 * item, not its parent. A gap's id hashes its normalised text, so re-running produce finds the same
 * ids and a reworded line is a new gap (a human's closed PR does not block the new wording).
 */
export async function parsePrdWithWarnings(markdown: string): Promise<ParsedPrd> {
  const warnings: PrdWarning[] = [];
  const lines = markdown.split(/(\r\n|\r|\n)/);
  // Blank out over-long lines before parsing (keeping line numbers), so their text goes nowhere.
  for (let i = 0; i < lines.length; i += 2) {
    if (lines[i]!.length > PRD_LINE_CAP) {
      warnings.push({
        line: i / 2 + 1,
        message: `line ${i / 2 + 1} is ${lines[i]!.length} characters, over the cap of ${PRD_LINE_CAP}: skipped`,
      });
      lines[i] = '';
    } else if (prdDefences.nestingCap && CONTAINERS.exec(lines[i]!)![0].length > PRD_NESTING_CAP) {
      warnings.push({
        line: i / 2 + 1,
        message: `line ${i / 2 + 1} is nested deeper than ${PRD_NESTING_CAP} characters of indentation and markers: skipped`,
      });
      lines[i] = '';
    }
  }
  const source = warnings.length ? lines.join('') : markdown;
  const tree = (await markdownParser())(source);
  const gaps: Gap[] = [];
  const seen = new Set<string>();
  let overCap = false;
  const visit = (node: Nodes): void => {
    // Code and HTML are not items; a quote is someone else's words.
    if (node.type === 'code' || node.type === 'html' || node.type === 'blockquote') return;
    if (node.type === 'listItem' && node.checked === false) {
      const gap = gapOf(node, source);
      if (gap && !seen.has(gap.id)) {
        seen.add(gap.id); // the same line twice is one gap
        if (gaps.length < PRD_GAP_CAP || !prdDefences.gapCap) gaps.push(gap);
        else if (!overCap) {
          overCap = true;
          warnings.push({
            line: gap.line,
            message: `more than ${PRD_GAP_CAP} gaps: line ${gap.line} and later ones are skipped`,
          });
        }
      }
    }
    if ('children' in node) for (const c of node.children) visit(c as Nodes);
  };
  visit(tree);
  return { gaps, warnings };
}

/** parsePrdWithWarnings without the warnings; `onWarning` hears each skipped line. */
export async function parsePrd(markdown: string, onWarning?: (w: PrdWarning) => void): Promise<Gap[]> {
  const { gaps, warnings } = await parsePrdWithWarnings(markdown);
  if (onWarning) warnings.forEach(onWarning);
  return gaps;
}

/**
 * The Markdown parser (mdast + the GFM task-list extension), loaded at the first parse: only
 * produce reads a PRD, and these modules are ~150 ms of a process's start (docs/OPERATIONS.md).
 */
let parser: Promise<(markdown: string) => Nodes> | undefined;
function markdownParser(): Promise<(markdown: string) => Nodes> {
  parser ??= Promise.all([
    import('mdast-util-from-markdown'),
    import('mdast-util-gfm-task-list-item'),
    import('micromark-extension-gfm-task-list-item'),
  ]).then(
    ([{ fromMarkdown }, { gfmTaskListItemFromMarkdown }, { gfmTaskListItem }]) =>
      (markdown: string) =>
        fromMarkdown(markdown, { extensions: [gfmTaskListItem()], mdastExtensions: [gfmTaskListItemFromMarkdown()] }),
  );
  return parser;
}

function gapOf(item: ListItem, source: string): Gap | null {
  // The item's own text is its first paragraph; nested lists and later blocks are not its words.
  const para = item.children[0];
  if (para?.type !== 'paragraph' || !para.position) return null;
  if (!ownText(para).toLowerCase().includes(TAG)) return null;
  // The id hashes the source as written (backticks and all), as it always has, so ids stay stable.
  // (When the item's text opens with inline HTML, mdast leaves the checkbox inside the paragraph.)
  const raw = source.slice(para.position.start.offset, para.position.end.offset).replace(/^\[ \][ \t]*/, '');
  // Control, bidi and invisible characters go here, once: the text reaches titles, commit
  // messages, prompts, logs, records and the dashboard, and none of them should carry them.
  const text = inertText(raw.replace(/\[bot-eligible\]/gi, ''))
    .replace(/\s+/g, ' ')
    .trim();
  if (!text) return null;
  return { id: gapId(text), text, line: item.position?.start.line ?? para.position.start.line };
}

/** Text outside inline code and inline HTML. */
function ownText(node: Paragraph | PhrasingContent): string {
  if (node.type === 'text') return node.value;
  if (node.type === 'inlineCode' || node.type === 'html') return ' ';
  if ('children' in node) return node.children.map((c) => ownText(c as PhrasingContent)).join('');
  return ' ';
}
