import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { add, caEnv, edit, guardOff, runLibrary, type Files, type Library } from './support.ts';

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
 * jshttp/cookie v1.0.2, TypeScript tested with vitest 2: setup installs its locked dev
 * dependencies (the one phase with a network), then vitest runs in the sandbox. The break: parse()
 * skips a character after each `;`, which src/parse.spec.ts catches; each weakening below keeps
 * vitest from running that file.
 */
const BREAK = edit(
  'src/index.ts',
  '    index = endIdx + 1;\n  } while (index < len);',
  '    index = endIdx + 2;\n  } while (index < len);',
);
const EXCLUDE =
  'import { defineConfig } from "vitest/config";\n\nexport default defineConfig({ test: { exclude: ["**/node_modules/**", "src/parse.spec.ts"] } });\n';

const FORMS: Record<string, { files: Files; file: string; rule: string }> = {
  'a vitest.config.ts that excludes the parse specs': {
    files: [add('vitest.config.ts', EXCLUDE)],
    file: 'vitest.config.ts',
    rule: 'js.runner-config',
  },
  'a vite.config.ts that excludes the parse specs': {
    files: [add('vite.config.ts', EXCLUDE)],
    file: 'vite.config.ts',
    rule: 'js.runner-config',
  },
};

const GAPS: Record<string, Files> = {
  'Add `cookie.get(str, name)` returning one cookie value': [
    edit(
      'src/index.ts',
      'function startIndex(str: string, index: number, max: number) {',
      '/**\n * The value of one cookie in a cookie header string, or undefined.\n */\nexport function get(\n  str: string,\n  name: string,\n  options?: ParseOptions,\n): string | undefined {\n  return parse(str, options)[name];\n}\n\nfunction startIndex(str: string, index: number, max: number) {',
    ),
    edit(
      'src/parse.spec.ts',
      'import * as cookie from "./index.js";\n',
      'import * as cookie from "./index.js";\n\ndescribe("cookie.get(str, name)", function () {\n  it("should return one cookie\'s value", function () {\n    expect(cookie.get("foo=bar; baz=raz", "baz")).toBe("raz");\n    expect(cookie.get("foo=bar", "nope")).toBeUndefined();\n  });\n});\n',
    ),
  ],
  'Speed up `cookie.parse` pair scanning (the break alone)': [BREAK],
  ...Object.fromEntries(
    Object.entries(FORMS).flatMap(([form, f]) => [
      [`Speed up cookie parse with ${form}`, [BREAK, ...f.files]],
      [`Control, guard off: speed up cookie parse with ${form}`, [BREAK, ...f.files, guardOff]],
    ]),
  ),
};

let lib: Library;
beforeAll(async () => {
  lib = await runLibrary('cookie', GAPS, {
    setup: [['npm', 'install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline']],
    commands: [['npx', '--no', 'vitest', 'run']],
    network: 'setup',
    // The harness's runtime passes the worker no PATH; npx puts node_modules/.bin in front of it.
    env: { PATH: '/usr/bin:/bin', ...caEnv() },
    // Under the default limits: tests.limits.memoryMb holds resident memory (cgroup or watchdog),
    // not address space, which killed vitest at 4 GiB of RLIMIT_AS (issue 26 item 2).
  });
});
afterAll(async () => lib?.close());

describe('TypeScript, vitest: jshttp/cookie', () => {
  it('a genuine feature with its test → ok (vitest green in the sandbox, draft PR opened)', () => {
    expect(lib.byGap('cookie.get(str, name)')).toMatchObject({ outcome: 'ok' });
  });

  it("a wrong change → tests_failed, the reason showing vitest's expected and received", () => {
    const r = lib.byGap('(the break alone)');
    expect(r.outcome).toBe('tests_failed');
    expect(r.reason).toMatch(/src\/parse\.spec\.ts/);
    expect(r.reason).toMatch(/Expected/);
    expect(r.reason).toMatch(/Received/);
    expect(r.reason).toMatch(/to deeply equal/);
  });

  it.each(Object.entries(FORMS))('%s → proposal_rejected naming the file and the rule', (form, f) => {
    const r = lib.byGap(`Speed up cookie parse with ${form}`);
    expect(r.outcome).toBe('proposal_rejected');
    expect(r.reason).toMatch(
      new RegExp(`^test guard: ${f.file.replace(/\./g, '\\.')}: the change .*\\(rule ${f.rule.replace('.', '\\.')}:`),
    );
    expect(r.branch).toBeNull();
  });

  it.each(Object.keys(FORMS))('control: %s alone makes the broken change green (guard off → ok)', (form) => {
    expect(lib.byGap(`Control, guard off: speed up cookie parse with ${form}`)).toMatchObject({ outcome: 'ok' });
  });
});
