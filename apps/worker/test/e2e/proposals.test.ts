import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '@prbot/repo';
import {
  createHarness,
  startModelServer,
  type Harness,
  type ModelServer,
  type RecordedRequest,
  repoWithGaps,
} from '@prbot/test-support';
import { runAll, type Run } from '../helpers.ts';

// A 40 KB test file, as in the library run where a whole-file answer wiped 439 lines of tests.
const CASES = 330;
const bigTest = [
  "import { test } from 'node:test';",
  "import assert from 'node:assert/strict';",
  "import { capitalize, slugify } from '../src/strings.js';",
  '',
  ...Array.from({ length: CASES }, (_, i) => [
    `test('capitalize case ${i} upper-cases the first letter of the word', () => {`,
    `  assert.equal(capitalize('word number ${i}'), 'Word number ${i}');`,
    '});',
    '',
  ]).flat(),
].join('\n');
const LAST_TEST = `test('capitalize case ${CASES - 1} upper-cases the first letter of the word', () => {\n  assert.equal(capitalize('word number ${CASES - 1}'), 'Word number ${CASES - 1}');\n});\n`;
const ADDED =
  "\ntest('capitalize keeps a single letter upper-cased', () => {\n  assert.equal(capitalize('a'), 'A');\n});\n";

const GAPS = {
  edit: 'Add a test that `capitalize` upper-cases a single letter to test/big.test.js',
  wipe: 'Add a test that `slugify` keeps digits to test/big.test.js',
  twice: 'Add a test that `capitalize` keeps digits to test/big.test.js',
  never: 'Add a test that `capitalize` keeps spaces to test/big.test.js',
};
const json = (files: unknown[]) => ({ content: JSON.stringify({ summary: 'Adds one test.', files }) });

/** The model's answer per gap: found by the gap line, as a real model would read it. */
function answer(req: RecordedRequest) {
  const user = req.body.messages[1]!.content;
  if (user.includes(GAPS.edit))
    return json([
      { path: 'test/big.test.js', is_new: false, edits: [{ search: LAST_TEST, replace: LAST_TEST + ADDED }] },
    ]);
  if (user.includes(GAPS.wipe)) {
    const lines = bigTest.split('\n');
    return json([
      {
        path: 'test/big.test.js',
        is_new: false,
        content:
          lines.slice(0, lines.length - 400).join('\n') +
          "\ntest('slugify keeps digits', () => {\n  assert.equal(slugify('a1'), 'a1');\n});\n",
      },
    ]);
  }
  if (user.includes(GAPS.twice))
    return json([
      {
        path: 'test/big.test.js',
        is_new: false,
        edits: [
          { search: LAST_TEST, replace: LAST_TEST + ADDED },
          { search: "  assert.equal(capitalize('word number 1", replace: 'x' },
        ],
      },
    ]);
  if (user.includes(GAPS.never))
    return json([
      { path: 'test/big.test.js', is_new: false, edits: [{ search: "test('capitalize keeps spaces'", replace: 'x' }] },
    ]);
  return { content: 'unknown gap' };
}

let h: Harness;
let server: ModelServer;
let run: Run;
let base: string;

beforeAll(async () => {
  server = await startModelServer(answer);
  const repo = await repoWithGaps(Object.values(GAPS));
  await writeFile(path.join(repo, 'test', 'big.test.js'), bigTest);
  expect(Buffer.byteLength(bigTest)).toBeGreaterThan(40_000);
  h = await createHarness({
    repo,
    config: { models: { providers: { loop: { kind: 'openai', baseUrl: server.baseUrl } }, propose: ['loop/m'] } },
  });
  base = (await git(['rev-parse', 'main'], { cwd: h.bare })).stdout.trim();
  run = await runAll(h.rt, { timeoutMs: 60_000 });
}, 90_000);

afterAll(async () => {
  await h?.cleanup();
  await server?.close();
});

