// The package graph of docs/ARCHITECTURE.md, enforced: .dependency-cruiser.cjs holds the rules,
// knip.jsonc the unused-export and undeclared-dependency check, .prettierrc.json the format.
// Each check runs over the tree, and each is shown to fail on a planted violation.
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@prbot/test-support';

const bin = (name: string) => path.join(REPO_ROOT, 'node_modules', '.bin', name);
const CONFIG = path.join(REPO_ROOT, '.dependency-cruiser.cjs');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}
async function cruise(cwd: string): Promise<string[]> {
  const r = await execa(bin('depcruise'), ['--config', CONFIG, '--output-type', 'json', 'apps', 'packages'], {
    cwd,
    reject: false,
  });
  expect(r.stderr).toBe('');
  const violations = JSON.parse(r.stdout).summary.violations as Violation[];
  return violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-boundaries-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
async function put(root: string, file: string, text: string): Promise<void> {
  await mkdir(path.dirname(path.join(root, file)), { recursive: true });
  await writeFile(path.join(root, file), text);
}

describe('package boundaries (dependency-cruiser)', () => {
  it('the workspace keeps every rule: no circle, each package imports only what its line allows, only through indexes', async () => {
    expect(await cruise(REPO_ROOT)).toEqual([]);
  });

  it('the rules catch a circle, a package importing above itself, a relative path into another package, an app importing an app and production code importing test support', async () => {
    const root = path.join(dir, 'cruise');
    await put(
      root,
      'apps/worker/src/main.ts',
      "import { x } from '../../dashboard/src/server.ts';\nexport const y = x;\n",
    );
    await put(root, 'apps/dashboard/src/server.ts', 'export const x = 1;\n');
    await put(root, 'packages/control/src/status.ts', "import '@prbot/test-support';\n");
    await put(root, 'packages/control/src/status.test.ts', "import '@prbot/test-support';\n"); // tests may
    // A circle inside a package.
    await put(root, 'packages/repo/src/a.ts', "import { b } from './b.ts';\nexport const a = b;\n");
    await put(root, 'packages/repo/src/b.ts', "import { a } from './a.ts';\nexport const b = () => a;\n");
    // core importing a package above it, through its index.
    await put(
      root,
      'packages/core/src/index.ts',
      "import { load } from '../../config/src/index.ts';\nexport const c = load;\n",
    );
    await put(root, 'packages/config/src/index.ts', 'export const load = 1;\n');
    // forge reaching into repo's files instead of its index.
    await put(
      root,
      'packages/forge/src/push.ts',
      "import { git } from '../../repo/src/git.ts';\nexport const p = git;\n",
    );
    await put(root, 'packages/repo/src/git.ts', 'export const git = 1;\n');
    // A stand-in borrowing prbot's own code (only the harness may).
    await put(
      root,
      'packages/test-support/src/upstream.ts',
      "import { git } from '@prbot/repo';\nexport const u = git;\n",
    );
    await put(
      root,
      'packages/test-support/src/harness.ts',
      "import { git } from '@prbot/repo';\nexport const h = git;\n",
    );
    expect(await cruise(root)).toEqual([
      'app-imports-app: apps/worker/src/main.ts → apps/dashboard/src/server.ts',
      'control-imports-only-core-config-repo-sandbox-model-forge-pipeline-policy: packages/control/src/status.ts → @prbot/test-support',
      'core-imports-only-npm: packages/core/src/index.ts → packages/config/src/index.ts',
      'no-circular: packages/repo/src/a.ts → packages/repo/src/b.ts',
      'production-imports-test-support: packages/control/src/status.ts → @prbot/test-support',
      'test-support-through-the-harness: packages/test-support/src/upstream.ts → @prbot/repo',
      'through-the-index: apps/worker/src/main.ts → apps/dashboard/src/server.ts',
      'through-the-index: packages/forge/src/push.ts → packages/repo/src/git.ts',
    ]);
  });

  it('no package index re-exports with `export *`: each names what it offers', async () => {
    const stars: string[] = [];
    for (const pkg of await readdir(path.join(REPO_ROOT, 'packages'))) {
      const text = await readFile(path.join(REPO_ROOT, 'packages', pkg, 'src', 'index.ts'), 'utf8').catch(() => '');
      if (/^export \*/m.test(text)) stars.push(pkg);
    }
    expect(stars).toEqual([]);
  });
});

describe('unused exports and undeclared dependencies (knip)', () => {
  it('the workspace has none', { timeout: 240_000 }, async () => {
    const r = await execa(bin('knip'), ['--no-progress', '--no-config-hints'], { cwd: REPO_ROOT, reject: false });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('knip with our config reports an index name nobody imports and an import of an undeclared package', async () => {
    const root = path.join(dir, 'knip');
    await put(root, 'package.json', '{ "name": "fixture", "private": true, "type": "module" }\n');
    await put(root, 'pnpm-workspace.yaml', 'packages:\n  - packages/*\n');
    await put(
      root,
      'packages/a/package.json',
      '{ "name": "@prbot/a", "private": true, "type": "module", "exports": { ".": "./src/index.ts" } }\n',
    );
    await put(root, 'packages/a/src/index.ts', 'export const used = 1;\nexport const unused = 2;\n');
    await put(
      root,
      'packages/b/package.json',
      '{ "name": "@prbot/b", "private": true, "type": "module", "exports": { ".": "./src/main.ts" }, "dependencies": { "@prbot/a": "workspace:*" } }\n',
    );
    await put(
      root,
      'packages/b/src/main.ts',
      "import { used } from '@prbot/a';\nimport leftPad from 'left-pad';\nconsole.log(leftPad(String(used), 2));\n",
    );
    await cp(path.join(REPO_ROOT, 'knip.jsonc'), path.join(root, 'knip.jsonc'));
    const r = await execa(bin('knip'), ['--no-progress', '--no-config-hints', '--reporter', 'json'], {
      cwd: root,
      reject: false,
    });
    expect(r.exitCode).toBe(1);
    const issues = JSON.parse(r.stdout).issues as {
      file: string;
      exports: { name: string }[];
      unlisted: { name: string }[];
    }[];
    const found = issues
      .flatMap((i) => [
        ...i.exports.map((e) => `export ${e.name} in ${i.file}`),
        ...i.unlisted.map((u) => `unlisted ${u.name} in ${i.file}`),
      ])
      .sort();
    expect(found).toEqual(['export unused in packages/a/src/index.ts', 'unlisted left-pad in packages/b/src/main.ts']);
  });
});

describe('format (prettier)', () => {
  // prettier reads every file: ~13 s of CPU on the 2-core machine, more when it is busy.
  it('the tree is formatted', { timeout: 240_000 }, async () => {
    const r = await execa(bin('prettier'), ['--check', '.'], { cwd: REPO_ROOT, reject: false });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('the check fails on a file that is not', async () => {
    const root = path.join(dir, 'format');
    await put(root, 'bad.ts', 'export const x = {a:1,b:[ 1,2 ]}\n');
    await cp(path.join(REPO_ROOT, '.prettierrc.json'), path.join(root, '.prettierrc.json'));
    const r = await execa(bin('prettier'), ['--check', '.'], { cwd: root, reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('bad.ts');
  });
});
