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
 * cachetools (tkem/cachetools v7.0.6), tested with Debian's pytest in the sandbox. The break:
 * FIFOCache.popitem() returns the wrong value, which only tests/test_fifo.py catches; every
 * weakening below hides that file from pytest, and each is refused naming file and rule.
 */
const SRC = 'src/cachetools/__init__.py';
const POPITEM =
  '        """Remove and return the `(key, value)` pair first inserted."""\n        try:\n            key = next(iter(self.__order))\n        except StopIteration:\n            raise KeyError("%s is empty" % type(self).__name__) from None\n        else:\n            return (key, self.pop(key))\n';
const BREAK = edit(
  SRC,
  POPITEM,
  POPITEM.replace(
    '            return (key, self.pop(key))\n',
    '            self.pop(key)\n            return (key, None)\n',
  ),
);
const IGNORE = 'tests/test_fifo.py';

const FORMS: Record<string, { files: Files; file: string; rule: string }> = {
  'a new setup.cfg with [tool:pytest] addopts --deselect': {
    files: [add('setup.cfg', `[metadata]\nname = cachetools\n\n[tool:pytest]\naddopts = --deselect ${IGNORE}\n`)],
    file: 'setup.cfg',
    rule: 'py.setup-cfg',
  },
  'a new pytest.ini with addopts --ignore': {
    files: [add('pytest.ini', `[pytest]\naddopts = --ignore=${IGNORE}\n`)],
    file: 'pytest.ini',
    rule: 'py.pytest-ini',
  },
  'a pytest section added to pyproject.toml': {
    files: [
      edit(
        'pyproject.toml',
        '[tool.flake8]',
        `[tool.pytest.ini_options]\naddopts = "--ignore=${IGNORE}"\n\n[tool.flake8]`,
      ),
    ],
    file: 'pyproject.toml',
    rule: 'py.pyproject',
  },
  'a pytest section added to tox.ini': {
    files: [edit('tox.ini', '[tox]', `[pytest]\naddopts = --ignore=${IGNORE}\n\n[tox]`)],
    file: 'tox.ini',
    rule: 'py.tox-nox',
  },
  'a conftest.py that ignores the FIFO tests': {
    files: [add('tests/conftest.py', 'collect_ignore = ["test_fifo.py"]\n')],
    file: 'tests/conftest.py',
    rule: 'py.conftest',
  },
};

const GAPS: Record<string, Files> = {
  'Add `FIFOCache.peek()` returning the first inserted pair without removing it': [
    edit(
      SRC,
      POPITEM,
      `${POPITEM}\n    def peek(self):\n        """Return the \`(key, value)\` pair first inserted, without removing it."""\n        try:\n            key = next(iter(self.__order))\n        except StopIteration:\n            raise KeyError("%s is empty" % type(self).__name__) from None\n        else:\n            return (key, self[key])\n`,
    ),
    edit(
      'tests/test_fifo.py',
      '    def test_fifo_update_existing(self):',
      '    def test_fifo_peek(self):\n        cache = FIFOCache(maxsize=2)\n        cache[1] = 1\n        cache[2] = 2\n        self.assertEqual((1, 1), cache.peek())\n        self.assertEqual(2, len(cache))\n\n    def test_fifo_update_existing(self):',
    ),
  ],
  'Speed up `FIFOCache.popitem()` (the break alone)': [BREAK],
  ...Object.fromEntries(
    Object.entries(FORMS).flatMap(([form, f]) => [
      [`Speed up FIFOCache popitem with ${form}`, [BREAK, ...f.files]],
      [`Control, guard off: speed up FIFOCache popitem with ${form}`, [BREAK, ...f.files, guardOff]],
    ]),
  ),
};

let lib: Library;
beforeAll(async () => {
  lib = await runLibrary('cachetools', GAPS, {
    commands: [['/usr/bin/python3', '-m', 'pytest', '-q', '-p', 'no:cacheprovider']],
    env: { PYTHONPATH: 'src' },
  });
});
afterAll(async () => lib?.close());

describe('Python, pytest: cachetools', () => {
  it('a genuine feature with its test → ok (pytest green in the sandbox, draft PR opened)', () => {
    expect(lib.byGap('FIFOCache.peek()')).toMatchObject({ outcome: 'ok' });
  });

  it("a wrong change → tests_failed, the reason showing pytest's expected and actual", () => {
    const r = lib.byGap('(the break alone)');
    expect(r.outcome).toBe('tests_failed');
    expect(r.reason).toMatch(/\(1, 1\) != \(1, None\)/);
    expect(r.reason).toMatch(/tests\.test_fifo\.FIFOCacheTest/);
  });

  it.each(Object.entries(FORMS))('%s → proposal_rejected naming the file and the rule', (form, f) => {
    const r = lib.byGap(`Speed up FIFOCache popitem with ${form}`);
    expect(r.outcome).toBe('proposal_rejected');
    expect(r.reason).toMatch(
      new RegExp(`^test guard: ${f.file.replace(/\./g, '\\.')}: the change .*\\(rule ${f.rule.replace('.', '\\.')}:`),
    );
    expect(r.branch).toBeNull();
  });

  it.each(Object.keys(FORMS))('control: %s alone makes the broken change green (guard off → ok)', (form) => {
    expect(lib.byGap(`Control, guard off: speed up FIFOCache popitem with ${form}`)).toMatchObject({ outcome: 'ok' });
  });
});
