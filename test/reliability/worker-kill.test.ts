import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { git } from '@prbot/repo';
import { STAGES } from '@prbot/pipeline';
import { utcDay } from '@prbot/core';
import type { Harness, ModelServer } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { waitForOutcomes } from '@prbot/worker';
import { gapNumber } from './answers.ts';
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

const CYCLES = 50;
/**
 * Each kill waits until the worker holds jobs of all four stages at once, so every kill cuts
 * into every stage mid-way: three kills hit each stage three times. (One kill per stage, twice
 * round, took eight kills and nine worker starts, which dominated the run, for two hits a stage.)
 */
const KILLS = 3;
/** Propose jobs one worker runs at once: all a kill can cut off between a reservation and its answer. */
const PROPOSE_CONCURRENCY = 2;
let h: Harness;
let server: ModelServer;
const workers: WorkerChild[] = [];

afterAll(async () => {
  for (const w of workers) await stopChild(w).catch(() => {});
  await closeWorlds();
});

it(`SIGKILL of a worker in the middle of every stage at once, ${CYCLES} cycles in flight: nothing lost, nothing doubled`, async () => {
  ({ h, server } = await reliabilityWorld({
    gaps: CYCLES,
    // Propose is the slow stage (two calls at a time, 400 ms each), so it still has jobs when the
    // first cycles reach pr: every stage is busy at once for most of the run, not only at its start.
    delayMs: 400,
    spawns: true,
    config: {
      worker: { lockDurationMs: 1500, stalledIntervalMs: 500, maxStalledCount: 5 },
      queues: {
        propose: { concurrency: PROPOSE_CONCURRENCY },
        apply: { concurrency: 4 },
        test: { concurrency: 4 },
        pr: { concurrency: 2 },
      },
    },
  }));
  const rt = h.rt;
  const ids = (await produce(rt, defaultPolicy)).lines.map((l) => l.cycleId!);
  expect(ids).toHaveLength(CYCLES);

  const injections: { stages: string[]; active: number }[] = [];
  /** Per kill, the gaps whose request had gone out and whose answer the dead worker had not saved. */
  const unsavedAtKill: number[] = [];
  const kills: number[] = [];
  for (let kill = 0; kill < KILLS; kill++) {
    const started = Date.now();
    const w = spawnWorker(h.configFile, 'propose,apply,test,pr,events');
    workers.push(w);
    // Jobs this process has in hand, per stage (not a dead worker's stale ones).
    let held: number[] = [];
    const mine = async () =>
      (held = await Promise.all(
        STAGES.map(async (s) => (await rt.queues[s].getActive()).filter((j) => (j.processedOn ?? 0) >= started).length),
      ));
    // Every 25 ms, not 5: each look fetches every active job, and a tighter loop took CPU from
    // the worker it waits for (a stage holds its job far longer than 25 ms: model delay, git, tests).
    await until(async () => (await mine()).every((n) => n > 0), 60_000, 25);
    injections.push({ stages: STAGES.filter((_, i) => held[i]! > 0), active: held.reduce((a, b) => a + b, 0) });
    const killedAt = Date.now();
    await stopChild(w, 'SIGKILL');
    // Read once the process is dead and before the next one starts (nothing moves the dead
    // worker's jobs until then): its propose jobs that had asked the model and not saved the
    // answer. Only these may ask again; a saved answer is re-used by the retry.
    for (const j of await rt.queues.propose.getActive()) {
      if ((j.processedOn ?? 0) < started || (j.data as { saved?: unknown }).saved !== undefined) continue;
      const n = Number(/Gap (\d+)/.exec((j.data as { gap: { text: string } }).gap.text)?.[1] ?? -1);
      if (server.requests.some((q) => gapNumber(q) === n && q.at <= killedAt)) unsavedAtKill.push(n);
    }
    kills.push(killedAt);
  }
  const last = spawnWorker(h.configFile, 'propose,apply,test,pr,events');
  workers.push(last);
  // A generous bound: four tsx worker starts and 50 test runs on a shared 2-core machine.
  const records = await waitForOutcomes(rt, ids, 420_000).catch(async (err: Error) => {
    const counts = await Promise.all(
      STAGES.map(async (q) => `${q} ${JSON.stringify(await rt.queues[q].getJobCounts())}`),
    );
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
  const prDup =
    [...prsPerGap.values()].reduce((a, n) => a + Math.max(0, n - 1), 0) +
    Math.max(0, prFiles.length - records.filter((r) => r.outcome === 'ok').length);
  const historyLens = await Promise.all(records.map((r) => rt.redis.llen(rt.keys.history(r.gap_id!))));
  const historyDup = historyLens.reduce((a, n) => a + Math.max(0, n - 1), 0);
  const branches = (await git(['branch', '--list', 'bot/*'], { cwd: h.bare })).stdout
    .trim()
    .split('\n')
    .filter(Boolean);
  const charged = (await rt.budget.today()).calls.used;
  const requests = server.requests.length;
  // A charge without a request: a kill landed between a reservation and its HTTP request (a
  // window of microseconds; the day errs on the safe side). Never fewer charges than requests.
  const budgetDup = Math.max(0, charged - requests);
  // Calls beyond one per cycle. A retry re-uses the answer an earlier attempt saved, so a kill
  // may cause a repeat only for a request whose answer the dead worker had not saved: cut off
  // mid-flight (the model server's log: the connection closed before the answer was written), or
  // answered but killed before the save (a window of a budget settle and a parse; the server
  // cannot see it, the job's saved data in Redis, read after each kill, does).
  const repeated = requests - records.filter((r) => r.model !== null).length;
  const cutOff = server.requests.filter((q) => q.cutOff).length;
  const sent = new Map<number, number>();
  for (const q of server.requests) sent.set(gapNumber(q), (sent.get(gapNumber(q)) ?? 0) + 1);
  const allowed = new Map<number, number>();
  for (const n of unsavedAtKill) allowed.set(n, (allowed.get(n) ?? 0) + 1);
  // Unexplained repeats: requests beyond the first for a gap that no unsaved answer at a kill accounts for.
  const extraCalls = [...sent].reduce((a, [n, k]) => a + Math.max(0, k - 1 - (allowed.get(n) ?? 0)), 0);
  const answeredUnsaved = Math.max(0, unsavedAtKill.length - cutOff);
  if (extraCalls > 0)
    console.error(
      `kills at ${kills.join(', ')}; unsaved at a kill: ${unsavedAtKill.join(', ')}\n` +
        server.requests
          .filter((q) => (sent.get(gapNumber(q)) ?? 0) > 1)
          .map((q) => `gap ${gapNumber(q)} sent ${q.at} answered ${q.answeredAt ?? '-'}${q.cutOff ? ' cut off' : ''}`)
          .join('\n'),
    );
  const events = (await rt.queues.events.getJobs(['completed', 'waiting', 'active', 'delayed', 'failed'])).length;
  const duplicates =
    prDup +
    historyDup +
    Math.max(0, statTotal - CYCLES) +
    Math.max(0, events - CYCLES) +
    Math.max(0, branches.length - prFiles.length);

  const hits = await scanSecrets(
    h,
    rt,
    workers.map((w) => w.output()),
    'worker kill',
  );
  const notOk = records.filter((r) => r.outcome !== 'ok').map((r) => `${r.outcome} (${r.reason.slice(0, 200)})`);
  const outcomes =
    Object.entries(stats)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') + (notOk.length ? `; not ok: ${notOk.join(' | ')}` : '');
  recordRow({
    fault: `worker SIGKILL while it holds jobs of every stage (propose, apply, test, pr; ${KILLS} kills), then a fresh worker`,
    injections: injections.length,
    inFlight: CYCLES,
    lost,
    duplicates,
    extraCalls,
    notes: `kills in ${injections.map((i) => `${i.stages.join('+')} (${i.active} jobs)`).join(', ')}; outcomes: ${outcomes}; ${prFiles.length} PRs, ${branches.length} branches; ${charged} calls charged for ${requests} model requests; ${repeated} requests repeated, ${cutOff} requests cut off mid-flight by a kill (the model server's log: connection closed before the answer) and ${answeredUnsaved} answered but killed before the save (the job's saved data after the kill), ${extraCalls} repeats no unsaved answer accounts for; ${budgetDup} charges whose request a kill stopped before it was sent`,
  });
  // Every stage cut into by every kill (three hits a stage; the stage-by-stage kills made two).
  expect(injections.map((i) => i.stages)).toEqual(Array(KILLS).fill([...STAGES]));
  expect(lost).toBe(0);
  expect(statTotal).toBe(CYCLES);
  expect(duplicates).toBe(0);
  expect(charged).toBeGreaterThanOrEqual(requests);
  // Per kill, at most the propose calls in flight in that process (the bounds were one charge
  // and eight calls a kill when eight kills each cut into one stage, propose concurrency 8).
  expect(budgetDup).toBeLessThanOrEqual(injections.length * PROPOSE_CONCURRENCY);
  // A repeat only for a request whose answer a kill kept from being saved; a kill stops at most
  // the calls in flight in that process.
  expect(extraCalls).toBe(0);
  expect(cutOff).toBeLessThanOrEqual(injections.length * PROPOSE_CONCURRENCY);
  expect(unsavedAtKill.length).toBeLessThanOrEqual(injections.length * PROPOSE_CONCURRENCY);
  expect(repeated).toBeLessThanOrEqual(unsavedAtKill.length);
  expect(hits).toBe(0);
}, 600_000);

/**
 * The row's positive control: the jobs a killed worker held are carried on by BullMQ's
 * stalled-job check, which runs them again from their payload. The same kill (a worker holding
 * jobs, SIGKILL, then a fresh worker) with that re-run off (worker.maxStalledCount 0) ends every
 * cycle it held in its stage's "gave up" outcome: the kill alone failed them.
 */
it('positive control: the same SIGKILL with the stalled-job re-run off (maxStalledCount 0) fails the cycles the worker held', async () => {
  const CTL_CYCLES = 8;
  const { h: hh } = await reliabilityWorld({
    gaps: CTL_CYCLES,
    delayMs: 400,
    spawns: true,
    config: {
      worker: { lockDurationMs: 1500, stalledIntervalMs: 500, maxStalledCount: 0 },
      queues: { propose: { concurrency: 4 }, apply: { concurrency: 4 }, test: { concurrency: 4 } },
    },
  });
  const rt = hh.rt;
  const ids = (await produce(rt, defaultPolicy)).lines.map((l) => l.cycleId!);
  const started = Date.now();
  const w = spawnWorker(hh.configFile, 'propose,apply,test,pr,events');
  workers.push(w);
  let held = 0;
  await until(
    async () =>
      (held = (
        await Promise.all(
          STAGES.map(
            async (s) => (await rt.queues[s].getActive()).filter((j) => (j.processedOn ?? 0) >= started).length,
          ),
        )
      ).reduce((a, b) => a + b, 0)) >= 3,
    60_000,
    25,
  );
  await stopChild(w, 'SIGKILL');
  const last = spawnWorker(hh.configFile, 'propose,apply,test,pr,events');
  workers.push(last);
  const records = await waitForOutcomes(rt, ids, 300_000);
  const failed = records.filter((r) => r.outcome !== 'ok');
  console.log(
    `stalled re-run off: ${held} jobs held at the kill; outcomes ${records.map((r) => r.outcome).join(', ')}; ${failed
      .map((r) => r.reason.slice(0, 80))
      .join(' | ')}`,
  );
  // The control: cycles the kill alone failed (the defended row: every cycle ok).
  expect(failed.length).toBeGreaterThan(0);
  expect(failed.every((r) => /stalled/.test(r.reason))).toBe(true);
}, 400_000);
