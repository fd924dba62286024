import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { stageJobId, stageRunnerDefences } from '@prbot/pipeline';
import { utcDay } from '@prbot/core';
import { startRedisServer, type ModelServer } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { startWorkers, waitForOutcomes } from '@prbot/worker';
import { gapNumber, passingAnswer } from './answers.ts';
import {
  closeWorlds,
  recordRow,
  reliabilityWorld,
  scanSecrets,
  spawnWorker,
  stopChild,
  until,
  type WorkerChild,
} from './support.ts';

let server: ModelServer | undefined;
const workers: WorkerChild[] = [];
afterEach(async () => {
  stageRunnerDefences.shutdownRequeue = true;
  for (const w of workers.splice(0)) await stopChild(w).catch(() => {});
  await closeWorlds();
  server = undefined;
});

// A test suite that takes ~1.5 s, so a SIGTERM lands while it runs.
const SLOW_TESTS = {
  commands: [
    ['node', '-e', 'setTimeout(() => {}, 1500)'],
    ['node', '--test'],
  ],
};

async function world(cycles: number, config: Record<string, unknown> = {}) {
  const w = await reliabilityWorld({
    gaps: cycles,
    spawns: true,
    config: {
      worker: { shutdownGraceMs: 8000, lockDurationMs: 2000, stalledIntervalMs: 500 },
      tests: SLOW_TESTS,
      ...config,
    },
  });
  server = w.server;
  return w.h;
}

/** Processes whose command line contains `mark`, with their process group and uid (from /proc). */
async function processesWith(mark: string): Promise<{ pid: number; pgid: number; uid: number }[]> {
  const out: { pid: number; pgid: number; uid: number }[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    const cmd = await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '');
    if (!cmd.includes(mark)) continue;
    const stat = await readFile(`/proc/${d}/stat`, 'utf8').catch(() => '');
    if (zombie(stat)) continue;
    const status = await readFile(`/proc/${d}/status`, 'utf8').catch(() => '');
    const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    out.push({ pid: Number(d), pgid, uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1) });
  }
  return out;
}

/** A zombie is dead already: only its exit status waits to be collected. */
function zombie(stat: string): boolean {
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}

async function processesIn(groups: Set<number>): Promise<number[]> {
  const pids: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const stat = await readFile(`/proc/${d}/stat`, 'utf8').catch(() => '');
    if (stat && !zombie(stat) && groups.has(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2])))
      pids.push(Number(d));
  }
  return pids;
}

it('SIGTERM during a running test: its processes die, the job goes back to waiting, and a restart completes it with one outcome', async () => {
  const tag = randomBytes(4).toString('hex');
  const mark = `prbot-slow-test-${tag}`;
  // A test command that runs for 10 minutes and leaves a child behind, unless the worker's config
  // releases it (the sandbox shows tests no host file that could serve as the signal).
  const slow = `if (!process.env.PRBOT_TEST_RELEASE) { require('child_process').spawn('sleep', ['600'], { stdio: 'ignore' }); setTimeout(() => {}, 600000); }`;
  const redis = await startRedisServer();
  try {
    const hh = await world(1, {
      redis: { url: redis.url },
      tests: {
        commands: [
          ['node', '-e', slow, mark],
          ['node', '--test'],
        ],
      },
      worker: { shutdownGraceMs: 8000, lockDurationMs: 2000, stalledIntervalMs: 500 },
    });
    const rt = hh.rt;
    const id = (await produce(rt, defaultPolicy)).lines[0]!.cycleId!;
    const w = spawnWorker(hh.configFile, 'propose,apply,test');
    workers.push(w);
    expect(
      await until(
        async () => (await processesWith(mark)).length > 0 && (await rt.queues.test.getActiveCount()) === 1,
        60_000,
      ),
    ).toBe(true);
    const running = await processesWith(mark);
    const groups = new Set(running.map((p) => p.pgid));
    // Not execa's kill(): it sends SIGKILL 5 s later by itself, which would hide a slow shutdown.
    process.kill(w.child.pid!, 'SIGTERM');
    const r = await w.child;
    workers.splice(workers.indexOf(w), 1);
    const left = await processesIn(groups);
    if (left.length) console.error(w.output().slice(-3000));
    const leftByMark = await processesWith(mark);
    const testJob = (await rt.queues.test.getJob(stageJobId(id, 'test')))!;
    const state = await testJob.getState();
    expect(r.exitCode).toBe(0);
    expect(left).toEqual([]);
    expect(leftByMark).toEqual([]);
    // Back in line: `prioritized` for a cycle with a rank (fair shares), `waiting` for one without.
    expect(['waiting', 'prioritized']).toContain(state);
    expect(testJob.attemptsMade).toBe(0); // not failed, not an attempt
    expect(await rt.redis.get(rt.keys.outcome(id))).toBeNull();

    const released = path.join(hh.dir, 'released.config.json');
    const cfgRaw = JSON.parse(await readFile(hh.configFile, 'utf8'));
    await writeFile(
      released,
      JSON.stringify({ ...cfgRaw, tests: { ...cfgRaw.tests, env: { PRBOT_TEST_RELEASE: '1' } } }),
    );
    const rest = spawnWorker(released, 'test,pr,events');
    workers.push(rest);
    const [rec] = await waitForOutcomes(rt, [id], 60_000);
    const stats = await rt.redis.hgetall(rt.keys.stats(utcDay(Date.now())));
    const total = Object.values(stats).reduce((a, b) => a + Number(b), 0);
    const extraCalls = server!.requests.length - 1;
    recordRow({
      fault: 'SIGTERM during a running test (a command with a child of its own)',
      injections: 1,
      inFlight: 1,
      lost: rec ? 0 : 1,
      duplicates: Math.max(0, total - 1),
      extraCalls,
      notes: `worker exited ${r.exitCode}; ${running.length} test processes (uid ${[...new Set(running.map((p) => p.uid))].join(', ')}) in ${groups.size} process group(s) before, ${left.length} after; the test job went back to ${state} with ${testJob.attemptsMade} attempts made; after a restart: ${rec?.outcome}`,
    });
    expect(rec!.outcome).toBe('ok');
    expect(total).toBe(1);
    expect(extraCalls).toBe(0);
    expect(await scanSecrets(hh, rt, workers.map((x) => x.output()).concat(w.output()), 'sigterm during a test')).toBe(
      0,
    );
  } finally {
    for (const x of workers.splice(0)) await stopChild(x).catch(() => {});
    await closeWorlds();
    await redis.stop('SIGKILL');
  }
}, 200_000);

