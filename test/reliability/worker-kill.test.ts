import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { git, STAGES, utcDay } from '@prbot/core';
import { createHarness, startModelServer, type Harness, type ModelServer } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { repoWithGaps, waitForOutcomes } from '../../apps/worker/test/helpers.ts';
import { gapLines, gapNumber, passingAnswer } from './answers.ts';
import { recordRow, scanSecrets, SECRET_ENV, spawnWorker, stopChild, until, type WorkerChild } from './support.ts';

const CYCLES = 50;
let h: Harness;
let server: ModelServer;
const workers: WorkerChild[] = [];

afterAll(async () => {
  for (const w of workers) await stopChild(w).catch(() => {});
  await h?.cleanup();
  await server?.close();
});

it(`SIGKILL of a worker in the middle of each stage, ${CYCLES} cycles in flight: nothing lost, nothing doubled`, async () => {
  server = await startModelServer((req) => ({ ...passingAnswer(gapNumber(req)), delayMs: 100 }));
  const repo = await repoWithGaps(gapLines(CYCLES));
  h = await createHarness({
    repo,
    env: SECRET_ENV,
    config: {
      models: { providers: { loop: { kind: 'openai', baseUrl: server.baseUrl, keyEnv: 'PRBOT_TEST_KEY' } }, propose: ['loop/m'] },
      budget: { callsPerDay: 1000, perCycle: { calls: 20 } },
      policy: { maxGapsPerRun: 100 },
      worker: { lockDurationMs: 1500, stalledIntervalMs: 500, maxStalledCount: 5 },
      // The PR limits and provider rate limits would hold most of 50 cycles back for minutes.
      forge: { kind: 'local', maxOpen: 1000, maxPerHour: 1000 },
      queues: { propose: { concurrency: 8, limiter: null }, apply: { concurrency: 4 }, test: { concurrency: 4 }, pr: { concurrency: 2, limiter: null } },
      log: { level: 'info' },
    },
  });
  const rt = h.rt;
  const ids = (await produce(rt, defaultPolicy)).lines.map((l) => l.cycleId!);
  expect(ids).toHaveLength(CYCLES);

  const injections: { stage: string; active: number }[] = [];
  for (let round = 0; round < 2; round++) {
    for (const stage of STAGES) {
      const started = Date.now();
      const w = spawnWorker(h.configFile, 'propose,apply,test,pr,events');
      workers.push(w);
      // Kill only once this process has a job of the stage in hand (not a dead worker's stale one).
      const mine = async () => (await rt.queues[stage].getActive()).filter((j) => (j.processedOn ?? 0) >= started).length;
      // Every 25 ms, not 5: each look fetches every active job, and a tighter loop took CPU from
      // the worker it waits for (a stage holds its job far longer than 25 ms: model delay, git, tests).
      const hit = await until(async () => (await mine()) > 0, 60_000, 25);
      if (hit) injections.push({ stage, active: await mine() });
      await stopChild(w, 'SIGKILL');
    }
  }
  const last = spawnWorker(h.configFile, 'propose,apply,test,pr,events');
  workers.push(last);
  // A generous bound: eight tsx worker starts and 50 test runs on a shared 2-core machine.
  const records = await waitForOutcomes(rt, ids, 420_000).catch(async (err: Error) => {
    const counts = await Promise.all(STAGES.map(async (q) => `${q} ${JSON.stringify(await rt.queues[q].getJobCounts())}`));
    console.error(counts.join('\n'), last.output().slice(-4000));
    throw err;
  });

  const lost = ids.length - records.filter(Boolean).length;
  const stats = await rt.redis.hgetall(rt.keys.stats(utcDay(Date.now())));
  const statTotal = Object.values(stats).reduce((a, b) => a + Number(b), 0);
  const prFiles = await readdir(path.join(h.dir, 'prs')).catch(() => [] as string[]);
  const prsPerGap = new Map<string, number>();
  for (const r of records) if (r.branch) prsPerGap.set(r.gap_id!, 0);
  for (const f of prFiles) {
    const rec = records.find((r) => r.branch && f === `${r.branch.replace(/[^A-Za-z0-9._-]+/g, '_')}.json`);
    if (rec) prsPerGap.set(rec.gap_id!, (prsPerGap.get(rec.gap_id!) ?? 0) + 1);
  }
  const prDup = [...prsPerGap.values()].reduce((a, n) => a + Math.max(0, n - 1), 0) + Math.max(0, prFiles.length - records.filter((r) => r.outcome === 'ok').length);
  const historyLens = await Promise.all(records.map((r) => rt.redis.llen(rt.keys.history(r.gap_id!))));
  const historyDup = historyLens.reduce((a, n) => a + Math.max(0, n - 1), 0);
  const branches = (await git(['branch', '--list', 'bot/*'], { cwd: h.bare })).stdout.trim().split('\n').filter(Boolean);
  const charged = (await rt.budget.today()).calls.used;
  const requests = server.requests.length;
  // A charge without a request: a kill landed between a reservation and its HTTP request (a
  // window of microseconds; the day errs on the safe side). Never fewer charges than requests.
  const budgetDup = Math.max(0, charged - requests);
  // Calls beyond one per cycle: only a kill during the HTTP call itself can cause one (the answer
  // never arrived, so there is nothing to save); every other retry re-uses the saved answer.
  // Every kill can cut off the calls in flight in that process (propose concurrency 8).
  const extraCalls = requests - records.filter((r) => r.model !== null).length;
  const events = (await rt.queues.events.getJobs(['completed', 'waiting', 'active', 'delayed', 'failed'])).length;
  const duplicates = prDup + historyDup + Math.max(0, statTotal - CYCLES) + Math.max(0, events - CYCLES) + Math.max(0, branches.length - prFiles.length);

  const hits = await scanSecrets(h, rt, workers.map((w) => w.output()), 'worker kill');
  const notOk = records.filter((r) => r.outcome !== 'ok').map((r) => `${r.outcome} (${r.reason.slice(0, 200)})`);
  const outcomes = Object.entries(stats).map(([k, v]) => `${k} ${v}`).join(', ') + (notOk.length ? `; not ok: ${notOk.join(' | ')}` : '');
  recordRow({
    fault: 'worker SIGKILL mid-stage (propose, apply, test, pr; 2 rounds), then a fresh worker',
    injections: injections.length,
    inFlight: CYCLES,
    lost,
    duplicates,
    notes: `kills in ${injections.map((i) => i.stage).join('/')}; outcomes: ${outcomes}; ${prFiles.length} PRs, ${branches.length} branches; ${charged} calls charged for ${requests} model requests; ${extraCalls} calls repeated, each cut off mid-request by a kill; ${budgetDup} charges whose request a kill stopped before it was sent`,
  });
  expect(injections.map((i) => i.stage)).toEqual(expect.arrayContaining([...STAGES]));
  expect(lost).toBe(0);
  expect(statTotal).toBe(CYCLES);
  expect(duplicates).toBe(0);
  expect(charged).toBeGreaterThanOrEqual(requests);
  expect(budgetDup).toBeLessThanOrEqual(injections.length);
  expect(extraCalls).toBeLessThanOrEqual(injections.length * 8);
  expect(hits).toBe(0);
}, 600_000);
