import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { diskCapDefence, QUEUE_NAMES, stageJobId, type Runtime } from '@prbot/pipeline';
import { produce } from '@prbot/control';
import { defaultPolicy } from '@prbot/policy';
import { diskUsage } from '@prbot/repo';
import { startModelServer, type ModelServer } from '@prbot/test-support';
import { startWorkers } from '../../src/workers.ts';
import { waitForOutcomes } from '../helpers.ts';
import { PAD, padScript, reposWorld, TRUNCATE, type ReposWorld } from '../repos-world.ts';

/** The demo cassette's passing gap: every cycle of it ends ok. */
const NAMES = ['r1', 'r2', 'r3', 'r4', 'r5'];

/** Five remotes (and r0, to measure a footprint on) with the passing gap; r1 with a second. */
async function fiveRepos(s: ModelServer): Promise<ReposWorld> {
  return reposWorld(Object.fromEntries(['r0', ...NAMES].map((n) => [n, n === 'r1' ? [TRUNCATE, PAD] : [TRUNCATE]])), s);
}

let world: ReposWorld | undefined;
let control: ReposWorld | undefined;
let server: ModelServer | undefined;
afterEach(async () => {
  diskCapDefence.evict = true;
  await world?.cleanup();
  await control?.cleanup();
  await server?.close();
  world = control = server = undefined;
});

/** What the cap counts, measured independently: `du` of every repository's mirrors and slots under `workdir/repos`. */
async function onDisk(workdir: string): Promise<number> {
  const repos = path.join(workdir, 'repos');
  const names = await readdir(repos).catch(() => [] as string[]);
  return diskUsage(names.flatMap((n) => [path.join(repos, n, 'mirrors'), path.join(repos, n, 'slots')]));
}

/** Runs one cycle of `name` to its end: produced by a machine of its own (its own work directory), tested by `worker`. */
async function oneCycle(producer: Runtime, worker: Runtime, name: string): Promise<{ id: string; outcome: string }> {
  const report = await produce((await producer.views()).get(name)!, defaultPolicy);
  const line = report.lines.find((l) => l.action === 'enqueued');
  if (!line?.cycleId) throw new Error(`${name}: nothing enqueued: ${JSON.stringify(report.lines)}`);
  const [rec] = await waitForOutcomes((await worker.views()).get(name)!, [line.cycleId], 90_000);
  return { id: line.cycleId, outcome: rec!.outcome };
}

/**
 * The world: five remotes with the same passing gap; a producer with a work directory of its own
 * (so every mirror under the worker's directory is one its stages cloned on demand); one worker
 * process (all queues, in this process) on `work/` with `maxBytes` (none when undefined).
 */
async function setUp(wd: ReposWorld, maxBytes: number | undefined, extraRepos: string[] = []) {
  const all = [...NAMES, ...extraRepos];
  const repos = all.map((name) => ({ name, url: wd.remotes[name]! }));
  // One gap per produce: the cycles run one at a time, so the total is sampled between cycles.
  const policy = { coolDownMs: 0, noopCoolDownMs: 0, maxGapsPerRun: 1 };
  const producer = await wd.open(await wd.config({ repos, policy, workdir: path.join(wd.dir, 'producer-work') }));
  const workdir = path.join(wd.dir, 'work');
  const worker = await wd.open(
    await wd.config({ repos, policy, workdir: maxBytes === undefined ? workdir : { path: workdir, maxBytes } }),
  );
  return { producer, worker, workdir, workers: startWorkers(worker, defaultPolicy, { queues: [...QUEUE_NAMES] }) };
}

