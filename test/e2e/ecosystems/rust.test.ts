import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { add, edit, guardOff, runLibrary, type Files, type Library } from './support.ts';

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
 * dtolnay/itoa 1.0.1, no dependencies, tested with Debian's `cargo test --offline` in the
 * sandbox. The break: 128-bit negatives get a `+` sign, which tests/test.rs catches (the doc tests
 * do not); each weakening below keeps tests/test.rs from running or from failing.
 */
const NEG128 =
  "                    if !is_nonnegative {\n                        curr -= 1;\n                        *buf_ptr.offset(curr) = b'-';\n                    }\n\n                    let len = buf.len() - curr as usize;\n                    let bytes = slice::from_raw_parts(";
const BREAK = edit('src/lib.rs', NEG128, NEG128.replace("b'-'", "b'+'"));

const FORMS: Record<string, { files: Files; file: string; rule: string }> = {
  'autotests = false in Cargo.toml': {
    files: [edit('Cargo.toml', 'edition = "2018"', 'edition = "2018"\nautotests = false')],
    file: 'Cargo.toml',
    rule: 'rust.cargo-toml',
  },
  'a crate-level cfg that compiles the test file out': {
    files: [edit('tests/test.rs', '#![allow(non_snake_case)]', '#![cfg(any())]\n#![allow(non_snake_case)]')],
    file: 'tests/test.rs',
    rule: 'rust.cfg-test',
  },
  'a build script that empties the test file': {
    files: [add('build.rs', 'fn main() {\n    std::fs::write("tests/test.rs", "").unwrap();\n}\n')],
    file: 'build.rs',
    rule: 'rust.build-script',
  },
  'a cargo config whose test runner is true': {
    files: [add('.cargo/config.toml', '[target.x86_64-unknown-linux-gnu]\nrunner = "true"\n')],
    file: '.cargo/config.toml',
    rule: 'rust.cargo-config',
  },
};

const GAPS: Record<string, Files> = {
  'Export `itoa::MAX_LEN`, the longest string `Buffer::format` can return': [
    edit(
      'src/lib.rs',
      'const I8_MAX_LEN: usize = 4;',
      '/// The length of the longest string [`Buffer::format`] returns (`i128::MIN`).\npub const MAX_LEN: usize = I128_MAX_LEN;\n\nconst I8_MAX_LEN: usize = 4;',
    ),
    edit(
      'tests/test.rs',
      '    test_i128_min(i128::min_value(), "-170141183460469231731687303715884105728")\n}\n',
      '    test_i128_min(i128::min_value(), "-170141183460469231731687303715884105728")\n}\n\n#[test]\nfn max_len_fits_i128_min() {\n    let mut buffer = itoa::Buffer::new();\n    assert_eq!(buffer.format(i128::min_value()).len(), itoa::MAX_LEN);\n}\n',
    ),
  ],
  'Simplify the 128-bit sign handling in `Buffer::format` (the break alone)': [BREAK],
  ...Object.fromEntries(
    Object.entries(FORMS).flatMap(([form, f]) => [
      [`Simplify 128-bit signs with ${form}`, [BREAK, ...f.files]],
      [`Control, guard off: simplify 128-bit signs with ${form}`, [BREAK, ...f.files, guardOff]],
    ]),
  ),
};

let lib: Library;
beforeAll(async () => {
  lib = await runLibrary('itoa', GAPS, {
    commands: [['/usr/bin/cargo', 'test', '--offline']],
    // Debian's toolchain, whatever else the worker's PATH holds (a rustup proxy outside /usr is not in
    // the sandbox); rustc finds its linker (cc) on PATH, which the harness's runtime leaves unset.
    env: { PATH: '/usr/bin:/bin', RUSTC: '/usr/bin/rustc', RUSTDOC: '/usr/bin/rustdoc' },
  });
});
afterAll(async () => lib?.close());

describe('Rust: dtolnay/itoa', () => {
  it('a genuine feature with its test → ok (cargo test green in the sandbox, draft PR opened)', () => {
    expect(lib.byGap('itoa::MAX_LEN')).toMatchObject({ outcome: 'ok' });
  });

  it("a wrong change → tests_failed, the reason showing assert_eq's left and right", () => {
    const r = lib.byGap('(the break alone)');
    expect(r.outcome).toBe('tests_failed');
    expect(r.reason).toMatch(/test_i128_min/);
    expect(r.reason).toMatch(/\+170141183460469231731687303715884105728/);
    expect(r.reason).toMatch(/-170141183460469231731687303715884105728/);
  });

  it.each(Object.entries(FORMS))('%s → proposal_rejected naming the file and the rule', (form, f) => {
    const r = lib.byGap(`Simplify 128-bit signs with ${form}`);
    expect(r.outcome).toBe('proposal_rejected');
    expect(r.reason).toMatch(
      new RegExp(`^test guard: ${f.file.replace(/\./g, '\\.')}: the change .*\\(rule ${f.rule.replace('.', '\\.')}:`),
    );
    expect(r.branch).toBeNull();
  });

  it.each(Object.keys(FORMS))('control: %s alone makes the broken change green (guard off → ok)', (form) => {
    expect(lib.byGap(`Control, guard off: simplify 128-bit signs with ${form}`)).toMatchObject({ outcome: 'ok' });
  });
});
