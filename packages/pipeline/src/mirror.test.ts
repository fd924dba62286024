import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_REPO, makeUpstream, TEST_REDIS_URL } from '@prbot/test-support';
import { buildCommit, git, Mirror } from '@prbot/repo';
import { newCycleId } from '@prbot/core';
import { keys } from './keys.ts';
import { sweepMirror } from './mirror-sweep.ts';

let dir: string;
let bare: string;
let redis: Redis;
const k = keys(`{prbot-m${randomBytes(4).toString('hex')}}`);

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-mirror-'));
  ({ bare } = await makeUpstream(DEMO_REPO, path.join(dir, 'repo')));
  redis = new Redis(TEST_REDIS_URL);
});
afterAll(async () => {
  const ks = await redis.keys(`${k.pattern()}`);
  if (ks.length) await redis.del(...ks);
  await redis.quit();
  await rm(dir, { recursive: true, force: true });
});

async function cycleCommit(m: Mirror, cycleId: string, base: string): Promise<string> {
  return buildCommit(m, {
    cycleId,
    baseCommit: base,
    changes: [
      { path: `src/${cycleId}.js`, action: 'ADD', mode: '100644', content: `export const id = '${cycleId}';\n` },
    ] as never,
    message: cycleId,
    author: { name: 'b', email: 'b@x' },
    time: 1_700_000_000,
    guard: {
      ctx: { prdPath: 'docs/PRD.md', pauseFile: 'bot.paused', extraForbidden: [] },
      limits: { maxFiles: 20, maxFileBytes: 200_000, maxTotalBytes: 500_000 },
    },
  });
}
/** Loose objects in the mirror (`git count-objects -v`). */
const loose = async (m: Mirror) =>
  Number(/^count: (\d+)$/m.exec((await git(['count-objects', '-v'], { cwd: m.dir })).stdout)?.[1]);

describe('mirror growth is bounded', () => {
  it('refs of ended cycles are deleted, live ones kept; a gc --auto runs after N deletions; the ended commits become collectable', async () => {
    const m = new Mirror(path.join(dir, 'work'), bare, { gcAfterDeletions: 4, gcAuto: 10 });
    await m.sync();
    const base = await m.resolve('main');
    const ids = Array.from({ length: 6 }, (_, i) => newCycleId(Date.now() + i));
    const commits = [];
    for (const id of ids) commits.push(await cycleCommit(m, id, base));
    expect((await m.cycleRefs()).sort()).toEqual([...ids].sort());
    const looseBefore = await loose(m);
    expect(looseBefore).toBeGreaterThanOrEqual(18); // blob, tree(s) and commit per cycle

    // Four cycles ended (outcome recorded), two are still live.
    for (const id of ids.slice(0, 4)) await redis.set(k.outcome(id), 'tests_failed');
    const r = await sweepMirror(m, redis, k);
    expect(r).toEqual({ deleted: 4, kept: 2 });
    expect((await m.cycleRefs()).sort()).toEqual(ids.slice(4).sort());
    // The live cycles' commits are still here; the ended ones are no longer reachable from any ref.
    for (const c of commits.slice(4)) expect(await m.hasCommit(c)).toBe(true);
    const reachable = (await git(['rev-list', '--all'], { cwd: m.dir })).stdout;
    for (const c of commits.slice(0, 4)) expect(reachable).not.toContain(c);

    // The fourth deletion started one background gc --auto (git decides from its own loose-object
    // estimate whether to pack); afterwards the live commits are all still here.
    await m.idle();
    expect(m.gcRuns).toBe(1);
    for (const c of commits.slice(4)) expect(await m.hasCommit(c)).toBe(true);
    // An explicit gc drops the loose objects of the ended cycles' commits (unreachable now).
    await git(['gc', '--quiet', '--prune=now'], { cwd: m.dir });
    expect(await loose(m)).toBeLessThan(looseBefore);
    for (const c of commits.slice(0, 4)) expect(await m.hasCommit(c)).toBe(false);
    for (const c of commits.slice(4)) expect(await m.hasCommit(c)).toBe(true);
    // A second sweep has nothing to do.
    expect(await sweepMirror(m, redis, k)).toEqual({ deleted: 0, kept: 2 });
  });

  it('a cycle older than any cycle can live is swept even without an outcome marker', async () => {
    const m = new Mirror(path.join(dir, 'work2'), bare);
    await m.sync();
    const base = await m.resolve('main');
    const old = newCycleId(Date.now() - 40 * 86_400_000);
    const live = newCycleId(Date.now());
    await cycleCommit(m, old, base);
    await cycleCommit(m, live, base);
    expect(await sweepMirror(m, redis, k)).toEqual({ deleted: 1, kept: 1 });
    expect(await m.cycleRefs()).toEqual([live]);
  });
});
