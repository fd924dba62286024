import { diffLines } from 'diff';
import { describe, expect, it } from 'vitest';
import { commonSubsequenceLength, EXACT_EDIT_LIMIT, lineStats } from './line-stats.ts';

/** The count without any bound: what lineStats returned before the limit. */
function exact(before: string, after: string) {
  let added = 0;
  let removed = 0;
  for (const p of diffLines(before, after)) {
    if (p.added) added += p.count ?? 0;
    else if (p.removed) removed += p.count ?? 0;
  }
  return { added, removed };
}

/** A deterministic pseudo-random file: numbered lines with some repeats (closing braces). */
function file(lines: number, seed: number): string {
  let x = seed;
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out.push(x % 7 === 0 ? '});' : `line ${x % 5000}`);
  }
  return out.join('\n') + '\n';
}

function edit(text: string, every: number, seed: number): string {
  return text
    .split('\n')
    .map((l, i) => (i % every === 0 ? `${l} changed ${seed}` : l))
    .join('\n');
}

describe('lineStats', () => {
  it('is the exact line diff while the edit is within the limit', () => {
    const cases: [string, string][] = [
      ['', ''],
      ['a\n', ''],
      ['', 'a\n'],
      ['a\nb\nc\n', 'a\nc\n'],
      ['a\nb', 'a\nb\n'],
      ['a\r\nb\r\n', 'a\nb\n'],
      [file(300, 1), edit(file(300, 1), 7, 1)],
      [file(2000, 2), edit(file(2000, 2), 10, 2)],
    ];
    for (const [b, a] of cases) expect(lineStats(b, a)).toEqual(exact(b, a));
  });

  it('never counts fewer removed or added lines than the exact diff past the limit', () => {
    // Each pair differs by more than the limit, so the bounded diff gives up and the fallback counts.
    const pairs: [string, string][] = [
      [file(3000, 3), edit(file(3000, 3), 2, 3)],
      [file(3000, 4), file(3000, 5)],
      [file(3000, 6), file(1200, 6)],
      [file(2500, 7), edit(file(2500, 7), 3, 7).split('\n').reverse().join('\n')],
    ];
    for (const [b, a] of pairs) {
      const want = exact(b, a);
      expect(want.added + want.removed).toBeGreaterThan(EXACT_EDIT_LIMIT);
      const got = lineStats(b, a);
      expect(got.removed).toBeGreaterThanOrEqual(want.removed);
      expect(got.added).toBeGreaterThanOrEqual(want.added);
      // Both sides move together: added - removed is the change in line count, exactly.
      expect(got.added - got.removed).toBe(want.added - want.removed);
    }
  });

  it('counts a whole-file rewrite of a large file as all lines replaced', () => {
    const before = file(10_000, 8);
    const after = before.replace(/line/g, 'row');
    const got = lineStats(before, after);
    const kept = before.split('\n').filter((l) => l === '});').length;
    // The closing lines are the same text, not unique, so the fallback does not claim them.
    expect(got.removed).toBeGreaterThanOrEqual(10_000 - kept);
    expect(got.removed).toBeLessThanOrEqual(10_000);
  });
});

describe('commonSubsequenceLength', () => {
  it('is a common subsequence: never longer than the longest one (checked by dynamic programming)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const a = file(40 + seed, seed).split('\n');
      const b = edit(file(40 + seed, seed), 3 + (seed % 4), seed)
        .split('\n')
        .reverse();
      expect(commonSubsequenceLength(a, b)).toBeLessThanOrEqual(lcs(a, b));
    }
  });

  it('finds the shared head, tail and unique lines', () => {
    expect(commonSubsequenceLength(['a', 'b', 'c', 'd'], ['a', 'x', 'c', 'd'])).toBe(3);
    expect(commonSubsequenceLength(['u', 'v', 'w'], ['w', 'v', 'u'])).toBe(1);
    expect(commonSubsequenceLength(['p', 'q', 'r', 's'], ['z', 'q', 's', 'y'])).toBe(2);
  });
});

function lcs(a: string[], b: string[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (const x of a) {
    let diag = 0;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = x === b[j - 1] ? diag + 1 : Math.max(row[j]!, row[j - 1]!);
      diag = up;
    }
  }
  return row[b.length]!;
}
