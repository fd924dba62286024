import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import http from 'node:http';
import type net from 'node:net';
import { afterAll, expect, it } from 'vitest';
import { clearSecrets, registerSecrets } from '@prbot/core';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { runAll, waitForOutcomes } from '@prbot/worker';
import {
  closeWorlds,
  recordRow,
  reliabilityWorld,
  scanSecrets,
  SECRET_KEY,
  SECRET_TOKEN,
  SECRETS,
  spawnWorker,
  stopChild,
  type WorkerChild,
} from './support.ts';

const GAPS = 5;
let worker: WorkerChild | undefined;
let observer: http.Server | undefined;

afterAll(async () => {
  if (worker) await stopChild(worker).catch(() => {});
  await closeWorlds();
  await new Promise<void>((r) => (observer ? observer.close(() => r()) : r()));
});

it('a provider that echoes the Authorization header (401, 500 and 200-with-error bodies): the key is stored nowhere', async () => {
  // Every way a provider can quote the request back: a 401 body, a 500 body, an error in a 200.
  let n = 0;
  const script = (req: { headers: Record<string, unknown> }) => {
    const auth = String(req.headers.authorization);
    const kind = n++ % 3;
    const body = JSON.stringify({
      error: { message: `bad credentials: ${auth}`, metadata: { raw: { authorization: auth } } },
    });
    return kind === 0 ? { status: 401, body } : kind === 1 ? { status: 500, body } : { status: 200, body };
  };
  const posts: string[] = [];
  observer = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      posts.push(raw);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => observer!.listen(0, '127.0.0.1', () => r()));
  const { h, server } = await reliabilityWorld({
    gaps: GAPS,
    script,
    config: {
      observer: { url: `http://127.0.0.1:${(observer.address() as net.AddressInfo).port}/events` },
      queues: { propose: { attempts: 2, backoff: { delay: 50 } } },
      log: { level: 'debug' },
    },
  });
  worker = spawnWorker(h.configFile, 'propose,apply,test,pr,events');
  const ids = (await produce(h.rt, defaultPolicy)).lines.map((l) => l.cycleId!);
  const records = await waitForOutcomes(h.rt, ids, 120_000);
  const deadline = Date.now() + 60_000;
  while (posts.length < ids.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

  const echoed = server.requests.filter((q) => q.headers.authorization === `Bearer ${SECRET_KEY}`).length;
  const hits = await scanSecrets(h, h.rt, [worker.output(), posts.join('\n')], 'provider echoing the key');
  recordRow({
    fault: 'provider echoing the Authorization header back in 401, 500 and 200-with-error bodies',
    injections: server.requests.length,
    inFlight: GAPS,
    lost: GAPS - records.length,
    duplicates: 0,
    notes: `outcomes ${records.map((r) => r.outcome).join(', ')}; ${echoed} requests echoed the key; ${posts.length} observer POSTs; secret hits ${hits} in records, Redis, job data and logs, worker log, observer POSTs`,
  });
  expect(echoed).toBeGreaterThanOrEqual(GAPS);
  expect(records.map((r) => r.outcome)).toEqual(Array(GAPS).fill('model_failed'));
  expect(records.some((r) => r.reason.includes('[redacted]'))).toBe(true);
  expect(posts).toHaveLength(GAPS);
  expect(hits).toBe(0);
}, 300_000);

/** The same echoing provider, its answer bodies only (no observer: the records and jobs suffice). */
function echoing() {
  let n = 0;
  return (req: { headers: Record<string, unknown> }) => {
    const auth = String(req.headers.authorization);
    const body = JSON.stringify({ error: { message: `bad credentials: ${auth}` } });
    return n++ % 2 === 0 ? { status: 401, body } : { status: 500, body };
  };
}

it('positive control: with redaction off (no secret registered) the echoed key is stored in the records and the failed jobs', async () => {
  const { h } = await reliabilityWorld({
    gaps: 2,
    script: echoing(),
    config: { queues: { propose: { attempts: 2, backoff: { delay: 50 } } } },
  });
  // The runtime registered the key for redaction when it was made; forgetting it switches the
  // redaction of this process off (the workers below run in it).
  clearSecrets();
  try {
    const { records } = await runAll(h.rt, { timeoutMs: 120_000 });
    const stored = [
      ...records.map((r) => JSON.stringify(r)),
      ...(await h.rt.queues.propose.getJobs(['failed', 'completed'])).map((j) => `${j.failedReason} ${j.stacktrace}`),
    ].join('\n');
    const hits = stored.split(SECRET_KEY).length - 1;
    console.log(
      `redaction off: outcomes ${records.map((r) => r.outcome).join(', ')}; ${hits} copies of the key stored`,
    );
    expect(records).toHaveLength(2);
    // The control: the key the provider echoed is now in what prbot keeps.
    expect(hits).toBeGreaterThan(0);
  } finally {
    registerSecrets(SECRETS);
  }
}, 300_000);

it('positive control of the secret scans: a key planted in a record file, a Redis key, a job log and a worker log is counted by the same scan', async () => {
  const { h } = await reliabilityWorld({ gaps: 1 });
  const clean = await scanSecrets(h, h.rt, [], 'scan control (clean)', false);
  await writeFile(path.join(h.dir, 'planted-record.json'), JSON.stringify({ reason: `echo ${SECRET_KEY}` }));
  await h.rt.redis.set(`${h.prefix}:planted`, `token ${SECRET_TOKEN}`);
  const job = await h.rt.queues.events.add('planted', { note: 'x' });
  await job.log(`auth ${Buffer.from(SECRET_KEY).toString('base64')}`);
  const planted = await scanSecrets(h, h.rt, [`worker log line ${SECRET_KEY}`], 'scan control (planted)', false);
  console.log(`secret scan: ${clean} hits before planting, ${planted} after planting 4`);
  expect(clean).toBe(0);
  expect(planted).toBeGreaterThanOrEqual(4);
}, 120_000);
