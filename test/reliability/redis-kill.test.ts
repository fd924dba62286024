import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { utcDay } from '@prbot/core';
import { startRedisServer, type RedisServer } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { waitForOutcomes } from '@prbot/worker';
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

const CYCLES = 20;
let redis: RedisServer;
let worker: WorkerChild | undefined;

afterAll(async () => {
  if (worker) await stopChild(worker).catch(() => {});
  await closeWorlds();
  await redis?.stop();
});

it('positive control: the same Redis SIGKILL mid-run, restarted without its AOF (the persistence off) → cycles lost', async () => {
  const dir = path.join((await import('node:os')).tmpdir(), `prbot-aof-${Date.now()}`);
  redis = await startRedisServer({ dir });
  const { h } = await reliabilityWorld({
    gaps: CYCLES,
    delayMs: 150,
    spawns: true,
    config: {
      redis: { url: redis.url },
      worker: { lockDurationMs: 2000, stalledIntervalMs: 500, maxStalledCount: 5 },
      queues: { propose: { concurrency: 2 }, test: { concurrency: 2 } },
    },
  });
  const rt = h.rt;
  const ids = (await produce(rt, defaultPolicy)).lines.map((l) => l.cycleId!);
  await new Promise((r) => setTimeout(r, 1500));
  worker = spawnWorker(h.configFile, 'propose,apply,test,pr,events');
  const done = async () =>
    (await Promise.all(ids.map((id) => rt.redis.get(rt.keys.outcome(id))))).filter(Boolean).length;
  expect(await until(async () => (await done()) >= 3, 60_000, 50)).toBe(true);
  await redis.stop('SIGKILL');
  await new Promise((r) => setTimeout(r, 1000));
  // The one change: the restarted server does not read the AOF the killed one wrote.
  redis = await startRedisServer({ port: redis.port });
  // Asked through the reconnecting client: an answer that does not come yet is no outcome.
  const ended = await until(async () => (await done().catch(() => 0)) === CYCLES, 30_000, 200);
  const have = await done();
  console.info(`control AOF off: ${CYCLES - have} of ${CYCLES} cycles without an outcome 30 s after the restart`);
  expect(ended).toBe(false);
  expect(have).toBeLessThan(CYCLES);
  await stopChild(worker).catch(() => {});
  worker = undefined;
  await closeWorlds();
  await redis.stop();
}, 300_000);

it('Redis SIGKILLed and restarted mid-run (AOF, appendfsync everysec): no cycle lost; workers and producer reconnect', async () => {
  const dir = path.join((await import('node:os')).tmpdir(), `prbot-aof-${Date.now()}`);
  redis = await startRedisServer({ dir });
  const { h } = await reliabilityWorld({
    gaps: CYCLES,
    delayMs: 150,
    spawns: true,
    config: {
      redis: { url: redis.url },
      worker: { lockDurationMs: 2000, stalledIntervalMs: 500, maxStalledCount: 5 },
      queues: { propose: { concurrency: 2 }, test: { concurrency: 2 } },
    },
  });
  const rt = h.rt;
  const ids = (await produce(rt, defaultPolicy)).lines.map((l) => l.cycleId!);
  await new Promise((r) => setTimeout(r, 1500)); // past the AOF's one-second fsync window
  worker = spawnWorker(h.configFile, 'propose,apply,test,pr,events');
  const done = async () =>
    (await Promise.all(ids.map((id) => rt.redis.get(rt.keys.outcome(id))))).filter(Boolean).length;
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
    notes: `${before} of ${CYCLES} cycles had ended before the kill; the same worker process reconnected (${workerAlive ? 'alive' : 'exited'}); outcomes: ${Object.entries(
      stats,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}${notOk.length ? `; not ok: ${notOk.join(' | ')}` : ''}`,
  });
  expect(lost).toBe(0);
  expect(workerAlive).toBe(true);
  expect(total).toBe(CYCLES);
  expect(reEnqueued).toBe(0);
  expect(hits).toBe(0);
}, 300_000);
