/**
 * A generator of hostile or malformed model answers: path traversal in its spellings, absolute
 * and UNC paths, symlink tricks, control characters, Unicode look-alikes and normalisation
 * tricks, huge files, thousands of files, wrong types, deep nesting, forbidden paths.
 * `escape` is a directory name that must never appear anywhere on disk afterwards.
 */
export function hostileAnswers(escape: string, count: number): string[] {
  const traversal = [
    `../${escape}/x`,
    `../../${escape}/x`,
    `src/../../${escape}`,
    `./../${escape}`,
    `src/./../../${escape}`,
    `..\\${escape}\\x`,
    `src\\..\\..\\${escape}`,
    `%2e%2e/${escape}`,
    `..%2f${escape}`,
    `....//${escape}`,
    `/tmp/${escape}/x`,
    `/etc/${escape}`,
    `/root/.ssh/${escape}`,
    `//server/share/${escape}`,
    `\\\\server\\share\\${escape}`,
    `C:/${escape}`,
    `c:\\${escape}`,
    `file:///tmp/${escape}`,
    `~/${escape}`,
    `link-out/${escape}`,
    `link-out`,
    `src/\u0000${escape}`,
    `src/${escape}\u0000.js`,
    `src/\u001b[31m${escape}`,
    `src/\u202e${escape}`,
    `src/\u200b${escape}`,
    `src/${escape}\n.js`,
    `src/${escape}\r`,
    `\u2025/${escape}`,
    `\uff0e\uff0e/${escape}`,
    `.\u2024/${escape}`,
    `src/${'e\u0301'}${escape}`,
    `.git/hooks/${escape}`,
    `.GIT/config`,
    `sub/.git/${escape}`,
    `.git./${escape}`,
    `src /${escape}`,
    `secrets/${escape}`,
    `docs/PRD.md`,
    `docs/ADR-9-${escape}.md`,
    `.github/workflows/${escape}.yml`,
    `.forgejo/workflows/${escape}.yml`,
    `Cargo.lock`,
    `prbot.config.json`,
    `bot.paused`,
    '',
    '.',
    '..',
    '/',
    `src//${escape}`,
  ];
  const shapes: ((i: number) => unknown)[] = [
    (i) => ({ summary: 's', files: [{ path: traversal[i % traversal.length], is_new: true, content: 'pwned' }] }),
    (i) => ({
      summary: 's',
      files: [
        { path: `src/ok${i}.js`, is_new: true, content: 'x' },
        { path: traversal[(i * 7) % traversal.length], is_new: false, content: 'pwned' },
      ],
    }),
    (i) => ({ summary: 's', files: [{ path: `src/big${i}.js`, is_new: true, content: 'x'.repeat(300_000) }] }),
    (i) => ({
      summary: 's',
      files: Array.from({ length: 2000 + i }, (_, k) => ({ path: `many/${k}.js`, is_new: true, content: '' })),
    }),
    () => ({ summary: 's', files: [{ path: 123, is_new: true, content: 'x' }] }),
    () => ({ summary: 's', files: [{ path: 'a.js', is_new: 'true', content: 'x' }] }),
    () => ({ summary: 's', files: [{ path: 'a.js', is_new: true, content: { nested: true } }] }),
    () => ({ summary: 's', files: { path: 'a.js' } }),
    () => ({ summary: '', files: [] }),
    () => ({ files: [{ path: 'a.js', is_new: true, content: 'x', delete: true }] }),
    (i) => ({
      summary: 's',
      files: [
        { path: `src/Ok${i}.js`, is_new: true, content: 'a' },
        { path: `src/ok${i}.js`, is_new: true, content: 'b' },
      ],
    }),
    (i) => ({
      summary: 's',
      files: [
        { path: `d${i}`, is_new: true, content: 'a' },
        { path: `d${i}/x.js`, is_new: true, content: 'b' },
      ],
    }),
    () => ({ summary: 's', files: [{ path: 'src/strings.js', is_new: true, content: 'overwrite' }] }),
    () => ({ summary: 's', files: [{ path: 'src', is_new: false, content: 'x' }] }),
    () => ({ summary: 's', files: [{ path: 'README.md/inner.js', is_new: true, content: 'x' }] }),
    (i) => ({
      summary: 's',
      files: [{ path: `src/\u0455rc${i}.js`, is_new: true, content: 'export const lookalike = 1;\n' }],
    }),
    () => ({ summary: 's', files: [{ path: 'src/nul.js', is_new: true, content: 'a\u0000b' }] }),
  ];
  const raw: ((i: number) => string)[] = [
    () => '['.repeat(200_000),
    () => '{"summary": "s", "files": [' + '{"a":'.repeat(5000) + '1' + '}'.repeat(5000) + ']}',
    () => 'not json at all',
    () => '```json\n{"summary": "s", "files": [}\n```',
    () => JSON.stringify({ summary: 's', files: [{ path: 'x.js', is_new: true, content: 'y'.repeat(600_000) }] }),
    () => '',
    () => 'null',
    () => '[1,2,3]',
  ];
  // Every traversal spelling first, alone and beside a good file (the first two shapes), then the
  // other shapes and raw answers in turn. (Cycling all shapes from the start met only 2 of the
  // 50 spellings in each of those two shapes, whatever the count.)
  const out: string[] = [];
  for (let i = 0; i < traversal.length && out.length < count; i++) out.push(JSON.stringify(shapes[0]!(i)));
  for (let i = 0; i < traversal.length && out.length < count; i++)
    out.push(JSON.stringify(shapes[1]!(pathIndex7(i, traversal.length))));
  const rest = [...shapes.slice(2).map((f) => (i: number) => JSON.stringify(f(i))), ...raw];
  for (let i = 0; out.length < count; i++) out.push(rest[i % rest.length]!(out.length));
  return out;
}

/** The i for which shape 1's `(i * 7) % n` picks spelling `k` (7 is invertible mod 50). */
function pathIndex7(k: number, n: number): number {
  for (let i = 0; i < n; i++) if ((i * 7) % n === k) return i;
  return k;
}
