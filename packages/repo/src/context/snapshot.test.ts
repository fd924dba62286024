import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildRepoContext } from './repo-context.ts';
import { SnapshotCache } from './snapshot.ts';

let dir: string;
const commits: string[] = [];
const opts = { maxTokens: 4000, mapTokens: 1000, maxFileTokens: 1000, maxFiles: 8 };
const sh = (...args: string[]) =>
  execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@t',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@t',
    },
  }).trim();

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-snapshot-'));
  sh('init', '-q', '-b', 'main');
  await mkdir(path.join(dir, 'src'));
  await mkdir(path.join(dir, 'test'));
  for (let c = 0; c < 3; c++) {
    await writeFile(
      path.join(dir, 'src', 'strings.js'),
      `export function capitalize(s) { return s; }\nexport const version${c} = ${c};\n`,
    );
    await writeFile(
      path.join(dir, 'test', 'strings.test.js'),
      "import { capitalize } from '../src/strings.js';\ntest('a', () => {});\n",
    );
    await writeFile(path.join(dir, `src/extra${c}.js`), `export const e${c} = '${'x'.repeat(2000)}';\n`);
    sh('add', '-A');
    sh('commit', '-q', '-m', `c${c}`);
    commits.push(sh('rev-parse', 'HEAD'));
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('SnapshotCache', () => {
  it('builds the same context from a shared snapshot as from a fresh read, and shares one per commit', async () => {
    const cache = new SnapshotCache({ max: 2, maxTextChars: 1_000_000, idleMs: 60_000 });
    const gap = 'Make `capitalize` in src/strings.js upper-case the first letter';
    const fresh = await buildRepoContext(dir, commits[2]!, gap, opts);
    const [a, b] = await Promise.all([
      buildRepoContext(dir, commits[2]!, gap, opts, cache),
      buildRepoContext(dir, commits[2]!, gap, opts, cache),
    ]);
    expect(a).toEqual(fresh);
    expect(b).toEqual(fresh);
    expect(fresh.files.map((f) => f.path)).toContain('test/strings.test.js');
    expect(fresh.map.join('\n')).toContain('version2');
    expect(cache.size).toBe(1);
    expect(await cache.get(dir, commits[2]!)).toBe(await cache.get(dir, commits[2]!));
    cache.clear();
  });

  it('keeps the most recently used commits only, and never caches a ref name', async () => {
    const cache = new SnapshotCache({ max: 2, maxTextChars: 1_000_000, idleMs: 60_000 });
    const first = await cache.get(dir, commits[0]!);
    await cache.get(dir, commits[1]!);
    await cache.get(dir, commits[0]!); // 0 is now the newest
    await cache.get(dir, commits[2]!); // evicts 1
    expect(await cache.get(dir, commits[0]!)).toBe(first);
    expect(cache.size).toBe(2);
    await cache.get(dir, 'main');
    expect(cache.size).toBe(2);
    cache.clear();
  });

  it('drops a snapshot that holds more text than its bound after the build', async () => {
    const cache = new SnapshotCache({ max: 2, maxTextChars: 1000, idleMs: 60_000 });
    const ctx = await buildRepoContext(dir, commits[2]!, 'Change src/extra2.js', opts, cache);
    expect(ctx.files.map((f) => f.path)).toContain('src/extra2.js');
    expect(cache.size).toBe(0);
  });

  it('gives the memory back after idleMs without a build', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const cache = new SnapshotCache({ max: 2, maxTextChars: 1_000_000, idleMs: 60_000 });
      await cache.get(dir, commits[1]!);
      vi.advanceTimersByTime(59_000);
      await cache.get(dir, commits[1]!); // used again: the minute starts over
      vi.advanceTimersByTime(59_000);
      expect(cache.size).toBe(1);
      vi.advanceTimersByTime(2_000);
      expect(cache.size).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
