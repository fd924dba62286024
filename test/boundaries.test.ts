// The package graph of docs/ARCHITECTURE.md, enforced: .dependency-cruiser.cjs holds the rules.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@prbot/test-support';

const DEPCRUISE = path.join(REPO_ROOT, 'node_modules', '.bin', 'depcruise');
const CONFIG = path.join(REPO_ROOT, '.dependency-cruiser.cjs');

interface Violation { rule: { name: string }; from: string; to: string }
async function cruise(cwd: string): Promise<Violation[]> {
  const r = await execa(DEPCRUISE, ['--config', CONFIG, '--output-type', 'json', 'apps', 'packages'], { cwd, reject: false });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout).summary.violations;
}

describe('package boundaries', () => {
  it("core's public surface is explicit: no `export *` in packages/core/src/index.ts", async () => {
    // Fix after a merge: node scripts/explicit-exports.mjs
    const r = await execa(process.execPath, [path.join(REPO_ROOT, 'scripts', 'explicit-exports.mjs'), '--check'], { reject: false });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('the workspace keeps them: no app imports another app, no production code imports test support', async () => {
    const violations = await cruise(REPO_ROOT);
    expect(violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)).toEqual([]);
  });

  it('the rules catch an app importing another app and production code importing @prbot/test-support', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'prbot-boundaries-'));
    try {
      const put = async (file: string, text: string) => {
        await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
        await writeFile(path.join(dir, file), text);
      };
      await put('apps/worker/src/main.ts', "import { x } from '../../dashboard/src/server.ts';\nexport const y = x;\n");
      await put('apps/dashboard/src/server.ts', 'export const x = 1;\n');
      await put('packages/control/src/status.ts', "import '@prbot/test-support';\n");
      await put('packages/control/src/status.test.ts', "import '@prbot/test-support';\n"); // tests may
      const found = (await cruise(dir)).map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
      expect(found).toEqual([
        'app-imports-app: apps/worker/src/main.ts → apps/dashboard/src/server.ts',
        'control-imports-core-and-policy: packages/control/src/status.ts → @prbot/test-support',
        'production-imports-test-support: packages/control/src/status.ts → @prbot/test-support',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
