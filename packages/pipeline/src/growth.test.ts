import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL } from '@prbot/test-support';
import { parseConfig } from '@prbot/config';
import { newCycleId, cycleRecord } from '@prbot/core';
import { keys } from './keys.ts';
import { closeQueues, openQueues, PRODUCE_SCHEDULER_ID, QUEUE_NAMES, stageJobId, type Queues } from './queues.ts';
import { HISTORY_KEPT, recordOutcome } from './record-store.ts';

const prefix = `{prbot-g${randomBytes(4).toString('hex')}}`;
const cfg = parseConfig(
  {
    repo: { url: '/r' },
    redis: { url: TEST_REDIS_URL, prefix },
    models: { providers: { r: { kind: 'replay', cassette: 'x.json' } }, propose: ['r/m'] },
  },
  'c.json',
  {},
);
let redis: Redis;
let queues: Queues;
let dir: string;

beforeAll(async () => {
  redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  queues = openQueues(cfg, redis);
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-growth-'));
});
afterAll(async () => {
  await closeQueues(queues);
  const ks = await redis.keys(`${prefix}:*`);
  if (ks.length) await redis.del(...ks);
  await redis.quit();
  await rm(dir, { recursive: true, force: true });
});

describe('Redis growth is bounded', () => {
  it('every queue keeps finished jobs by age and by count, hand-over and scheduled jobs included', async () => {
    for (const q of QUEUE_NAMES) {
      // Added the way stage.ts hands over and records.ts adds events: a job id and nothing else.
      const job = await queues[q].add(q, { cycleId: 'cgrowth' }, { jobId: stageJobId('cgrowth', q) });
      const stored = (await queues[q].getJob(job.id!))!;
      expect(stored.opts.removeOnComplete, q).toEqual({ age: expect.any(Number), count: expect.any(Number) });
      expect(stored.opts.removeOnFail, q).toEqual({ age: expect.any(Number), count: expect.any(Number) });
      await stored.remove();
    }
    await queues.produce.upsertJobScheduler(PRODUCE_SCHEDULER_ID, { every: 3_600_000 }, { name: 'produce', data: {} });
    const next = (await queues.produce.getJobs(['delayed', 'waiting'])).find(
      (j) => j.repeatJobKey === PRODUCE_SCHEDULER_ID || j.id?.includes(PRODUCE_SCHEDULER_ID),
    )!;
    expect(next.opts.removeOnComplete).toEqual({ age: expect.any(Number), count: expect.any(Number) });
    expect(next.opts.removeOnFail).toEqual({ age: expect.any(Number), count: expect.any(Number) });
    await queues.produce.removeJobScheduler(PRODUCE_SCHEDULER_ID);
  });

  it(`a gap's history keeps its newest ${HISTORY_KEPT} records`, async () => {
    const k = keys(prefix);
    const deps = { redis, keys: k, recordsDir: dir, events: queues.events, clock: Date.now };
    const gap = 'g0123456789ab';
    const ids: string[] = [];
    for (let i = 0; i < HISTORY_KEPT + 7; i++) {
      const id = newCycleId(Date.now() + i);
      ids.push(id);
      const t = new Date().toISOString();
      await recordOutcome(
        deps,
        cycleRecord({
          cycle_id: id,
          gap_id: gap,
          gap_text: 'g',
          gap_line: 1,
          outcome: 'tests_failed',
          reason: `#${i}`,
          stage: 'test',
          started_at: t,
          ended_at: t,
          dry_run: false,
        }),
      );
    }
    expect(await redis.llen(k.history(gap))).toBe(HISTORY_KEPT);
    const newest = JSON.parse((await redis.lindex(k.history(gap), 0))!) as { cycle_id: string };
    expect(newest.cycle_id).toBe(ids.at(-1));
  });
});
