import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { caEnv, edit, guardOff, runLibrary, type Files, type Library } from './support.ts';

// The control cycles' switch (support.ts, GUARD_OFF_MARK): their proposals carry the mark file.
vi.mock('@prbot/repo', async (importOriginal) => {
  const repo = await importOriginal<typeof import('@prbot/repo')>();
  return {
    ...repo,
    testGuardRefusal: (...a: Parameters<typeof repo.testGuardRefusal>) =>
      a[0].some((c) => c.path === 'docs/guard-off-control.md') ? null : repo.testGuardRefusal(...a),
  };
});

/**
 * wooorm/ccount, plain JavaScript tested with node:test, run as its own `test-coverage` script:
 * `c8 --check-coverage --100 … npm run test-api`, which calls the `test-api` script
 * (`node --conditions development test.js`). The configured command names only
 * `test-coverage`; the guard follows it to `test-api`. The break: an empty value counts as the
 * substring. It fails the third assertion of the one test, after every line and branch has run,
 * so c8's 100 % check passes once the failure is ignored (as each weakening below does).
 */
const BREAK = edit('index.js', '  const source = String(value)\n', '  const source = String(value) || substring\n');

const FORMS: Record<string, { files: Files; file: string; rule: string; why: RegExp }> = {
  'the configured script made to ignore failures': {
    files: [
      edit(
        'package.json',
        '"test-coverage": "c8 --check-coverage --100 --reporter lcov npm run test-api"',
        '"test-coverage": "c8 --check-coverage --100 --reporter lcov npm run test-api || true"',
      ),
    ],
    file: 'package.json',
    rule: 'js.package-json',
    why: /edits the "test-coverage" script, which the setup or test commands run/,
  },
  // The case: `"test": "pnpm lint && vitest run"` with `lint` weakened; here the script the configured one calls.
  'the script it calls made to ignore failures': {
    files: [
      edit(
        'package.json',
        '"test-api": "node --conditions development test.js"',
        '"test-api": "node --conditions development test.js || exit 0"',
      ),
    ],
    file: 'package.json',
    rule: 'js.package-json',
    why: /edits the "test-api" script, which a script the setup or test commands run calls/,
  },
};

const GAPS: Record<string, Files> = {
  'Return 0 for an empty `substring` in `ccount` instead of looping forever': [
    edit('index.js', '  let count = 0\n', '  if (substring.length === 0) return 0\n\n  let count = 0\n'),
    edit(
      'test.js',
      "  assert.equal(ccount('a🤔b🤔c', '🤔'), 2)\n",
      "  assert.equal(ccount('a🤔b🤔c', '🤔'), 2)\n  assert.equal(ccount('abc', ''), 0, 'should not loop on an empty substring')\n",
    ),
  ],
  'Let `ccount` count an empty value as the substring (the break alone)': [BREAK],
  ...Object.fromEntries(
    Object.entries(FORMS).flatMap(([form, f]) => [
      [`Count ccount matches with ${form}`, [BREAK, ...f.files]],
      [`Control, guard off: count ccount matches with ${form}`, [BREAK, ...f.files, guardOff]],
    ]),
  ),
};

let lib: Library;
beforeAll(async () => {
  lib = await runLibrary('ccount', GAPS, {
    // c8 only (the library's other dev dependencies are its linters and compilers), into a
    // directory of its own that is kept between cycles; setup is the one phase with a network.
    setup: [
      [
        'npm',
        'install',
        '--no-save',
        '--no-package-lock',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--prefix',
        '.tools',
        'c8@10.1.3',
      ],
    ],
    commands: [['sh', '-c', 'PATH="$PWD/.tools/node_modules/.bin:/usr/bin:/bin" exec npm run test-coverage']],
    cacheDirs: ['node_modules', '.tools'],
    network: 'setup',
    env: caEnv(),
  });
});
afterAll(async () => lib?.close());

describe('JavaScript, node:test: wooorm/ccount', () => {
  it('a genuine fix with its test → ok (node:test green and 100 % coverage in the sandbox, draft PR opened)', () => {
    expect(lib.byGap('looping forever')).toMatchObject({ outcome: 'ok' });
  });

  it("a wrong change → tests_failed, the reason showing node:test's expected and actual", () => {
    const r = lib.byGap('(the break alone)');
    expect(r.outcome).toBe('tests_failed');
    expect(r.reason).toMatch(/not ok 1 - ccount\(value, character\)/);
    expect(r.reason).toMatch(/Expected values to be strictly equal:\s+1 !== 0/);
  });

  it.each(Object.entries(FORMS))('%s → proposal_rejected naming the file and the rule', (form, f) => {
    const r = lib.byGap(`Count ccount matches with ${form}`);
    expect(r.outcome).toBe('proposal_rejected');
    expect(r.reason).toMatch(
      new RegExp(`^test guard: ${f.file.replace(/\./g, '\\.')}: the change .*\\(rule ${f.rule.replace('.', '\\.')}:`),
    );
    expect(r.reason).toMatch(f.why);
    expect(r.branch).toBeNull();
  });

  it.each(Object.keys(FORMS))('control: %s alone makes the broken change green (guard off → ok)', (form) => {
    expect(lib.byGap(`Control, guard off: count ccount matches with ${form}`)).toMatchObject({ outcome: 'ok' });
  });
});
