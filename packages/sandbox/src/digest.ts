/**
 * A digest of a failed test run for the retry prompt and the cycle record: the first failing
 * test's block with its expected and actual values, then the runner's summary line, within a
 * byte cap. Six "telling" lines were not enough: they dropped ava's `- actual / + expected`
 * diff, so the model retried blind.
 *
 * Each runner is recognised by how it starts a failure's block (checked on captured output of
 * ava 7, jest 30, vitest 4, mocha 12, node:test spec and TAP reporters, pytest 9, go test, cargo
 * test); unknown output falls back to the lines that look like assertions, then the last lines.
 */

interface Runner {
  name: string;
  /** Index of the line that starts the first failure's block, or -1. */
  start(lines: string[]): number;
  /** Whether line i (after the start) begins something else: the block ends before it. */
  ends(lines: string[], i: number, start: number): boolean;
  summary: RegExp;
}

const blank = (l: string | undefined) => l === undefined || l.trim() === '';
const find = (lines: string[], re: RegExp, from = 0) => {
  for (let i = from; i < lines.length; i++) if (re.test(lines[i]!)) return i;
  return -1;
};

const RUNNERS: Runner[] = [
  {
    name: 'ava',
    // ava prints failures after a `─` rule: title, file:line, code excerpt, "Difference (- actual, + expected)".
    start: (lines) => {
      const rule = find(lines, /^\s*─\s*$/);
      if (rule === -1) return -1;
      const i = lines.findIndex((l, k) => k > rule && !blank(l));
      return i === -1 || /^\s*─\s*$/.test(lines[i]!) ? -1 : i;
    },
    ends: (lines, i) =>
      /^\s*─\s*$/.test(lines[i]!) ||
      (blank(lines[i - 1]) && blank(lines[i - 2]) && blank(lines[i - 3]) && !blank(lines[i])),
    summary: /^\s*\d+ (tests? failed|known failure|uncaught exception|unhandled rejection)|^\s*\d+ tests? passed/,
  },
  {
    name: 'jest',
    start: (lines) => find(lines, /^\s*● (?!Test suite failed to run\s*$).*\S/),
    ends: (lines, i) => /^\s*● /.test(lines[i]!) || /^(Test Suites|Tests):/.test(lines[i]!),
    summary: /^Tests:\s+.*\d+ total/,
  },
  {
    name: 'vitest',
    start: (lines) => find(lines, /^\s*FAIL\s+\S.* > /),
    ends: (lines, i) => /⎯{3,}/.test(lines[i]!) || /^\s*FAIL\s+\S.* > /.test(lines[i]!),
    summary: /^\s*Tests\s+\d+ (failed|passed)/,
  },
  {
    name: 'mocha',
    start: (lines) => {
      const failing = find(lines, /^\s*\d+ failing\s*$/);
      return failing === -1 ? -1 : find(lines, /^\s*1\) /, failing + 1);
    },
    ends: (lines, i) => /^\s*\d+\) \S/.test(lines[i]!),
    summary: /^\s*\d+ failing\s*$/,
  },
  {
    name: 'node:test',
    start: (lines) => find(lines, /^\s*✖ (?!failing tests:).*\(\d[\d.]*m?s\)/),
    ends: (lines, i) => /^\s*[✔✖ℹ﹣] /.test(lines[i]!),
    summary: /^ℹ (fail|pass|tests) \d+/,
  },
  {
    name: 'tap',
    start: (lines) => find(lines, /^\s*not ok \d+/),
    ends: (lines, i, start) =>
      /^\s*(not )?ok \d+/.test(lines[i]!) || (/^\s*\.\.\.\s*$/.test(lines[i - 1] ?? '') && i - 1 > start),
    summary: /^#\s*(fail|pass|tests)\s+\d+/,
  },
  {
    name: 'pytest',
    start: (lines) => {
      const f = find(lines, /^=+ (FAILURES|ERRORS) =+$/);
      return f === -1 ? -1 : find(lines, /^_{3,} .+ _{3,}$/, f + 1);
    },
    ends: (lines, i) => /^_{3,} .+ _{3,}$/.test(lines[i]!) || /^={3,} /.test(lines[i]!),
    summary: /^=+ .*\b\d+ (failed|passed|error|errors)\b.* =+$/,
  },
  {
    name: 'go test',
    // `go test -v` prints a test's messages before its `--- FAIL` line; plain `go test` after it.
    start: (lines) => {
      const fail = find(lines, /^\s*--- FAIL: /);
      if (fail === -1) return -1;
      const name = /--- FAIL: (\S+)/.exec(lines[fail]!)![1]!;
      for (let k = fail - 1; k >= 0; k--) if (lines[k]!.startsWith(`=== RUN   ${name}`)) return k;
      return fail;
    },
    ends: (lines, i, start) =>
      /^(=== RUN|--- (PASS|FAIL|SKIP)|FAIL|ok|PASS)\b/.test(lines[i]!) &&
      !(
        lines[start]!.startsWith('=== RUN') &&
        /^\s*--- FAIL: /.test(lines[i]!) &&
        find(lines, /^\s*--- FAIL: /, start) === i
      ),
    summary: /^(FAIL|ok)\s+\S+\s+(\d[\d.]*s|\[)/,
  },
  {
    name: 'cargo test',
    start: (lines) => find(lines, /^---- .+ stdout ----$/),
    ends: (lines, i) =>
      /^---- .+ stdout ----$/.test(lines[i]!) ||
      /^(failures|successes):$/.test(lines[i]!) ||
      /^stack backtrace:$/.test(lines[i]!),
    summary: /^test result: /,
  },
];

