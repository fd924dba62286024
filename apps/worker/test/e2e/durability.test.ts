import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { stageJobId, utcDay } from '@prbot/core';
import { createHarness, REPO_ROOT, type Harness } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { startWorkers, stageRunner } from '../../src/index.ts';
import { apply } from '../../src/stages/apply.ts';
import { repoWithGaps, waitForOutcomes } from '../helpers.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const TSX = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const cli = (harness: Harness, ...args: string[]) =>
  execa(TSX, [path.join(REPO_ROOT, 'apps', 'producer', 'src', 'cli.ts'), ...args], {
    env: { PATH: process.env.PATH!, PRBOT_CONFIG: harness.configFile, PRBOT_JOB_KEY: process.env.PRBOT_JOB_KEY! },
    extendEnv: false,
    reject: false,
  });

describe('durability', () => {
  it('an apply that crashes after handing over, then runs again, does not enqueue test twice', async () => {
    const repo = await repoWithGaps(['Add a `truncate(text, max)` helper']);
    h = await createHarness({ repo });
    const rt = h.rt;
    let crashes = 0;
    const crashingApply = stageRunner('apply', rt, defaultPolicy, async (ctx) => {
      await apply(ctx);
      if (crashes++ === 0) throw new Error('simulated crash right after the hand-over');
    });
    const applyWorker = new Worker('apply', crashingApply, { connection: rt.redis, prefix: rt.cfg.redis.prefix });
    const others = startWorkers(rt, defaultPolicy, { queues: ['propose', 'test', 'pr', 'events'] });
    try {
      const report = await produce(rt, defaultPolicy);
      const id = report.lines[0]!.cycleId!;
      const [record] = await waitForOutcomes(rt, [id]);
      expect(record!.outcome).toBe('ok');
      expect(crashes).toBe(2); // the stage really ran twice
      const applyJob = await rt.queues.apply.getJob(stageJobId(id, 'apply'));
      // BullMQ 6 counts finished attempts, the successful one included: one crash + one success.
      expect(applyJob!.attemptsMade).toBe(2);
      expect(await applyJob!.getState()).toBe('completed');
      const testJobs = (await rt.queues.test.getJobs()).filter((j) => j.data.cycleId === id);
      expect(testJobs).toHaveLength(1);
      expect(await readdir(path.join(h.dir, 'prs'))).toHaveLength(1);
      expect(await rt.redis.hget(rt.keys.stats(utcDay(Date.now())), 'ok')).toBe('1');
    } finally {
      await applyWorker.close();
      await others.close(2000);
    }
  });

  it('pnpm produce run twice while cycles are in flight enqueues each gap once', async () => {
    h = await createHarness();
    const first = await cli(h, 'produce');
    expect(first.exitCode).toBe(0);
    expect(first.stdout.match(/^enqueued/gm)).toHaveLength(5);
    const second = await cli(h, 'produce');
    expect(second.exitCode).toBe(0);
    expect(second.stdout).not.toMatch(/^enqueued/m);
    expect(second.stdout.match(/^in_flight/gm)).toHaveLength(5);
    expect(await h.rt.queues.propose.count()).toBe(5);
  });

  it('pnpm pause test holds test jobs while the other queues run on; pnpm resume test lets them go', async () => {
    const repo = await repoWithGaps(['Add a `truncate(text, max)` helper']);
    h = await createHarness({ repo });
    const paused = await cli(h, 'pause', 'test');
    expect(paused.stdout.trim()).toBe('test: paused');
    expect(await h.rt.queues.test.isPaused()).toBe(true);
    expect(await h.rt.queues.propose.isPaused()).toBe(false);
    const workers = startWorkers(h.rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
    try {
      const id = (await produce(h.rt, defaultPolicy)).lines[0]!.cycleId!;
      const testJobId = stageJobId(id, 'test');
      const deadline = Date.now() + 15_000;
      // apply adds the test job before it completes itself: wait for both.
      while (((await h.rt.queues.test.getJobState(testJobId)) === 'unknown' || (await h.rt.queues.apply.getJobState(stageJobId(id, 'apply'))) !== 'completed') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      // propose and apply ran while test is paused; the test job waits, and stays waiting.
      expect(await h.rt.queues.apply.getJobState(stageJobId(id, 'apply'))).toBe('completed');
      await new Promise((r) => setTimeout(r, 500));
      expect(await h.rt.queues.test.getJobState(testJobId)).toBe('waiting');
      const st = await cli(h, 'status');
      expect(st.stdout).toMatch(/^test\s+paused\s+1\s/m);
      const resumed = await cli(h, 'resume', 'test');
      expect(resumed.stdout.trim()).toBe('test: resumed');
      const [record] = await waitForOutcomes(h.rt, [id]);
      expect(record!.outcome).toBe('ok');
    } finally {
      await workers.close(2000);
    }
  });

  it('an unknown queue name is refused before anything changes', async () => {
    h = await createHarness();
    const r = await cli(h, 'pause', 'test', 'tset');
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/unknown queue "tset"; known queues: propose, apply, test, pr, events, produce/);
    expect(await h.rt.queues.test.isPaused()).toBe(false);
  });

  it('a bad config refuses to start, naming the file and the field', async () => {
    h = await createHarness();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(h.configFile, JSON.stringify({ repo: { url: h.bare }, models: { providers: {}, propose: ['x/y'] }, budget: { callsPerDay: 0 } }));
    const r = await cli(h, 'status');
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(h.configFile);
    expect(r.stderr).toMatch(/budget\.callsPerDay/);
    expect(r.stderr).toMatch(/models\.propose\.0: unknown provider "x"/);
  });
});
