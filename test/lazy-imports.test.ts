// Issue 16: a worker's start time and idle memory depend on what the bundle imports eagerly.
// These npm packages are imported at their first use (`await import(…)`, or createRequire for a
// CommonJS one), never by a static import in production code: one static import puts the whole
// package back into every process's start (docs/ARCHITECTURE.md, "What a process loads at start").
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@prbot/test-support';

const LAZY = [
  'undici',
  'execa',
  '@octokit/rest',
  '@octokit/plugin-retry',
  '@octokit/plugin-throttling',
  'mdast-util-from-markdown',
  'mdast-util-gfm-task-list-item',
  'micromark-extension-gfm-task-list-item',
  'pino-pretty',
  'yaml',
];

/** Production sources the compiled `prbot` bundles (test support and tests are never shipped). */
function productionSources(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(p);
    }
  };
  for (const group of ['apps', 'packages']) {
    for (const pkg of readdirSync(path.join(REPO_ROOT, group))) {
      if (pkg === 'test-support') continue;
      const src = path.join(REPO_ROOT, group, pkg, 'src');
      try {
        walk(src);
      } catch {
        // a package without src/
      }
    }
  }
  return out;
}

/** `import x from 'p'`, `import { x } from 'p/sub'`, `export { x } from 'p'`, `import 'p'` — not `import type`. */
function staticImportsOf(text: string): string[] {
  const found: string[] = [];
  const re = /^\s*(?:import|export)\s+(?!type\b)(?:[^;'"]*?\sfrom\s*)?['"]([^'"]+)['"]/gm;
  for (const m of text.matchAll(re)) found.push(m[1]!);
  return found;
}

const packageOf = (spec: string) =>
  spec
    .split('/')
    .slice(0, spec.startsWith('@') ? 2 : 1)
    .join('/');

describe('what a process loads at start', () => {
  it('the scanner sees value imports and ignores type-only imports and dynamic ones', () => {
    const text = [
      "import { execa } from 'execa';",
      "import type { Agent } from 'undici';",
      "import YAML from 'yaml';",
      "export { Octokit } from '@octokit/rest';",
      "  const { request } = await import('undici');",
      "import {\n  fromMarkdown,\n} from 'mdast-util-from-markdown';",
    ].join('\n');
    expect(staticImportsOf(text).map(packageOf)).toEqual([
      'execa',
      'yaml',
      '@octokit/rest',
      'mdast-util-from-markdown',
    ]);
  });

  it('production code imports the lazily loaded packages only at their first use', () => {
    const files = productionSources();
    expect(files.length).toBeGreaterThan(50);
    const eager = files.flatMap((f) =>
      staticImportsOf(readFileSync(f, 'utf8'))
        .filter((spec) => LAZY.includes(packageOf(spec)))
        .map((spec) => `${path.relative(REPO_ROOT, f)} imports ${spec} at start`),
    );
    expect(eager).toEqual([]);
  });
});
