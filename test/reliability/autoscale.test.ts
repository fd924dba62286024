// Autoscaling as a cluster would do it, with real test-worker processes: a loop reads exactly
// what the test ScaledObject reads (the rendered example overlay's trigger: its URL path on a
// dashboard behind basic auth, its valueLocation, its targetValue, min and max), applies KEDA's
// and the HPA's rules (keda-scaler.ts) at each polling interval, starts a `--queues test` worker
// process per replica (each with its own workdir, as pods have) and SIGTERMs the newest on
// scale-down, while 200 cycles run in two waves. Times are scaled down for a test (the manifest
// polls every 15 s and cools down for 300 s), and max replicas are capped for a 2-core machine.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { utcDay } from '@prbot/core';
import { git } from '@prbot/repo';
import { REPO_ROOT, type Harness, type ModelServer } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { createDashboard } from '@prbot/dashboard';
import { waitForOutcomes } from '../../apps/worker/test/helpers.ts';
import { exampleWorkspace, render, type Doc } from '../kustomize.ts';
import { KedaScaler, valueAt } from './keda-scaler.ts';
import {
  closeWorlds,
  recordRow,
  reliabilityWorld,
  spawnWorker,
  stopChild,
  until,
  writeConfigVariant,
  type WorkerChild,
} from './support.ts';

const CYCLES = 200;
const WAVES = 2;
const POLL_MS = 1000;
const COOLDOWN_MS = 4000;
const STABILIZATION_MS = 3000;
/** Test-worker processes this 2-core machine runs at once (the example overlay allows 12 pods). */
const MACHINE_MAX = 3;

let h: Harness;
let server: ModelServer;
let dashboard: Server | undefined;
const others: WorkerChild[] = [];
const replicas: { w: WorkerChild; n: number }[] = [];
let workspace: string | undefined;

afterAll(async () => {
  for (const w of [...others, ...replicas.map((r) => r.w)]) await stopChild(w).catch(() => {});
  dashboard?.close();
  if (workspace) await rm(workspace, { recursive: true, force: true });
  await closeWorlds();
});

