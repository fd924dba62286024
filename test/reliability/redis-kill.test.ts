import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { utcDay } from '@prbot/core';
import { createHarness, startModelServer, startRedisServer, type Harness, type ModelServer, type RedisServer } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { repoWithGaps, waitForOutcomes } from '../../apps/worker/test/helpers.ts';
import { gapLines, gapNumber, passingAnswer } from './answers.ts';
import { recordRow, scanSecrets, SECRET_ENV, spawnWorker, stopChild, until, type WorkerChild } from './support.ts';

const CYCLES = 20;
let h: Harness;
let server: ModelServer;
let redis: RedisServer;
let worker: WorkerChild | undefined;

afterAll(async () => {
  if (worker) await stopChild(worker).catch(() => {});
  await h?.cleanup().catch(() => {});
  await server?.close();
  await redis?.stop();
});

it('Redis SIGKILLed and restarted mid-run (AOF, appendfsync everysec): no cycle lost; workers and producer reconnect', async () => {
  server = await startModelServer((req) => ({ ...passingAnswer(gapNumber(req)), delayMs: 150 }));
  const dir = path.join((await import('node:os')).tmpdir(), `prbot-aof-${Date.now()}`);
  redis = await startRedisServer({ dir });
  const repo = await repoWithGaps(gapLines(CYCLES));
  h = await createHarness({
    repo,
    env: SECRET_ENV,
    config: {
      redis: { url: redis.url },
      models: { providers: { loop: { kind: 'openai', baseUrl: server.baseUrl, keyEnv: 'PRBOT_TEST_KEY' } }, propose: ['loop/m'] },
      budget: { callsPerDay: 1000, perCycle: { calls: 20 } },
      policy: { maxGapsPerRun: 100 },
      forge: { kind: 'local', maxOpen: 1000, maxPerHour: 1000 },
      worker: { lockDurationMs: 2000, stalledIntervalMs: 500, maxStalledCount: 5 },
      queues: { propose: { concurrency: 2, limiter: null }, test: { concurrency: 2 }, pr: { limiter: null } },
      log: { level: 'info' },
    },
  });
  const rt = h.rt;
  const ids = (await produce(rt, defaultPolicy)).lines.map((l) => l.cycleId!);
  await new Promise((r) => setTimeout(r, 1500)); // past the AOF's one-second fsync window
  worker = spawnWorker(h.configFile, 'propose,apply,test,pr,events');
  const done = async () => (await Promise.all(ids.map((id) => rt.redis.get(rt.keys.outcome(id))))).filter(Boolean).length;
  expect(await until(async () => (await done()) >= 3, 60_000, 50)).toBe(true);
  const before = await done();

  await redis.stop('SIGKILL');
  await new Promise((r) => setTimeout(r, 1000));
  redis = await startRedisServer({ dir, port: redis.port });

  const records = await waitForOutcomes(rt, ids, 120_000);
  const lost = ids.length - records.length;
  const stats = await rt.redis.hgetall(rt.keys.stats(utcDay(Date.now())));
  const total = Object.values(stats).reduce((a, b) => a + Number(b), 0);
  // The producer reconnects too: a new run sees every gap awaiting review, enqueues nothing twice.
  const again = await produce(rt, defaultPolicy);
  const okGaps = new Set(records.filter((r) => r.outcome === 'ok').map((r) => r.gap_id));
  const reEnqueued = again.lines.filter((l) => l.action === 'enqueued' && okGaps.has(l.gap.id)).length;
  const notOk = records.filter((r) => r.outcome !== 'ok').map((r) => `${r.outcome}: ${r.reason.slice(0, 160)}`);
  const workerAlive = worker.child.exitCode === null && !worker.child.killed;
  const hits = await scanSecrets(h, rt, [worker.output()], 'redis kill');
  recordRow({
    fault: 'Redis SIGKILL + restart (appendonly yes, appendfsync everysec)',
    injections: 1,
    inFlight: CYCLES - before,
    lost,
    duplicates: Math.max(0, total - CYCLES) + reEnqueued,
    notes: `${before} of ${CYCLES} cycles had ended before the kill; the same worker process reconnected (${workerAlive ? 'alive' : 'exited'}); outcomes: ${Object.entries(stats).map(([k, v]) => `${k} ${v}`).join(', ')}${notOk.length ? `; not ok: ${notOk.join(' | ')}` : ''}`,
  });
  expect(lost).toBe(0);
  expect(workerAlive).toBe(true);
  expect(total).toBe(CYCLES);
  expect(reEnqueued).toBe(0);
  expect(hits).toBe(0);
}, 300_000);
