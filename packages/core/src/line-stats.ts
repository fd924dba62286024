import { diffLines } from 'diff';

export interface LineStats {
  added: number;
  removed: number;
}

/**
 * The edit distance (lines added + removed) up to which the exact diff runs. Myers' diff costs
 * about (lines × distance): a model rewriting a 10,000-line file whole took a minute of a worker's
 * CPU before this bound. Past it the count comes from a common subsequence found in n log n.
 */
export const EXACT_EDIT_LIMIT = 1000;

/**
 * Lines added and removed between two texts (a line diff, as `git diff --stat` counts). Past
 * `EXACT_EDIT_LIMIT` the counts are upper bounds: the matched lines are a common subsequence, never
 * more than the longest one, so `removed` is never under-counted (the shrink guards rely on it).
 */
export function lineStats(before: string, after: string): LineStats {
  const parts = diffLines(before, after, { maxEditLength: EXACT_EDIT_LIMIT });
  if (parts) {
    let added = 0;
    let removed = 0;
    for (const part of parts) {
      if (part.added) added += part.count ?? 0;
      else if (part.removed) removed += part.count ?? 0;
    }
    return { added, removed };
  }
  const a = splitLines(before);
  const b = splitLines(after);
  const matched = commonSubsequenceLength(a, b);
  return { added: b.length - matched, removed: a.length - matched };
}

/** Lines as `diffLines` sees them: each keeps its newline, so a missing last newline differs. */
function splitLines(s: string): string[] {
  return s === '' ? [] : (s.match(/[^\n]*\n|[^\n]+$/g) ?? []);
}

/**
 * The length of a common subsequence of `a` and `b`: the common head and tail, plus, in between,
 * the lines that occur once in each, kept in an order both share (patience diff's anchors,
 * through a longest increasing subsequence). A lower bound of the longest common subsequence.
 */
export function commonSubsequenceLength(a: readonly string[], b: readonly string[]): number {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);
  const once = (xs: readonly string[]) => {
    const seen = new Map<string, number>();
    xs.forEach((x, i) => seen.set(x, seen.has(x) ? -1 : i));
    return seen;
  };
  const inB = once(midB);
  const order: number[] = [];
  for (const [line, i] of once(midA)) {
    const j = inB.get(line);
    // Map order is first-occurrence order: for lines that occur once, their order in `a`.
    if (i >= 0 && j !== undefined && j >= 0) order.push(j);
  }
  return head + tail + increasingRunLength(order);
}

/** Length of the longest strictly increasing subsequence (patience sorting, n log n). */
function increasingRunLength(xs: readonly number[]): number {
  const tops: number[] = [];
  for (const x of xs) {
    let lo = 0;
    let hi = tops.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (tops[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    tops[lo] = x;
  }
  return tops.length;
}
