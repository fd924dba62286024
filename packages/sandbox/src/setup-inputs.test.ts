import { describe, expect, it } from 'vitest';
import { DEFAULT_SETUP_INPUTS, globRegExp } from './setup-inputs.ts';

const matchesDefault = (file: string) => DEFAULT_SETUP_INPUTS.some((g) => globRegExp(g).test(file));

describe('setup inputs', () => {
  it('the defaults take the manifests and lockfiles of each ecosystem, at any depth', () => {
    for (const f of [
      'package.json',
      'package-lock.json',
      'pnpm-lock.yaml',
      'yarn.lock',
      'packages/a/package.json',
      'pyproject.toml',
      'requirements.txt',
      'requirements-dev.txt',
      'setup.cfg',
      'go.mod',
      'go.sum',
      'Cargo.toml',
      'Cargo.lock',
      'crates/x/Cargo.toml',
    ])
      expect(matchesDefault(f), f).toBe(true);
  });

  it('leave source files, tests and look-alike names out', () => {
    for (const f of ['index.js', 'src/package.json.bak', 'test/go.mod.txt', 'docs/requirements.md', 'mypackage.json'])
      expect(matchesDefault(f), f).toBe(false);
  });

  it('globs: * stays within a name, ** spans directories, dots are literal', () => {
    expect(globRegExp('*.lock').test('yarn.lock')).toBe(true);
    expect(globRegExp('*.lock').test('a/yarn.lock')).toBe(false);
    expect(globRegExp('**/*.lock').test('a/b/yarn.lock')).toBe(true);
    expect(globRegExp('deps/**').test('deps/a/b')).toBe(true);
    expect(globRegExp('a.b').test('axb')).toBe(false);
  });
});
