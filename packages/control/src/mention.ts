import type { Nodes, Root } from 'mdast';

/**
 * A mention is a mention the way the forge renders it (issue 29). Gitea/Forgejo and GitHub parse a
 * comment as Markdown and turn `@name` into a mention only in running text: not inside a code span
 * or a code block (where it is shown literally), and a block quote repeats what someone else wrote
 * (a reply quoting `> @prbot rename it` to disagree with it asks for nothing). So the comment is
 * parsed as Markdown and the handle is looked for in the text outside those nodes, links and raw
 * HTML (an HTML comment is not shown at all).
 */

type Parse = (markdown: string) => Root;
let parser: Promise<Parse> | null = null;
// Lazy: mdast is imported at first use, never at a process's start (test/lazy-imports.test.ts).
function parse(markdown: string): Promise<Root> {
  parser ??= import('mdast-util-from-markdown').then(
    ({ fromMarkdown }) =>
      (md: string) =>
        fromMarkdown(md),
  );
  return parser.then((p) => p(markdown));
}

// Nodes whose text is not running text a forge scans for mentions.
const NOT_RUNNING_TEXT = new Set([
  'code',
  'inlineCode',
  'blockquote',
  'html',
  'link',
  'linkReference',
  'definition',
  'image',
  'imageReference',
]);

function runningText(node: Nodes, out: string[]): void {
  if (NOT_RUNNING_TEXT.has(node.type)) {
    out.push(' ');
    return;
  }
  if (node.type === 'text') out.push(node.value);
  else if ('children' in node) for (const c of node.children) runningText(c as Nodes, out);
  // Blocks and inline siblings stay apart: `a` `@prbot` in two paragraphs never join into one word.
  out.push(node.type === 'text' ? '' : ' ');
}

/** `@prbot` as a word: not part of `@prbot-dev` or an e-mail address (the forges' own rule). */
export function mentionsWord(text: string, handle: string): boolean {
  const h = handle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^A-Za-z0-9_.@/-])${h}(?![A-Za-z0-9_-])`, 'i').test(text);
}

/** Whether the comment mentions `handle` in its running text (not in code, a code block or a quote). */
export async function mentions(body: string, handle: string): Promise<boolean> {
  // Cheap first: no handle anywhere, no parse.
  if (!mentionsWord(body, handle)) return false;
  const out: string[] = [];
  runningText(await parse(body), out);
  return mentionsWord(out.join(''), handle);
}

/**
 * The comment without its block quotes: what the reviewer wrote, not what they answer. The model
 * gets this as the request, so a quoted earlier request cannot ask again through a reply.
 */
export async function withoutQuotes(body: string): Promise<string> {
  const root = await parse(body);
  const cuts: [number, number][] = [];
  const walk = (n: Nodes) => {
    if (n.type === 'blockquote') {
      const s = n.position?.start.offset;
      const e = n.position?.end.offset;
      if (s !== undefined && e !== undefined) cuts.push([s, e]);
      return;
    }
    if ('children' in n) for (const c of n.children) walk(c as Nodes);
  };
  walk(root);
  if (cuts.length === 0) return body;
  let out = '';
  let at = 0;
  for (const [s, e] of cuts) {
    out += body.slice(at, s);
    at = e;
  }
  out += body.slice(at);
  return out.replace(/\n{3,}/g, '\n\n').trim();
}