it(`KEDA's rules on /api/backlog start and SIGTERM real test workers while ${CYCLES} cycles run: nothing lost, no second PR, scale-up at the first poll, zero at the end`, async () => {
  workspace = exampleWorkspace(path.join(REPO_ROOT, 'deploy', 'kubernetes'));
  const so = render(path.join(workspace, 'overlays', 'example')).find(
    (d: Doc) => d.kind === 'ScaledObject' && d.metadata.name === 'prbot-worker-test',
  )!;
  const trigger = so.spec.triggers[0];
  const target = Number(trigger.metadata.targetValue);
  const scaler = new KedaScaler({
    target,
    activation: Number(trigger.metadata.activationTargetValue ?? 0),
    minReplicas: so.spec.minReplicaCount,
    maxReplicas: Math.min(so.spec.maxReplicaCount, MACHINE_MAX),
    cooldownMs: COOLDOWN_MS,
    stabilizationMs: STABILIZATION_MS,
  });
  expect(so.spec.minReplicaCount).toBe(0);

  ({ h, server } = await reliabilityWorld({
    gaps: CYCLES,
    spawns: true,
    config: {
      policy: { maxGapsPerRun: CYCLES / WAVES },
      // One replica takes `target` tests at once: the ScaledObject's target is the worker's concurrency.
      queues: {
        propose: { concurrency: 4 },
        apply: { concurrency: 4 },
        test: { concurrency: target },
        pr: { concurrency: 2 },
      },
      worker: { shutdownGraceMs: 10_000 },
    },
  }));
  const rt = h.rt;
  const auth = { user: 'keda', password: 'metrics-api-pw-51d2' };
  dashboard = createDashboard(rt, { auth, readOnly: true, secureCookies: false }).listen(0, '127.0.0.1');
  await new Promise((r) => dashboard!.once('listening', r));
  const metricUrl = `http://127.0.0.1:${(dashboard.address() as AddressInfo).port}${new URL(trigger.metadata.url).pathname}`;
  const headers = { authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}` };

  // propose, apply, pr and events in one process of their own (not scaled here).
  others.push(spawnWorker(h.configFile, 'propose,apply,pr,events'));

  let started = 0;
  const exits: Promise<{ n: number; code: number | undefined; signal: string | undefined; started: boolean }>[] = [];
  const polls: { at: number; metric: number; replicas: number }[] = [];
  const startReplica = async () => {
    const n = ++started;
    // Its own workdir, as a pod has its own emptyDir; and no secret but the job key.
    const file = await writeConfigVariant(h, `test-replica-${n}`, (raw) => ({
      ...raw,
      workdir: path.join(h.dir, `replica-${n}`, 'work'),
    }));
    replicas.push({ w: spawnWorker(file, 'test', {}), n });
  };
  const poll = async () => {
    const at = Date.now();
    const metric = valueAt(await (await fetch(metricUrl, { headers })).json(), trigger.metadata.valueLocation);
    const want = scaler.poll(metric, at);
    while (replicas.length < want) await startReplica();
    while (replicas.length > want) {
      const r = replicas.pop()!; // the newest pod goes first, as a ReplicaSet picks
      r.w.child.kill('SIGTERM');
      exits.push(
        Promise.resolve(r.w.child).then((res) => ({
          n: r.n,
          code: res.exitCode,
          signal: res.signal,
          started: r.w.output().includes('prbot worker started'),
        })),
      );
    }
    polls.push({ at, metric, replicas: replicas.length });
  };
  // The backlog as Redis has it, looked at far more often than the scaler polls, while no replica runs.
  const backlogSeen: number[] = [];
  let running = true;
  const watcher = (async () => {
    let before = 0;
    while (running) {
      const c = await rt.queues.test.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
      const n = Object.values(c).reduce((a, b) => a + b, 0);
      if (n > 0 && before === 0 && replicas.length === 0) backlogSeen.push(Date.now());
      before = n;
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  // A poll every POLL_MS from the last one's start, as KEDA's ticker does (not POLL_MS after it ended).
  const loop = (async () => {
    while (running) {
      const at = Date.now();
      await poll();
      await new Promise((r) => setTimeout(r, Math.max(0, at + POLL_MS - Date.now())));
    }
  })();

  const t0 = Date.now();
  const ids: string[] = [];
  const waves: { produced: number; peak: number }[] = [];
  for (let wave = 0; wave < WAVES; wave++) {
    const wid = (await produce(rt, defaultPolicy)).lines.map((l) => l.cycleId!).filter(Boolean);
    ids.push(...wid);
    const from = polls.length;
    await waitForOutcomes(rt, wid, 420_000);
    // Idle again: KEDA's cooldown takes the test workers to zero before the next wave.
    expect(await until(async () => replicas.length === 0, COOLDOWN_MS + STABILIZATION_MS + 10 * POLL_MS, 100)).toBe(
      true,
    );
    waves.push({ produced: wid.length, peak: Math.max(...polls.slice(from).map((p) => p.replicas)) });
  }
  running = false;
  await Promise.all([loop, watcher]);
  const codes = await Promise.all(exits);
  const elapsed = Date.now() - t0;

  // Scale-up: each time a backlog appeared with no replica, the first poll after it started one.
  const scaleUps = backlogSeen.map((seen) => {
    const first = polls.find((p) => p.at >= seen)!;
    return { first, latencyMs: first.at - seen };
  });
  const records = await waitForOutcomes(rt, ids, 10_000);
  const lost = ids.length - records.filter(Boolean).length;
  const stats = await rt.redis.hgetall(rt.keys.stats(utcDay(Date.now())));
  const statTotal = Object.values(stats).reduce((a, b) => a + Number(b), 0);
  const prFiles = await readdir(path.join(h.dir, 'prs')).catch(() => [] as string[]);
  const branches = (await git(['branch', '--list', 'bot/*'], { cwd: h.bare })).stdout
    .trim()
    .split('\n')
    .filter(Boolean);
  const prsPerGap = new Map<string, number>();
  for (const f of prFiles) {
    const rec = records.find((r) => r.branch && f === `${r.branch.replace(/[^A-Za-z0-9._-]+/g, '_')}.json`);
    if (rec) prsPerGap.set(rec.gap_id!, (prsPerGap.get(rec.gap_id!) ?? 0) + 1);
  }
  const prDup =
    [...prsPerGap.values()].reduce((a, n) => a + Math.max(0, n - 1), 0) +
    Math.max(0, prFiles.length - records.filter((r) => r.outcome === 'ok').length);
  const historyLens = await Promise.all(records.map((r) => rt.redis.llen(rt.keys.history(r.gap_id!))));
  const duplicates =
    prDup +
    historyLens.reduce((a, n) => a + Math.max(0, n - 1), 0) +
    Math.max(0, statTotal - CYCLES) +
    Math.max(0, branches.length - prFiles.length);
  const notOk = records.filter((r) => r.outcome !== 'ok').map((r) => `${r.outcome} (${r.reason.slice(0, 160)})`);
  const sigterms = codes.length;
  // Test runs a SIGTERM sent back to waiting: the test queue ran more tests than cycles.
  const testJobs = await rt.queues.test.getJobs(['completed'], 0, -1);
  const rerun = testJobs.reduce((a, j) => a + Math.max(0, (j.attemptsStarted ?? 1) - 1), 0);

  recordRow({
    fault: `autoscale: KEDA's rules on /api/backlog (target ${target}, min 0, max ${MACHINE_MAX}, poll ${POLL_MS} ms, cooldown ${COOLDOWN_MS} ms) start and SIGTERM real test workers, ${WAVES} waves`,
    injections: sigterms,
    inFlight: CYCLES,
    lost,
    duplicates,
    notes: `${started} test-worker starts, ${sigterms} SIGTERMs (${codes.filter((c) => c.started && c.code === 0).length} drained and exited 0, ${codes.filter((c) => !c.started).length} stopped before they had started), peak replicas per wave ${waves.map((w) => w.peak).join(', ')}; ${rerun} test runs restarted after a scale-down; scale-ups from zero ${scaleUps.map((s) => `${s.latencyMs} ms`).join(', ')} after the backlog appeared (poll ${POLL_MS} ms); ${prFiles.length} PRs; ${(elapsed / 1000).toFixed(0)} s for ${CYCLES} cycles${notOk.length ? `; not ok: ${notOk.join(' | ')}` : ''}`,
  });
  console.log(
    `autoscale: ${started} starts, ${sigterms} SIGTERMs, peaks ${waves.map((w) => w.peak).join(',')}, scale-up latencies ${scaleUps.map((s) => s.latencyMs).join(',')} ms, ${rerun} reruns, ${(elapsed / 1000).toFixed(1)} s`,
  );

  expect(ids).toHaveLength(CYCLES);
  expect(lost).toBe(0);
  expect(statTotal).toBe(CYCLES);
  expect(duplicates).toBe(0);
  expect(notOk).toEqual([]);
  // One scale-up from zero per wave, each decided by the first poll after the backlog appeared.
  expect(scaleUps).toHaveLength(WAVES);
  for (const s of scaleUps) expect(s.first.replicas).toBeGreaterThan(0);
  // The backlog outgrew one replica: the formula took it past one, to the cap.
  for (const w of waves) expect(w.peak).toBe(MACHINE_MAX);
  // Scale to zero at the end, and every SIGTERMed worker drained and exited by itself.
  expect(polls.at(-1)!.replicas).toBe(0);
  expect(replicas).toHaveLength(0);
  // Every worker that had started drained and exited 0. One stopped while node was still loading
  // (a scale-down soon after a scale-up, as a pod can be deleted while it starts) dies of the
  // signal before prbot's code runs: it held no job, so nothing is lost (the counts above).
  expect(codes.filter((c) => c.started && c.code !== 0)).toEqual([]);
  expect(codes.filter((c) => !c.started).every((c) => c.code === 0 || c.signal === 'SIGTERM')).toBe(true);
  expect(sigterms).toBe(started);
}, 900_000);
