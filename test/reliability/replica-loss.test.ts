import { afterEach, expect, it } from 'vitest';
import { cycleRecord, newCycleId, utcDay } from '@prbot/core';
import { recordOutcome, untilRedisAnswers, type Runtime } from '@prbot/pipeline';
import {
  createHarness,
  lagReplicas,
  startRedisCluster,
  startRedisSentinel,
  type Harness,
  type RedisCluster,
  type RedisSentinelSet,
} from '@prbot/test-support';
import { recordRow, until } from './support.ts';

/**
 * Asynchronous replication's loss, shown and then designed away: a budget charge and an outcome
 * record written while the replicas are frozen (SIGSTOP) and cut off (CLIENT KILL TYPE replica) reach
 * only the master; the master is
 * SIGKILLed, a replica is promoted without them. Without WAIT (redis.waitReplicas 0) both are
 * gone; with it the writes are confirmed on a replica or written again on the new master —
 * exactly once (the budget write carries an id, the outcome is recorded once).
 */
let set: RedisSentinelSet | undefined;
let cluster: RedisCluster | undefined;
let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
  await set?.stop();
  set = undefined;
  await cluster?.stop();
  cluster = undefined;
});

async function lossRun(
  waitReplicas: number,
): Promise<{ charged: number; outcome: string | null; statTotal: number; promotedMs: number }> {
  set = await startRedisSentinel();
  h = await createHarness({
    config: { redis: { sentinel: { name: set.name, nodes: set.sentinels }, waitReplicas, waitTimeoutMs: 1000 } },
  });
  const rt: Runtime = h.rt;
  await rt.redis.ping();
  const master = await set.master();
  const replicas = await set.replicas();
  expect(replicas).toHaveLength(2);
  const cycleId = newCycleId();
  const record = cycleRecord({
    cycle_id: cycleId,
    outcome: 'ok',
    reason: 'replica-loss probe',
    stage: 'pr',
    started_at: new Date().toISOString(),
    ended_at: new Date().toISOString(),
    dry_run: false,
  });

  const lag = await lagReplicas(
    set.servers.get(master)!.url,
    replicas.map((r) => set!.servers.get(r)!.process.pid!),
  );
  // Both writes start while only the master can take them; the kill comes before any WAIT could end.
  const charge = rt.budget.reserve(cycleId, 100);
  const outcome = untilRedisAnswers(() => recordOutcome(rt.records, record), {
    what: 'the probe outcome',
    maxMs: 60_000,
  });
  await new Promise((r) => setTimeout(r, 300));
  process.kill(set.servers.get(master)!.process.pid!, 'SIGKILL');
  const killedAt = Date.now();
  await new Promise((r) => setTimeout(r, 500));
  lag.resume();
  expect(await until(async () => (await set!.master().catch(() => master)) !== master, 30_000, 100)).toBe(true);
  const promotedMs = Date.now() - killedAt;
  await Promise.all([charge, outcome]);
  // Read on the promoted master once the client follows it.
  await until(async () => (await rt.redis.info('replication').catch(() => '')).includes('role:master'), 10_000, 100);
  const day = await rt.redis.hgetall(rt.keys.budgetDay(utcDay(Date.now())));
  const stats = await rt.redis.hgetall(rt.keys.stats(utcDay(Date.now())));
  return {
    charged: Number(day.calls ?? 0),
    outcome: await rt.redis.get(rt.keys.outcome(cycleId)),
    statTotal: Object.values(stats).reduce((a, b) => a + Number(b), 0),
    promotedMs,
  };
}

// The control's result goes into the WAIT row's notes: a row of its own would count as a loss.
let control = 'not run';

it('positive control: without WAIT, a charge and an outcome written while the replicas lag are lost with the killed master', async () => {
  const r = await lossRun(0);
  control = `charge ${r.charged === 0 ? 'gone' : 'kept'}, outcome ${r.outcome === null ? 'gone' : 'kept'}`;
  expect(r.charged).toBe(0);
  expect(r.outcome).toBeNull();
}, 90_000);

