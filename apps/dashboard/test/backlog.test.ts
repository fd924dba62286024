// The autoscaling metric: jobs ready per queue (waiting + prioritized + delayed and due) and the
// load (ready + active), served at /api/backlog (what KEDA's metrics-api scaler reads) and as
// gauges on /metrics; plus the workers-alive presence the "no test worker" alert reads.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { announcePresence, PRESENCE_TTL_MS } from '@prbot/pipeline';
import { createHarness, type Harness } from '@prbot/test-support';
import { createDashboard } from '../src/index.ts';

let h: Harness;
let server: Server;
let url: string;
let now = Date.now();

beforeAll(async () => {
  h = await createHarness({ clock: () => now });
  server = createDashboard(h.rt, { auth: null, readOnly: false, secureCookies: false }).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.close();
  await h.cleanup();
});

const backlog = async () =>
  (
    (await (await fetch(`${url}/api/backlog`)).json()) as {
      queues: Record<string, { ready: number; active: number; load: number; workers: number }>;
    }
  ).queues as Record<
    'test' | 'propose' | 'apply' | 'pr',
    { ready: number; active: number; load: number; workers: number }
  >;
const gauge = (text: string, name: string, queue: string) =>
  Number(new RegExp(`^${name}\\{queue="${queue}"\\} (\\S+)$`, 'm').exec(text)?.[1]);

it('ready counts waiting, prioritized and delayed-and-due jobs, not jobs delayed into the future; /metrics says the same', async () => {
  const q = h.rt.queues.test;
  await q.add('w', {}, { jobId: 'w1' });
  await q.add('w', {}, { jobId: 'w2' });
  await q.add('p', {}, { jobId: 'p1', priority: 5 });
  // Delays are measured against Date.now() by BullMQ: one job due in 1 ms, one in an hour.
  await q.add('d', {}, { jobId: 'd1', delay: 1 });
  await q.add('d', {}, { jobId: 'd2', delay: 3_600_000 });
  now = Date.now() + 50;
  await new Promise((r) => setTimeout(r, 60));
  const b = await backlog();
  expect(b.test).toMatchObject({ ready: 4, active: 0, load: 4 });
  expect(b.propose).toMatchObject({ ready: 0, load: 0 });
  const text = await (await fetch(`${url}/metrics`)).text();
  expect(gauge(text, 'prbot_jobs_ready', 'test')).toBe(4);
  expect(gauge(text, 'prbot_queue_load', 'test')).toBe(4);
  // The hour-long delay becomes ready once its time has come: the score, not the state, decides.
  now = Date.now() + 3_600_001;
  expect((await backlog()).test.ready).toBe(5);
});

it('an active job counts in load, not in ready; a paused queue has nothing ready', async () => {
  const q = h.rt.queues.apply;
  await q.add('a', {}, { jobId: 'a1' });
  await q.add('a', {}, { jobId: 'a2' });
  const { Worker } = await import('bullmq');
  // A worker that takes one job and holds it: one active, one still ready.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const w = new Worker('apply', () => held, {
    connection: h.rt.redis,
    prefix: h.prefix,
    concurrency: 1,
    autorun: true,
  });
  try {
    for (let i = 0; i < 100 && (await q.getActiveCount()) < 1; i++) await new Promise((r) => setTimeout(r, 20));
    now = Date.now();
    expect((await backlog()).apply).toMatchObject({ ready: 1, active: 1, load: 2 });
    await q.pause();
    expect((await backlog()).apply).toMatchObject({ ready: 0, active: 1, load: 1 });
    await q.resume();
  } finally {
    release();
    await w.close();
  }
});

it('workers alive: a process that beats counts, one that stopped beating ages out, one that stopped cleanly leaves at once', async () => {
  now = Date.now();
  const p1 = announcePresence(
    h.rt.redis,
    h.rt.keys,
    ['test'],
    (e) => {
      throw e;
    },
    () => now,
  );
  const p2 = announcePresence(
    h.rt.redis,
    h.rt.keys,
    ['test', 'pr'],
    (e) => {
      throw e;
    },
    () => now - PRESENCE_TTL_MS + 1000,
  );
  await new Promise((r) => setTimeout(r, 50));
  expect((await backlog()).test.workers).toBe(2);
  expect((await backlog()).pr.workers).toBe(1);
  now += 2000; // p2's last beat is now older than the TTL
  expect((await backlog()).test.workers).toBe(1);
  await p1.stop();
  expect((await backlog()).test.workers).toBe(0);
  const text = await (await fetch(`${url}/metrics`)).text();
  expect(gauge(text, 'prbot_workers_alive', 'test')).toBe(0);
  await p2.stop();
});
