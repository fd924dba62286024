import { describe, expect, it } from 'vitest';
import { commandsIn, testSurface } from './test-surface.ts';

const reader = (files: Record<string, string>) => async (f: string) => files[f] ?? null;

describe('testSurface: what the configured commands reach in the base tree', () => {
  it('follows package.json scripts through npm run / pnpm / yarn calls, with their pre/post scripts', async () => {
    const pkg = JSON.stringify({
      scripts: {
        test: 'pnpm lint && vitest run',
        lint: 'npm run fmt && eslint .',
        fmt: 'prettier --check .',
        prefmt: 'node scripts/gen.js',
        docs: 'typedoc',
      },
    });
    const s = await testSurface([['npm', 'test']], reader({ 'package.json': pkg }));
    expect([...s.scripts]).toEqual(expect.arrayContaining(['test', 'pretest', 'posttest', 'lint', 'fmt', 'prefmt']));
    expect(s.scripts.has('docs')).toBe(false);
    expect([...s.tools]).toEqual(expect.arrayContaining(['npm', 'pnpm', 'vitest', 'eslint', 'prettier', 'node']));
    expect(s.files.has('scripts/gen.js')).toBe(true);
  });

  it('follows make targets (and their prerequisites and $(MAKE) calls) into scripts and shell files', async () => {
    const makefile =
      'all: build\n\nbuild:\n\tgo build ./...\n\ncheck: lint unit\n\nlint:\n\t@$(MAKE) fmt\n\nfmt:\n\tsh scripts/fmt.sh\n\nunit:\n\tgo test ./...\n\ndocs:\n\tnpm run docs\n';
    const s = await testSurface(
      [['make', 'check']],
      reader({
        Makefile: makefile,
        'scripts/fmt.sh': '#!/bin/sh\ngofmt -l . && npm run vet\n',
        'package.json': JSON.stringify({ scripts: { vet: 'eslint .' } }),
      }),
    );
    expect(s.files.has('makefile')).toBe(true);
    expect(s.files.has('scripts/fmt.sh')).toBe(true);
    expect([...s.tools]).toEqual(expect.arrayContaining(['go', 'gofmt', 'eslint']));
    expect(s.scripts.has('vet')).toBe(true);
    expect(s.scripts.has('docs')).toBe(false);
  });

  it('follows tox envs and nox sessions', async () => {
    const tox =
      '[tox]\nenvlist = py,lint\n\n[testenv]\ndeps = pytest\ncommands =\n    pytest {posargs}\n    python -m mypy src\n\n[testenv:lint]\ncommands = ruff check .\n';
    const s = await testSurface([['tox']], reader({ 'tox.ini': tox }));
    expect([...s.tools]).toEqual(expect.arrayContaining(['pytest', 'mypy', 'ruff']));
    const nox =
      'import nox\n\n@nox.session\ndef tests(session):\n    session.install("pytest")\n    session.run("pytest", "-q")\n    session.run("flake8", "src")\n';
    const n = await testSurface([['nox', '-s', 'tests']], reader({ 'noxfile.py': nox }));
    expect([...n.tools]).toEqual(expect.arrayContaining(['pytest', 'flake8']));
  });

  it('sees through wrappers: sh -c, npx, cross-env, uv run, python -m', async () => {
    const s = await testSurface([['sh', '-c', 'CI=1 npx -y vitest run && uv run python -m pytest']], reader({}));
    expect([...s.tools]).toEqual(expect.arrayContaining(['vitest', 'python', 'pytest']));
  });

  it('finds the command a coverage wrapper runs after its options (`c8 --reporter lcov npm run x`)', async () => {
    const pkg = JSON.stringify({
      scripts: {
        'test-coverage': 'c8 --check-coverage --100 --reporter lcov npm run test-api',
        'test-api': 'node --conditions development test.js',
      },
    });
    const s = await testSurface(
      [['sh', '-c', 'PATH="$PWD/.tools/node_modules/.bin:/usr/bin:/bin" exec npm run test-coverage']],
      reader({ 'package.json': pkg }),
    );
    expect([...s.scripts]).toEqual(expect.arrayContaining(['test-coverage', 'test-api']));
    expect([...s.direct]).toEqual(['pretest-coverage', 'test-coverage', 'posttest-coverage']);
    expect([...s.tools]).toEqual(expect.arrayContaining(['c8', 'npm', 'node']));
    expect(s.files.has('test.js')).toBe(true);
  });

  it('stops on a script that calls itself', async () => {
    const s = await testSurface(
      [['npm', 'test']],
      reader({ 'package.json': JSON.stringify({ scripts: { test: 'npm test && npm run test' } }) }),
    );
    expect(s.scripts.has('test')).toBe(true);
  });

  it('splits shell text into simple commands, quotes removed', () => {
    expect(commandsIn(`a && b "c d" || e; f | g 'h i'\nif x; then y; fi`)).toEqual([
      ['a'],
      ['b', 'c d'],
      ['e'],
      ['f'],
      ['g', 'h i'],
      ['x'],
      ['y'],
    ]);
  });
});