/** Frames of the runner's or the runtime's own code: never what the model needs to see. */
const NOISE =
  /^\s*(at .*(node:internal|node_modules|node:async_hooks|\(node:)|at (process|Test|AsyncResource|TestContext\.<anonymous>)\b.*node:|\d+: .*(rust_begin_unwind|core::panicking|core::ops::function)|at \/rustc\/|\S.*\(node:[\w/]+:\d+:\d+\)$|node:internal\/\S+:\d+:\d+$)/;
const VALUES = /\b(expected|actual|received|left|right|want|got)\b\s*[:=]|!==|^\s*[-+] \S|^\s*[-+][^-+\s]/i;
const TELLING = /not ok|error|expected|actual|received|left:|right:|fail(ed|ing)?\b|assert|!==|panicked|want|got/i;

// ANSI escapes (colours, cursor moves): runners print them even into pipes at times.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;

export interface Digest {
  runner: string | null;
  text: string;
}

const DIGEST_BYTES = 2000;

/** The digest of a failed run's output; `maxBytes` caps the whole text (UTF-8 bytes). */
export function digestTestOutput(output: string, maxBytes = DIGEST_BYTES): Digest {
  const lines = output
    .replace(ANSI, '')
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((l) => l.replace(/\s+$/, ''));
  for (const r of RUNNERS) {
    const start = r.start(lines);
    if (start === -1) continue;
    let end = start + 1;
    while (end < lines.length && !r.ends(lines, end, start)) end++;
    const block = squeeze(lines.slice(start, end).filter((l) => !NOISE.test(l)));
    const summary = summaryOf(lines, r.summary);
    return { runner: r.name, text: fit(block, summary, maxBytes) };
  }
  const kept = lines.map((l) => l.trim()).filter(Boolean);
  const telling = kept.filter((l) => TELLING.test(l) && !/^# (fail|pass)/.test(l)).slice(0, 12);
  return { runner: null, text: fit(telling.length ? telling : kept.slice(-12), kept.at(-1) ?? '', maxBytes) };
}

/** The summary: every line of the run's closing counts that matches (node:test and TAP print several). */
function summaryOf(lines: string[], re: RegExp): string {
  const hits = lines.filter((l) => re.test(l)).map((l) => l.trim());
  return [...new Set(hits)].slice(-4).join('; ');
}

/** Blank runs collapse to one blank line; leading and trailing blanks go. */
function squeeze(lines: string[]): string[] {
  const out: string[] = [];
  for (const l of lines) if (!(blank(l) && blank(out.at(-1)))) out.push(l);
  while (blank(out[0]) && out.length) out.shift();
  while (blank(out.at(-1)) && out.length) out.pop();
  return out;
}

/**
 * Block, then summary, within the cap. A block too long keeps its head (title, message, and in
 * every runner here the expected/actual values come first), then the assertion-looking lines
 * that did not fit, and says how many lines it left out.
 */
function fit(block: string[], summary: string, maxBytes: number): string {
  const bytes = (s: string) => Buffer.byteLength(s);
  const tail = summary ? `\n${summary}` : '';
  const room = maxBytes - bytes(tail);
  const whole = block.join('\n');
  if (bytes(whole) <= room) return clip(whole + tail, maxBytes);
  const head: string[] = [];
  let used = 0;
  const reserve = Math.floor(room / 3);
  for (const l of block) {
    if (used + bytes(l) + 1 > room - reserve) break;
    head.push(l);
    used += bytes(l) + 1;
  }
  const rest = block.slice(head.length);
  // Values first (expected/actual/received/left/right, diff lines), then other assertion talk;
  // printed in their original order.
  const picked = new Set<number>();
  for (const re of [VALUES, TELLING]) {
    rest.forEach((l, k) => {
      if (picked.has(k) || !re.test(l) || used + bytes(l) + 1 > room - 40) return;
      picked.add(k);
      used += bytes(l) + 1;
    });
  }
  const extra = rest.filter((_, k) => picked.has(k));
  const cut = rest.length - extra.length;
  return clip(
    [...head, ...extra, `… (${cut} more line${cut === 1 ? '' : 's'} of this failure left out)`].join('\n') + tail,
    maxBytes,
  );
}

function clip(s: string, maxBytes: number): string {
  const b = Buffer.from(s);
  if (b.length <= maxBytes) return s;
  return (
    b
      .subarray(0, maxBytes - 3)
      .toString('utf8')
      .replace(/\uFFFD+$/, '') + '…'
  );
}
