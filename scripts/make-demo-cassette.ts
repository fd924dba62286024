/**
 * Regenerates examples/demo-cassette.json: one recorded answer per demo gap, chosen so the demo
 * shows ok, tests_failed, cycle_noop, proposal_rejected and apply_failed. Run after editing
 * examples/demo-repo: `pnpm tsx scripts/make-demo-cassette.ts`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Cassette } from '@prbot/model';
import type { ProposedFile } from '@prbot/core';

const repo = new URL('../examples/demo-repo/', import.meta.url);
const read = (p: string) => readFileSync(new URL(p, repo), 'utf8');
const usage = (p: number, c: number) => ({ prompt_tokens: p, completion_tokens: c, total_tokens: p + c });
const answer = (summary: string, files: ProposedFile[]) => ({
  content: '```json\n' + JSON.stringify({ summary, files }, null, 2) + '\n```',
  usage: usage(900, 350),
});

const truncate = `/** Shortens text to at most max characters, ending in an ellipsis when cut. */
export function truncate(text, max) {
  if (text.length <= max) return text;
  if (max <= 1) return '…'.slice(0, max);
  return text.slice(0, max - 1) + '…';
}
`;
const truncateTest = `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { truncate } from '../src/truncate.js';

test('truncate leaves short text alone', () => {
  assert.equal(truncate('hello', 10), 'hello');
});

test('truncate cuts long text with an ellipsis', () => {
  assert.equal(truncate('hello world', 6), 'hello…');
});
`;
// A plausible but wrong answer: reverses words, not characters, so its own test fails.
const reverse = `/** Reverses the characters of text. */
export function reverse(text) {
  return text.split(' ').reverse().join(' ');
}
`;
const reverseTest = `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reverse } from '../src/reverse.js';

test('reverse reverses characters', () => {
  assert.equal(reverse('abc'), 'cba');
});
`;
const workflow = `name: ci
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: node --test
`;

const cassette: Cassette = {
  version: 1,
  entries: [
    {
      gap: 'truncate(text, max)',
      answers: [
        answer('Adds truncate() with tests.', [
          { path: 'src/truncate.js', is_new: true, content: truncate },
          { path: 'test/truncate.test.js', is_new: true, content: truncateTest },
        ]),
      ],
    },
    {
      gap: 'reverse(text)',
      answers: [
        answer('Adds reverse() with a test.', [
          { path: 'src/reverse.js', is_new: true, content: reverse },
          { path: 'test/reverse.test.js', is_new: true, content: reverseTest },
        ]),
      ],
    },
    // An existing file is changed with search/replace edits; this one changes nothing (NOOP).
    {
      gap: 'keeps the empty string',
      answers: [
        answer('capitalize already keeps the empty string; no change needed.', [
          {
            path: 'src/strings.js',
            is_new: false,
            edits: [{ search: 'if (text.length === 0) return text;', replace: 'if (text.length === 0) return text;' }],
          },
        ]),
      ],
    },
    {
      gap: 'CI workflow',
      answers: [
        answer('Adds a GitHub Actions workflow running the tests.', [
          { path: '.github/workflows/ci.yml', is_new: true, content: workflow },
        ]),
      ],
    },
    {
      gap: 'words(text)',
      answers: [
        answer('Adds words() to strings.js.', [
          {
            path: 'src/strings.js',
            is_new: true,
            content:
              read('src/strings.js') +
              '\nexport function words(text) {\n  return text.split(/\\s+/).filter(Boolean);\n}\n',
          },
        ]),
      ],
    },
  ],
};

writeFileSync(new URL('../examples/demo-cassette.json', import.meta.url), JSON.stringify(cassette, null, 2) + '\n');
console.log('wrote examples/demo-cassette.json');
