import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { digestTestOutput } from './digest.ts';

/** Real output of a tiny failing test per runner, captured on this machine (see digest-fixtures/README.md). */
const fixture = (name: string) => readFileSync(new URL(`./digest-fixtures/${name}.txt`, import.meta.url), 'utf8');

// Each fixture's first failing test compares slug('a b') = 'a_b' (actual) with 'a b' (expected);
// the second failure (x_y vs x-y) must not crowd it out.
const cases: { file: string; runner: string; expected: RegExp; actual: RegExp; summary: RegExp }[] = [
  { file: 'ava', runner: 'ava', expected: /\+ 'a b'/, actual: /- 'a_b'/, summary: /2 tests failed/ },
  {
    file: 'jest',
    runner: 'jest',
    expected: /Expected: "a b"/,
    actual: /Received: "a_b"/,
    summary: /Tests:\s+2 failed, 1 passed, 3 total/,
  },
  {
    file: 'vitest',
    runner: 'vitest',
    expected: /Expected: "a b"/,
    actual: /Received: "a_b"/,
    summary: /Tests\s+2 failed \| 1 passed \(3\)/,
  },
  { file: 'mocha', runner: 'mocha', expected: /\+a b/, actual: /-a_b/, summary: /2 failing/ },
  { file: 'node-test', runner: 'node:test', expected: /expected: 'a b'/, actual: /actual: 'a_b'/, summary: /ℹ fail 2/ },
  { file: 'tap', runner: 'tap', expected: /expected: 'a b'/, actual: /actual: 'a_b'/, summary: /# fail 2/ },
  { file: 'pytest', runner: 'pytest', expected: /- a b/, actual: /\+ a_b/, summary: /2 failed, 1 passed/ },
  {
    file: 'go-test',
    runner: 'go test',
    expected: /want "a b"/,
    actual: /= "a_b"/,
    summary: /^FAIL\texample\.com\/slug/m,
  },
  {
    file: 'go-test-v',
    runner: 'go test',
    expected: /want "a b"/,
    actual: /= "a_b"/,
    summary: /^FAIL\texample\.com\/slug/m,
  },
  {
    file: 'cargo-test',
    runner: 'cargo test',
    expected: /right: "a b"/,
    actual: /left: "a_b"/,
    summary: /test result: FAILED\. 1 passed; 2 failed/,
  },
];

describe('digestTestOutput', () => {
  for (const c of cases) {
    it(`${c.file}: keeps the first failure's expected and actual values, then the summary`, () => {
      // The fixture does hold the second failure, so its absence below is the digest's doing.
      expect(fixture(c.file)).toMatch(/x_y/);
      const d = digestTestOutput(fixture(c.file), 2000);
      expect(d.runner).toBe(c.runner);
      expect(d.text).toMatch(c.expected);
      expect(d.text).toMatch(c.actual);
      expect(d.text).toMatch(c.summary);
      expect(d.text).toMatch(/keeps.words|KeepsWords|keeps_words/);
      // Only the first failing test's block: the second one's values stay out.
      expect(d.text).not.toMatch(/x_y/);
      expect(Buffer.byteLength(d.text)).toBeLessThanOrEqual(2000);
    });
    it(`${c.file}: expected and actual survive a tight cap`, () => {
      const d = digestTestOutput(fixture(c.file), 420);
      expect(Buffer.byteLength(d.text)).toBeLessThanOrEqual(420);
      expect(d.text).toMatch(c.expected);
      expect(d.text).toMatch(c.actual);
    });
  }

  it('drops stack frames of the runtime and the runner (node:test spec, cargo backtraces)', () => {
    expect(digestTestOutput(fixture('node-test')).text).not.toContain('node:internal');
    expect(digestTestOutput(fixture('cargo-test')).text).not.toContain('rust_begin_unwind');
  });

  it('finds the block after npm noise and ANSI colours', () => {
    const out = '\n> lib@1.0.0 test\n> ava\n\n' + fixture('ava').replace(/- 'a_b'/, "\u001b[31m- 'a_b'\u001b[39m");
    const d = digestTestOutput(out);
    expect(d.runner).toBe('ava');
    expect(d.text).toContain("- 'a_b'");
    expect(d.text).not.toContain('\u001b');
  });

  it('unknown output: the assertion-looking lines, else the last lines', () => {
    const d = digestTestOutput('building…\ncompiling 3 files\nERROR: expected 3 but got 4\ndone in 2s\n');
    expect(d.runner).toBeNull();
    expect(d.text).toContain('ERROR: expected 3 but got 4');
    expect(digestTestOutput('line 1\nline 2\nSegmentation fault\n').text).toContain('Segmentation fault');
  });

  it('a long block keeps its head and the assertion lines beyond the cut, and says what it left out', () => {
    const noise = Array.from({ length: 200 }, (_, i) => `    console.log line ${i} of the failing test's own output`);
    const out = [
      'FAIL x.test.js',
      '  ● suite › big',
      '',
      '    thing went wrong',
      ...noise,
      '    Expected: "a b"',
      '    Received: "a_b"',
      '',
      'Tests:       1 failed, 1 total',
    ].join('\n');
    const d = digestTestOutput(out, 1200);
    expect(Buffer.byteLength(d.text)).toBeLessThanOrEqual(1200);
    expect(d.text).toContain('● suite › big');
    expect(d.text).toContain('Expected: "a b"');
    expect(d.text).toContain('Received: "a_b"');
    expect(d.text).toMatch(/more lines of this failure left out/);
    expect(d.text).toMatch(/Tests:\s+1 failed/);
  });
});
