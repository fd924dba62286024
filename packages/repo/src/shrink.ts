import { countLines, type Change } from '@prbot/core';

/**
 * Test cases a file declares, across the common runners: ava/jest/vitest/mocha/node:test
 * (`test(`, `it(`, `test.serial(` …), pytest (`def test_`), Go (`func TestX(`), Rust (`#[test]`),
 * JUnit (`@Test`). A per-language scan is enough: the guard compares a file with itself.
 */
const TEST_CASE = [
  /^[ \t]*(?:test|it|specify)(?:\.(?:only|skip|todo|serial|failing|concurrent|each\s*(?:\([^)]*\)|`[^`]*`)))*\s*\(/gm,
  /^[ \t]*(?:async\s+)?def\s+test_?\w*\s*\(/gm,
  /^func\s+(?:Test|Benchmark|Fuzz|Example)\w*\s*\(/gm,
  /#\[(?:\w+::)*test\]/g,
  /@Test\b/g,
];

export function countTestCases(text: string): number {
  let n = 0;
  for (const re of TEST_CASE) n += text.match(re)?.length ?? 0;
  return n;
}

/** Words by which a gap asks for removal; then shrinking a file is what was asked. */
const ASKS_REMOVAL =
  /\b(remov(e|es|ed|ing|al)|delet(e|es|ed|ing|ion)|drop(s|ped|ping)?|prun(e|es|ed|ing)|strip(s|ped|ping)?|get rid|clean(s|ed|ing)? up|deprecat(e|es|ed|ing)|replac(e|es|ed|ing)|rewrit(e|es|ing)|trim(s|med|ming)?)\b/i;

export function gapAsksForRemoval(gapText: string): boolean {
  return ASKS_REMOVAL.test(gapText);
}

/**
 * Why a change set removes too much, or null. A proposal that removes more than `maxShrink` of a
 * file's lines, or any of its test cases, when the gap does not ask for removal, is refused with
 * the numbers: a model answering with a whole file it only saw in part wiped a 439-line test file
 * in a PR that was otherwise green.
 */
export function shrinkRefusal(
  changes: Change[],
  base: Map<string, string>,
  gapText: string,
  maxShrink: number,
): string | null {
  if (gapAsksForRemoval(gapText)) return null;
  for (const c of changes) {
    if (c.action !== 'UPDATE') continue;
    const old = base.get(c.path);
    if (old === undefined || !c.lines) continue;
    const total = countLines(old);
    if (total > 0 && c.lines.removed > maxShrink * total) {
      const pct = ((100 * c.lines.removed) / total).toFixed(1);
      return `${c.path}: the proposal removes ${c.lines.removed} of its ${total} lines (${pct} %, +${c.lines.added} −${c.lines.removed}); guardrails.maxShrink allows ${Math.round(maxShrink * 100)} % when the gap does not ask for removal`;
    }
    const before = countTestCases(old);
    const after = countTestCases(c.content);
    if (after < before) {
      return `${c.path}: the proposal removes ${before - after} test case(s) (${before} → ${after}) and the gap does not ask for removal`;
    }
  }
  return null;
}