/**
 * The positive control of the two rows above ("SIGTERM during a running test", "scale-down"):
 * the worker's shutdown (WorkerSet.close, what SIGTERM calls) with the stopped test job NOT
 * returned to waiting. In-process, so the switch stays in this process. Two shutdowns in a row
 * (a scale-down, then another) spend the test queue's 2 attempts and end the cycle.
 */
it('positive control: a shutdown that does not return the stopped test job to waiting spends its attempts and ends the cycle tests_failed', async () => {
  const tag = randomBytes(4).toString('hex');
  const mark = `prbot-slow-test-${tag}`;
  const slow = `require('child_process').spawn('sleep', ['600'], { stdio: 'ignore' }); setTimeout(() => {}, 600000);`;
  const hh = await world(1, {
    tests: {
      commands: [
        ['node', '-e', slow, mark],
        ['node', '--test'],
      ],
    },
    queues: { test: { backoff: { delay: 100 } } },
  });
  const rt = hh.rt;
  const id = (await produce(rt, defaultPolicy)).lines[0]!.cycleId!;
  stageRunnerDefences.shutdownRequeue = false;
  const attempts: number[] = [];
  for (const queues of [['propose', 'apply', 'test'], ['test']] as const) {
    const set = startWorkers(rt, defaultPolicy, { queues: [...queues], reconcile: false });
    expect(
      await until(
        async () => (await processesWith(mark)).length > 0 && (await rt.queues.test.getActiveCount()) === 1,
        60_000,
      ),
    ).toBe(true);
    await set.close(8000);
    attempts.push((await rt.queues.test.getJob(stageJobId(id, 'test')))!.attemptsMade);
  }
  const [rec] = await waitForOutcomes(rt, [id], 30_000);
  console.log(
    `requeue off: attempts made after each shutdown ${attempts.join(', ')}; outcome ${rec?.outcome}: ${rec?.reason.slice(0, 120)}`,
  );
  // The control: each shutdown cost an attempt (the defended row: 0), and two ended the cycle.
  expect(attempts).toEqual([1, 2]);
  expect(rec!.outcome).toBe('tests_failed');
  expect(rec!.reason).toMatch(/shutting down/);
}, 200_000);

it('scale-down: stopping 3 of 4 test workers mid-run loses nothing', async () => {
  // Enough that the three stopped workers each can hold one and more wait behind them; the one
  // left runs the rest one at a time (12 cycles spent ~20 s in that tail and tested nothing more).
  const CYCLES = 6;
  const hh = await world(CYCLES);
  const rt = hh.rt;
  const ids = (await produce(rt, defaultPolicy)).lines.map((l) => l.cycleId!);
  const others = spawnWorker(hh.configFile, 'propose,apply,pr,events');
  const testers = [0, 1, 2, 3].map(() => spawnWorker(hh.configFile, 'test'));
  workers.push(others, ...testers);
  // Five worker processes start under tsx: on a loaded machine that alone can take half a minute.
  const busy = await until(async () => (await rt.queues.test.getActiveCount()) >= 3, 120_000);
  if (!busy)
    console.error(
      JSON.stringify(await rt.queues.test.getJobCounts()),
      others.output().slice(-2000),
      testers[0]!.output().slice(-3000),
    );
  expect(busy).toBe(true);
  const codes = await Promise.all(
    testers.slice(0, 3).map(async (t) => {
      process.kill(t.child.pid!, 'SIGTERM');
      return (await t.child).exitCode;
    }),
  );
  const records = await waitForOutcomes(rt, ids, 120_000);
  const lost = ids.length - records.length;
  const okCount = records.filter((r) => r.outcome === 'ok').length;
  recordRow({
    fault: 'scale-down: SIGTERM to 3 of 4 test workers mid-run',
    injections: 3,
    inFlight: CYCLES,
    lost,
    duplicates: 0,
    notes: `stopped workers exited ${codes.join(', ')}; ${okCount}/${CYCLES} ok, finished by the remaining worker`,
  });
  expect(codes).toEqual([0, 0, 0]);
  expect(lost).toBe(0);
  expect(okCount).toBe(CYCLES);
  expect(
    await scanSecrets(
      hh,
      rt,
      workers.map((x) => x.output()),
      'scale-down',
    ),
  ).toBe(0);
}, 200_000);

