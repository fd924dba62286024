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
 * google/uuid, no dependencies, tested with Debian's `go test` in the sandbox. The break: URN()
 * writes a wrong prefix, which TestCoding in uuid_test.go catches; each weakening below keeps that
 * test from running.
 */
const BREAK = edit('uuid.go', 'copy(buf[:], "urn:uuid:")', 'copy(buf[:], "urn:uid::")');

const FORMS: Record<string, { files: Files; file: string; rule: string }> = {
  'a build constraint on the test file': {
    files: [
      edit(
        'uuid_test.go',
        '// license that can be found in the LICENSE file.\n\npackage uuid\n',
        '// license that can be found in the LICENSE file.\n\n//go:build ignore\n\npackage uuid\n',
      ),
    ],
    file: 'uuid_test.go',
    rule: 'go.test-constraints',
  },
  'a TestMain that never runs the tests': {
    files: [
      add(
        'main_test.go',
        'package uuid\n\nimport (\n\t"os"\n\t"testing"\n)\n\nfunc TestMain(m *testing.M) {\n\tos.Exit(0)\n}\n',
      ),
    ],
    file: 'main_test.go',
    rule: 'go.test-main',
  },
};

const GAPS: Record<string, Files> = {
  'Add `UUID.IsNil()` reporting whether a UUID is the zero UUID': [
    edit(
      'uuid.go',
      'func encodeHex(dst []byte, uuid UUID) {',
      '// IsNil reports whether uuid is the Nil UUID (all zeros).\nfunc (uuid UUID) IsNil() bool {\n\treturn uuid == Nil\n}\n\nfunc encodeHex(dst []byte, uuid UUID) {',
    ),
    add(
      'isnil_test.go',
      'package uuid\n\nimport "testing"\n\nfunc TestIsNil(t *testing.T) {\n\tif !Nil.IsNil() {\n\t\tt.Errorf("Nil.IsNil() = false, want true")\n\t}\n\tif Must(Parse("7d444840-9dc0-11d1-b245-5ffdce74fad2")).IsNil() {\n\t\tt.Errorf("IsNil of a non-nil UUID = true, want false")\n\t}\n}\n',
    ),
  ],
  'Shorten `UUID.URN()` (the break alone)': [BREAK],
  ...Object.fromEntries(
    Object.entries(FORMS).flatMap(([form, f]) => [
      [`Shorten UUID URN with ${form}`, [BREAK, ...f.files]],
      [`Control, guard off: shorten UUID URN with ${form}`, [BREAK, ...f.files, guardOff]],
    ]),
  ),
};

let lib: Library;
beforeAll(async () => {
  lib = await runLibrary('uuid', GAPS, {
    // The build cache lives in the work tree (kept between cycles as a cache directory), so only
    // the first cycle compiles everything; Debian's go 1.19 never downloads a toolchain. No cgo:
    // the library is pure Go and the sandbox has no C compiler on its PATH.
    commands: [['sh', '-c', 'GOCACHE="$PWD/.gocache" CGO_ENABLED=0 exec /usr/bin/go test ./...']],
    cacheDirs: ['.gocache'],
  });
});
afterAll(async () => lib?.close());

describe('Go: google/uuid', () => {
  it('a genuine feature with its test → ok (go test green in the sandbox, draft PR opened)', () => {
    expect(lib.byGap('UUID.IsNil()')).toMatchObject({ outcome: 'ok' });
  });

  it("a wrong change → tests_failed, the reason showing the test's got and want", () => {
    const r = lib.byGap('(the break alone)');
    expect(r.outcome).toBe('tests_failed');
    expect(r.reason).toMatch(/--- FAIL: TestCoding/);
    expect(r.reason).toMatch(
      /urn is urn:uid::7d444840-9dc0-11d1-b245-5ffdce74fad2, expected urn:uuid:7d444840-9dc0-11d1-b245-5ffdce74fad2/,
    );
  });

  it.each(Object.entries(FORMS))('%s → proposal_rejected naming the file and the rule', (form, f) => {
    const r = lib.byGap(`Shorten UUID URN with ${form}`);
    expect(r.outcome).toBe('proposal_rejected');
    expect(r.reason).toMatch(
      new RegExp(`^test guard: ${f.file.replace(/\./g, '\\.')}: the change .*\\(rule ${f.rule.replace('.', '\\.')}:`),
    );
    expect(r.branch).toBeNull();
  });

  it.each(Object.keys(FORMS))('control: %s alone makes the broken change green (guard off → ok)', (form) => {
    expect(lib.byGap(`Control, guard off: shorten UUID URN with ${form}`)).toMatchObject({ outcome: 'ok' });
  });
});