describe('proposals against a repository with a 40 KB test file', () => {
  it('a search/replace answer yields a PR whose diff is exactly the added test', async () => {
    const r = run.byGap('upper-cases a single letter');
    expect(r.outcome).toBe('ok');
    expect(r.files).toEqual([{ path: 'test/big.test.js', action: 'UPDATE' }]);
    const numstat = (await git(['diff', '--numstat', base, `refs/heads/${r.branch}`], { cwd: h.bare })).stdout;
    expect(numstat).toBe('4\t0\ttest/big.test.js\n');
    const diff = (await git(['diff', '-U0', base, `refs/heads/${r.branch}`], { cwd: h.bare })).stdout;
    const added = diff
      .split('\n')
      .filter((l) => l.startsWith('+') && !l.startsWith('+++'))
      .map((l) => l.slice(1));
    expect(added).toEqual(ADDED.split('\n').slice(0, -1));
    expect(diff.split('\n').filter((l) => l.startsWith('-') && !l.startsWith('---'))).toEqual([]);
    const pushed = (await git(['show', `refs/heads/${r.branch}:test/big.test.js`], { cwd: h.bare })).stdout;
    expect(pushed).toBe(bigTest.replace(LAST_TEST, LAST_TEST + ADDED));
    // The PR body gives +/− per file.
    const pr = JSON.parse(await readFile(new URL(r.pr_url!), 'utf8'));
    expect(pr.body).toContain('`UPDATE` test/big.test.js (+4 −0)');
  });

  it('a whole-file answer that drops 400 lines ends in proposal_rejected with the numbers', () => {
    const r = run.byGap('keeps digits to');
    expect(r.gap_text).toContain('slugify');
    expect(r.outcome).toBe('proposal_rejected');
    const m =
      /^shrink guard: test\/big\.test\.js: the proposal removes (\d+) of its (\d+) lines \((\d+\.\d) %, \+(\d+) −(\d+)\)/.exec(
        r.reason,
      );
    expect(m).not.toBeNull();
    const [, removed, total, pct, plus, minus] = m!.map(Number);
    // 400 lines cut, 4 added: git's line diff pairs 2 of them with the cut ones.
    expect(removed).toBeGreaterThanOrEqual(396);
    expect(total).toBe(CASES * 4 + 3);
    expect(pct).toBeCloseTo((100 * removed!) / total!, 1);
    expect(minus).toBe(removed);
    expect(plus).toBeGreaterThan(0);
    expect(r.reason).toContain('guardrails.maxShrink allows 30 %');
  });

  it('an edit whose search text matches twice or never ends in apply_failed naming the file and the edit', () => {
    const twice = run.records.find((x) => x.gap_text?.includes('`capitalize` keeps digits'))!;
    expect(twice).toMatchObject({ outcome: 'apply_failed' });
    expect(twice.reason).toMatch(
      /^test\/big\.test\.js: edits\[1\] of 2: the search text matches more than once \(at lines \d+ and \d+\); it must match exactly once: "assert\.equal\(capitalize\('word number 1"/,
    );
    const never = run.byGap('keeps spaces');
    expect(never.outcome).toBe('apply_failed');
    expect(never.reason).toBe(
      `test/big.test.js: edits[0] of 1: the search text matches nowhere in the file; it must match exactly once: "test('capitalize keeps spaces'"`,
    );
  });

  it('the prompt holds the repository map and says which lines of the large file it left out', () => {
    const req = server.requests.find((q) => q.body.messages[1]!.content.includes(GAPS.edit))!;
    const user = req.body.messages[1]!.content;
    expect(user).toMatch(/Repository map \(\d+ files;/);
    expect(user).toContain('src/strings.js: capitalize, slugify');
    const header =
      /--- test\/big\.test\.js \(named in the gap; (\d+) lines, too large to show whole: shown lines ([\d,-]+) with line numbers; left out lines ([\d,-]+)\./.exec(
        user,
      );
    expect(header).not.toBeNull();
    expect(Number(header![1])).toBe(bigTest.split('\n').length - 1 + (bigTest.endsWith('\n') ? 0 : 1));
    // The last lines (where a new test goes) are shown, numbered; a left-out range is said in place.
    const total = Number(header![1]);
    expect(header![2]).toMatch(new RegExp(`-${total}$`));
    expect(user).toMatch(/ {5}… lines \d+-\d+ not shown/);
    expect(user).toContain(`${String(total).padStart(5)}| });`);
    // The file defining what the gap names (`capitalize`) is shown whole, and said so before the map; the schema sent offers both forms.
    expect(user).toMatch(/--- src\/strings\.js \(defines capitalize; shown whole, \d+ lines\)/);
    expect(user).toMatch(
      /Definitions of what the gap names:\n--- capitalize: src\/strings\.js lines \d+-\d+ \(the file is shown whole below\)/,
    );
    expect(JSON.stringify(req.body.response_format)).toContain('"edits"');
    expect(req.body.messages[0]!.content).toContain('"edits": [{"search"');
  });

  it('the record lists every file the prompt showed, whole or in windows', () => {
    const r = run.byGap('upper-cases a single letter');
    const prompt = server.requests.find((q) => q.body.messages[1]!.content.includes(GAPS.edit))!.body.messages[1]!
      .content;
    expect(r.context).toBeDefined();
    expect(r.context_names).toEqual({ found: ['capitalize'], missing: [] });
    const big = r.context!.find((c) => c.path === 'test/big.test.js')!;
    expect(big).toMatchObject({ shown: 'windows', total: CASES * 4 + 3 });
    expect(prompt).toContain(`shown lines ${big.lines} with line numbers`);
    expect(r.context!.find((c) => c.path === 'src/strings.js')).toMatchObject({ shown: 'whole' });
    // Every "--- path" section of the prompt is in the record, and nothing else.
    const sections = [...prompt.matchAll(/^--- (\S+) \(/gm)].map((m) => m[1]);
    expect(r.context!.map((c) => c.path).sort()).toEqual(sections.sort());
    // The rejected and failed cycles carry it too.
    expect(run.byGap('keeps spaces').context?.length).toBeGreaterThan(0);
    expect(run.byGap('keeps digits to').context?.length).toBeGreaterThan(0);
  });
});
