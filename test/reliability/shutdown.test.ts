import { afterEach, expect, it } from 'vitest';
import { stageJobId } from '@prbot/core';
import { createHarness, startModelServer, type Harness, type ModelServer } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { repoWithGaps, waitForOutcomes } from '../../apps/worker/test/helpers.ts';
import { gapLines, gapNumber, passingAnswer } from './answers.ts';
import { recordRow, scanSecrets, SECRET_ENV, spawnWorker, stopChild, until, type WorkerChild } from './support.ts';

let h: Harness | undefined;
let server: ModelServer | undefined;
const workers: WorkerChild[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) await stopChild(w).catch(() => {});
  await h?.cleanup();
  await server?.close();
  h = server = undefined;
});

// A test suite that takes ~1.5 s, so a SIGTERM lands while it runs.
const SLOW_TESTS = { commands: [['node', '-e', 'setTimeout(() => {}, 1500)'], ['node', '--test']] };

async function world(cycles: number) {
  server = await startModelServer((req) => passingAnswer(gapNumber(req)));
  const repo = await repoWithGaps(gapLines(cycles));
  h = await createHarness({
    repo,
    env: SECRET_ENV,
    config: {
      models: { providers: { loop: { kind: 'openai', baseUrl: server.baseUrl, keyEnv: 'PRBOT_TEST_KEY' } }, propose: ['loop/m'] },
      policy: { maxGapsPerRun: 100 },
      forge: { kind: 'local', maxOpen: 1000, maxPerHour: 1000 },
      worker: { shutdownGraceMs: 8000, lockDurationMs: 2000, stalledIntervalMs: 500 },
      queues: { propose: { limiter: null }, pr: { limiter: null } },
      tests: SLOW_TESTS,
      log: { level: 'info' },
    },
  });
  return h;
}

it('SIGTERM lets the active test job finish within the grace, then exits; no job is left stalled', async () => {
  const hh = await world(1);
  const rt = hh.rt;
  const id = (await produce(rt, defaultPolicy)).lines[0]!.cycleId!;
  const w = spawnWorker(hh.configFile, 'propose,apply,test');
  workers.push(w);
  expect(await until(async () => (await rt.queues.test.getActiveCount()) === 1, 30_000)).toBe(true);
  w.child.kill('SIGTERM');
  const r = await w.child;
  workers.splice(workers.indexOf(w), 1);
  expect(r.exitCode).toBe(0);
  const testJob = await rt.queues.test.getJob(stageJobId(id, 'test'));
  expect(await testJob!.getState()).toBe('completed');
  expect(await rt.queues.test.getActiveCount()).toBe(0);
  expect(await rt.queues.pr.getJobState(stageJobId(id, 'pr'))).toBe('waiting'); // handed over, nothing lost
  const rest = spawnWorker(hh.configFile, 'pr,events');
  workers.push(rest);
  const [rec] = await waitForOutcomes(rt, [id], 30_000);
  expect(rec!.outcome).toBe('ok');
  recordRow({ fault: 'SIGTERM during a test run (graceful shutdown, grace 8 s)', injections: 1, inFlight: 1, lost: 0, duplicates: 0, notes: `worker exited ${r.exitCode} after its active job completed; 0 active jobs left behind` });
  expect(await scanSecrets(hh, rt, workers.map((x) => x.output()).concat(w.output()), 'graceful shutdown')).toBe(0);
});

it('scale-down: stopping 3 of 4 test workers mid-run loses nothing', async () => {
  const CYCLES = 12;
  const hh = await world(CYCLES);
  const rt = hh.rt;
  const ids = (await produce(rt, defaultPolicy)).lines.map((l) => l.cycleId!);
  const others = spawnWorker(hh.configFile, 'propose,apply,pr,events');
  const testers = [0, 1, 2, 3].map(() => spawnWorker(hh.configFile, 'test'));
  workers.push(others, ...testers);
  expect(await until(async () => (await rt.queues.test.getActiveCount()) >= 3, 30_000)).toBe(true);
  const codes = await Promise.all(testers.slice(0, 3).map(async (t) => {
    t.child.kill('SIGTERM');
    return (await t.child).exitCode;
  }));
  const records = await waitForOutcomes(rt, ids, 120_000);
  const lost = ids.length - records.length;
  const okCount = records.filter((r) => r.outcome === 'ok').length;
  recordRow({ fault: 'scale-down: SIGTERM to 3 of 4 test workers mid-run', injections: 3, inFlight: CYCLES, lost, duplicates: 0, notes: `stopped workers exited ${codes.join(', ')}; ${okCount}/${CYCLES} ok, finished by the remaining worker` });
  expect(codes).toEqual([0, 0, 0]);
  expect(lost).toBe(0);
  expect(okCount).toBe(CYCLES);
  expect(await scanSecrets(hh, rt, workers.map((x) => x.output()), 'scale-down')).toBe(0);
}, 200_000);