describe('workdir.maxBytes: 5 repositories through one test worker with a cap that holds 2', () => {
  it('eviction happens, no cycle fails for it, the measured total stays within the cap after every cycle; an evicted repository is cloned again on its next cycle; positive control: eviction off, the same run ends over the cap', async () => {
    server = await startModelServer(await padScript());
    world = await fiveRepos(server);

    // 1. One repository's footprint (mirror + slot after one cycle), on a worker without a cap.
    let w = await setUp(world, undefined, ['r0']);
    let footprint: number;
    try {
      expect((await oneCycle(w.producer, w.worker, 'r0')).outcome).toBe('ok');
      footprint = await onDisk(w.workdir);
    } finally {
      await w.workers.close(2000);
    }
    expect(footprint).toBeGreaterThan(0);
    const cap = Math.floor(2.5 * footprint);

    // 2. The five through one worker with the cap; r1 once more at the end (evicted by then).
    await rm(w.workdir, { recursive: true });
    w = await setUp(world, cap);
    const samples: number[] = [];
    const outcomes: string[] = [];
    let firstCycleR1 = '';
    let againR1 = '';
    try {
      for (const name of [...NAMES, 'r1']) {
        const c = await oneCycle(w.producer, w.worker, name);
        outcomes.push(`${name}:${c.outcome}`);
        samples.push(await onDisk(w.workdir));
        if (name === 'r1') {
          if (firstCycleR1) againR1 = c.id;
          else firstCycleR1 = c.id;
        }
        // The cap between cycles: the bound is the cap itself.
        expect(samples.at(-1), `after ${name}'s cycle (samples ${samples.join(', ')}, cap ${cap})`).toBeLessThanOrEqual(
          cap,
        );
      }
    } finally {
      await w.workers.close(2000);
    }
    expect(outcomes).toEqual([...NAMES, 'r1'].map((n) => `${n}:ok`));
    const evictions = w.worker.disk.cap.evictions;
    expect(evictions).toBeGreaterThan(0);
    // Without eviction five repositories would not fit: the footprint times five is over the cap.
    expect(5 * footprint).toBeGreaterThan(cap);

    // The first stage of each r1 cycle on this machine cloned its mirror and said what it cost:
    // the first on demand, the second because r1 had been evicted meanwhile.
    for (const id of [firstCycleR1, againR1]) {
      const logs = (await w.worker.queues.propose.getJobLogs(stageJobId(id, 'propose'))).logs.join('\n');
      expect(logs).toMatch(/cloned the mirror of r1 on this machine: \d+ ms, [1-9]\d* bytes on disk/);
    }

    // A slot is never shared across repositories: every slot's git dir borrows the objects of
    // its own repository's mirror, under its own repository's directory.
    const reposDir = path.join(w.workdir, 'repos');
    let slotsSeen = 0;
    for (const name of await readdir(reposDir)) {
      const slotsDir = path.join(reposDir, name, 'slots');
      for (const pool of await readdir(slotsDir).catch(() => [] as string[]))
        for (const f of await readdir(path.join(slotsDir, pool)))
          if (f.endsWith('.git')) {
            const alt = (await readFile(path.join(slotsDir, pool, f, 'objects', 'info', 'alternates'), 'utf8')).trim();
            expect(
              alt.startsWith(path.join(reposDir, name, 'mirrors') + path.sep),
              `${name}/${pool}/${f}: ${alt}`,
            ).toBe(true);
            slotsSeen++;
          }
    }
    expect(slotsSeen).toBeGreaterThan(0);

    // 3. Positive control: the same run (a fresh world, same cap) with eviction switched off ends over the cap.
    control = await fiveRepos(server);
    diskCapDefence.evict = false;
    w = await setUp(control, cap);
    const off: string[] = [];
    try {
      for (const name of NAMES) off.push(`${name}:${(await oneCycle(w.producer, w.worker, name)).outcome}`);
    } finally {
      await w.workers.close(2000);
    }
    expect(off).toEqual(NAMES.map((n) => `${n}:ok`));
    expect(w.worker.disk.cap.evictions).toBe(0);
    expect(await onDisk(w.workdir)).toBeGreaterThan(cap);
  }, 600_000);
});