it('with WAIT (redis.waitReplicas 1): the same writes survive the failover, each exactly once', async () => {
  const r = await lossRun(1);
  recordRow({
    fault:
      'Sentinel failover with the replicas frozen while a budget charge and an outcome are written; redis.waitReplicas 1, waitTimeoutMs 1000',
    injections: 1,
    inFlight: 1,
    lost: (r.charged === 0 ? 1 : 0) + (r.outcome === null ? 1 : 0),
    duplicates: Math.max(0, r.charged - 1) + Math.max(0, r.statTotal - 1),
    notes: `promoted ${(r.promotedMs / 1000).toFixed(1)} s after the kill; charge ${r.charged} call(s), outcome ${r.outcome ?? 'gone'}, day stats ${r.statTotal}: the unconfirmed writes were written again on the new master under their ids. The same run with redis.waitReplicas 0 (the positive control): ${control}`,
  });
  expect(r.charged).toBe(1);
  expect(r.outcome).toBe('ok');
  expect(r.statTotal).toBe(1);
}, 90_000);

/**
 * The same loss in a Redis Cluster (3 masters + 3 replicas), for the Cluster failover row: the
 * master of the slot holding prbot's keys is killed while its replica lags. WAIT runs there on
 * the connection of that key's master (writeConfirmed), so with waitReplicas 0 the same writes go.
 */
async function clusterLossRun(waitReplicas: number): Promise<{ charged: number; outcome: string | null }> {
  cluster = await startRedisCluster({ replicas: 1 });
  h = await createHarness({ config: { redis: { cluster: cluster.urls, waitReplicas, waitTimeoutMs: 1000 } } });
  const rt: Runtime = h.rt;
  await rt.redis.set(`${h.prefix}:bot:probe`, '1');
  const slotKey = `${h.prefix}:bot:epoch`; // the slot of every prbot key (the prefix is a hash tag)
  // A fresh cluster's replicas take a moment to attach.
  await until(async () => (await cluster!.ownerOf(slotKey)).replicas.length > 0, 30_000, 200);
  const { master, replicas } = await cluster.ownerOf(slotKey);
  expect(replicas.length).toBeGreaterThan(0);
  const cycleId = newCycleId();
  const record = cycleRecord({
    cycle_id: cycleId,
    outcome: 'ok',
    reason: 'replica-loss probe (cluster)',
    stage: 'pr',
    started_at: new Date().toISOString(),
    ended_at: new Date().toISOString(),
    dry_run: false,
  });
  const lag = await lagReplicas(
    cluster.servers.get(master)!.url,
    replicas.map((r) => cluster!.servers.get(r)!.process.pid!),
  );
  const charge = rt.budget.reserve(cycleId, 100);
  const outcome = untilRedisAnswers(() => recordOutcome(rt.records, record), {
    what: 'the probe outcome',
    maxMs: 60_000,
  });
  await new Promise((r) => setTimeout(r, 300));
  process.kill(cluster.servers.get(master)!.process.pid!, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 500));
  lag.resume();
  expect(
    await until(async () => (await cluster!.ownerOf(slotKey).catch(() => ({ master }))).master !== master, 30_000, 100),
  ).toBe(true);
  await Promise.all([charge, outcome]);
  let day: Record<string, string> = {};
  await until(
    async () => {
      day = await rt.redis.hgetall(rt.keys.budgetDay(utcDay(Date.now())));
      return true;
    },
    10_000,
    100,
  );
  return {
    charged: Number(day.calls ?? 0),
    outcome: await untilRedisAnswers(() => rt.redis.get(rt.keys.outcome(cycleId)), {
      what: 'reading the outcome',
      maxMs: 10_000,
    }),
  };
}

it('positive control (Cluster): without WAIT, the same charge and outcome are lost with the killed master; with it, both survive', async () => {
  const off = await clusterLossRun(0);
  await h?.cleanup();
  h = undefined;
  await cluster?.stop();
  cluster = undefined;
  const on = await clusterLossRun(1);
  console.log(
    `cluster, waitReplicas 0: charge ${off.charged}, outcome ${off.outcome ?? 'gone'}; waitReplicas 1: charge ${on.charged}, outcome ${on.outcome ?? 'gone'}`,
  );
  expect(off.charged).toBe(0);
  expect(off.outcome).toBeNull();
  expect(on.charged).toBe(1);
  expect(on.outcome).toBe('ok');
}, 240_000);