it('a second SIGTERM forces the shutdown of a job that ignores its signal: the worker exits, the job is run again, one outcome', async () => {
  // The model answers after 10 minutes the first time: propose cannot finish within the grace.
  let first = true;
  const { h, server: srv } = await reliabilityWorld({
    gaps: 1,
    spawns: true,
    script: (req) => {
      const slow = first;
      first = false;
      return { ...passingAnswer(gapNumber(req)), delayMs: slow ? 600_000 : 0 };
    },
    config: { worker: { shutdownGraceMs: 60_000, lockDurationMs: 2000, stalledIntervalMs: 500, maxStalledCount: 5 } },
  });
  server = srv;
  const rt = h.rt;
  const id = (await produce(rt, defaultPolicy)).lines[0]!.cycleId!;
  const w = spawnWorker(h.configFile, 'propose');
  workers.push(w);
  expect(await until(async () => server!.requests.length === 1, 60_000)).toBe(true);
  process.kill(w.child.pid!, 'SIGTERM');
  expect(await until(async () => /stopping: no new jobs/.test(w.output()), 30_000)).toBe(true);
  process.kill(w.child.pid!, 'SIGTERM'); // the grace is a minute: only the second signal can end it now
  const r = await w.child;
  workers.splice(workers.indexOf(w), 1);
  if (r.exitCode !== 0)
    console.error(JSON.stringify({ signal: r.signal, code: r.exitCode, msg: r.shortMessage }), w.output().slice(-3000));
  expect(r.exitCode).toBe(0);
  expect(w.output()).toMatch(/second signal: aborting active jobs now/);
  const rest = spawnWorker(h.configFile, 'propose,apply,test,pr,events');
  workers.push(rest);
  const [rec] = await waitForOutcomes(rt, [id], 120_000);
  const stats = await rt.redis.hgetall(rt.keys.stats(utcDay(Date.now())));
  const total = Object.values(stats).reduce((a, b) => a + Number(b), 0);
  recordRow({
    fault: 'SIGTERM twice while a model call hangs (grace 60 s): forced shutdown',
    injections: 2,
    inFlight: 1,
    lost: rec ? 0 : 1,
    duplicates: Math.max(0, total - 1),
    notes: `worker exited ${r.exitCode} on the second signal; its propose job was taken up again by the stalled check; after a restart: ${rec?.outcome}; ${server.requests.length} model requests (the first was cut off)`,
  });
  expect(rec!.outcome).toBe('ok');
  expect(total).toBe(1);
}, 300_000);

/**
 * The positive control of the row above: the job a forced shutdown leaves behind is carried by
 * BullMQ's stalled-job check. The same two signals with that check allowed no stall
 * (worker.maxStalledCount 0) end the cycle on the shutdown alone.
 */
it('positive control: the same forced shutdown with the stalled-job re-run off (maxStalledCount 0) ends the cycle model_failed', async () => {
  let first = true;
  const { h, server: srv } = await reliabilityWorld({
    gaps: 1,
    spawns: true,
    script: (req) => {
      const slow = first;
      first = false;
      return { ...passingAnswer(gapNumber(req)), delayMs: slow ? 600_000 : 0 };
    },
    config: { worker: { shutdownGraceMs: 60_000, lockDurationMs: 2000, stalledIntervalMs: 500, maxStalledCount: 0 } },
  });
  server = srv;
  const rt = h.rt;
  const id = (await produce(rt, defaultPolicy)).lines[0]!.cycleId!;
  const w = spawnWorker(h.configFile, 'propose');
  workers.push(w);
  expect(await until(async () => server!.requests.length === 1, 60_000)).toBe(true);
  process.kill(w.child.pid!, 'SIGTERM');
  expect(await until(async () => /stopping: no new jobs/.test(w.output()), 30_000)).toBe(true);
  process.kill(w.child.pid!, 'SIGTERM');
  const r = await w.child;
  workers.splice(workers.indexOf(w), 1);
  expect(r.exitCode).toBe(0);
  const rest = spawnWorker(h.configFile, 'propose,apply,test,pr,events');
  workers.push(rest);
  const [rec] = await waitForOutcomes(rt, [id], 120_000);
  console.log(
    `stalled re-run off: outcome ${rec?.outcome}: ${rec?.reason.slice(0, 120)}; ${server.requests.length} model requests`,
  );
  // The control: the defended row ends ok after a restart; here the shutdown alone failed the cycle.
  expect(rec!.outcome).toBe('model_failed');
  expect(rec!.reason).toMatch(/stalled/);
}, 300_000);
