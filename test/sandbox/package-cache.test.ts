import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { packageCacheDefence } from '@prbot/sandbox';
import { cleanupDirs, planRig } from './support.ts';

/**
 * The package cache shared by the slots of a machine (tests.packageCache "shared"): written by
 * setup commands, mounted read-only into test commands, so model-written test code cannot plant
 * a package there for the next cycle, slot or repository. Real sandbox, real processes.
 */
afterAll(cleanupDirs);
afterEach(() => {
  packageCacheDefence.readOnlyInTests = true;
});

// What a poisoner does: overwrite a cached entry (npm's cache dir inside the sandbox).
const WRITE = (name: string) => [
  'node',
  '-e',
  `try { require('fs').writeFileSync(process.env.npm_config_cache + '/${name}', 'poison'); console.log('WROTE') } catch (e) { console.log('REFUSED ' + e.code); process.exit(3) }`,
];
const SETUP = ['sh', '-c', 'mkdir -p "$npm_config_cache" && echo good > "$npm_config_cache/entry"'];

async function rig() {
  return planRig({ 'package.json': JSON.stringify({ name: 'fx', version: '1.0.0' }), 'index.js': '' });
}

describe('the shared package cache', () => {
  it('setup writes it; a test command writing into it fails (EROFS) and the cache is unchanged', async () => {
    const r = await rig();
    const run = await r.cycle(await r.head(), { setup: [SETUP], commands: [WRITE('entry')], timeoutMs: 30_000 });
    const cache = path.join(r.work, 'package-cache', 'npm');
    expect(run.results[0]!.ok).toBe(true);
    expect(run.results[1]!.tail).toContain('REFUSED EROFS');
    expect(run.failure?.reason).toMatch(/test command/);
    expect(readFileSync(path.join(cache, 'entry'), 'utf8')).toBe('good\n');
  });

  it('positive control: with the cache mounted read-write into tests, the same command poisons it', async () => {
    const r = await rig();
    packageCacheDefence.readOnlyInTests = false;
    const run = await r.cycle(await r.head(), { setup: [SETUP], commands: [WRITE('entry')], timeoutMs: 30_000 });
    expect(run.failure).toBeNull();
    expect(run.results[1]!.tail).toContain('WROTE');
    expect(readFileSync(path.join(r.work, 'package-cache', 'npm', 'entry'), 'utf8')).toBe('poison');
  });

  it("is shared by the slots of the machine: a second slot reads what the first slot's setup cached", async () => {
    const r = await rig();
    const a = await r.pool.acquire();
    const b = await r.pool.acquire();
    try {
      await r.cycle(
        await r.head(),
        { setup: [SETUP, ['sh', '-c', 'id -u > "$npm_config_cache/uid-a"']], commands: [['true']], timeoutMs: 30_000 },
        a,
      );
      // b's setup runs as another uid than a's did, and still writes into what a's created.
      const read = await r.cycle(
        await r.head(),
        {
          setup: [['sh', '-c', 'echo b > "$npm_config_cache/from-b" && id -u > "$npm_config_cache/uid-b"']],
          commands: [
            [
              'sh',
              '-c',
              'cat "$npm_config_cache/entry"; echo "store=$(pnpm store path) import=$(pnpm config get package-import-method) pip=$PIP_CACHE_DIR"',
            ],
          ],
          timeoutMs: 30_000,
        },
        b,
      );
      expect(read.failure).toBeNull();
      expect(read.results[1]!.tail).toContain('good');
      expect(read.results[1]!.tail).toContain('store=/prbot/cache/pnpm-store/v10 import=copy pip=/prbot/cache/pip');
      const cache = path.join(r.work, 'package-cache', 'npm');
      expect(readFileSync(path.join(cache, 'from-b'), 'utf8')).toBe('b\n');
      expect(readFileSync(path.join(cache, 'uid-a'), 'utf8')).not.toBe(readFileSync(path.join(cache, 'uid-b'), 'utf8'));
    } finally {
      await a.release();
      await b.release();
    }
  });

  it('off: no cache is mounted, and nothing is written under the worker directory', async () => {
    const r = await rig();
    const run = await r.cycle(await r.head(), {
      setup: [['sh', '-c', 'echo "cache=${npm_config_cache:-unset}"; test ! -e /prbot/cache']],
      commands: [['true']],
      packageCache: 'off',
      timeoutMs: 30_000,
    });
    expect(run.failure).toBeNull();
    expect(run.results[0]!.tail).toContain('cache=unset');
    expect(existsSync(path.join(r.work, 'package-cache'))).toBe(false);
  });
});
