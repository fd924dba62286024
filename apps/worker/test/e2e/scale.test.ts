import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { Budget, keys, PRODUCE_SCHEDULER_ID, QUEUE_NAMES } from '@prbot/pipeline';
import {
  createHarness,
  REPO_ROOT,
  startRedisCluster,
  type Harness,
  type RedisCluster,
  repoWithGaps,
} from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { startWorkers } from '../../src/workers.ts';
import { runAll, waitForOutcomes } from '../helpers.ts';

const TSX = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
let h: Harness | undefined;
let cluster: RedisCluster | undefined;
const children: ResultPromise[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill('SIGKILL');
    await c.catch(() => {});
  }
  await h?.cleanup();
  await cluster?.stop();
  h = cluster = undefined;
});

describe('scale out', () => {
  it('no shared disk: propose, apply, test and pr in four processes, each with its own workdir, end ok', async () => {
    const repo = await repoWithGaps(['Add a `truncate(text, max)` helper in src/truncate.js']);
    h = await createHarness({ repo });
    const raw = JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(h!.configFile, 'utf8')));
    const machines = ['propose', 'apply', 'test', 'pr,events'].map((queues, i) => ({
      queues,
      dir: path.join(h!.dir, `machine-${i}`),
    }));
    for (const m of machines) {
      const file = path.join(h.dir, `${m.queues.replace(',', '-')}.config.json`);
      await writeFile(
        file,
        JSON.stringify({ ...raw, workdir: path.join(m.dir, 'work'), records: { dir: path.join(m.dir, 'cycles') } }),
      );
      // node --import tsx (not the tsx CLI wrapper): signals reach the worker itself.
      const child = execa(
        process.execPath,
        [
          '--import',
          'tsx',
          path.join(REPO_ROOT, 'apps', 'worker', 'src', 'main.ts'),
          '--queues',
          m.queues,
          '--config',
          file,
        ],
        {
          cwd: REPO_ROOT,
          env: { PATH: process.env.PATH!, PRBOT_LOG_JSON: '1', PRBOT_JOB_KEY: process.env.PRBOT_JOB_KEY! },
          extendEnv: false,
          reject: false,
        },
      );
      children.push(child);
    }
    const id = (await produce(h.rt, defaultPolicy)).lines[0]!.cycleId!;
    const [r] = await waitForOutcomes(h.rt, [id], 45_000);
    expect(r!.outcome).toBe('ok');
    const mirrors = machines.map((m) => existsSync(path.join(m.dir, 'work', 'mirrors')));
    expect(mirrors).toEqual([true, true, true, true]);
    const slots = machines.map((m) => existsSync(path.join(m.dir, 'work', 'slots')));
    expect(slots).toEqual([false, false, true, false]); // only the test stage puts files on disk
    expect(await readdir(path.join(machines[3]!.dir, 'cycles'))).toEqual([`${id}.json`]);
    // SIGTERM: each worker finishes and exits by itself.
    const codes = await Promise.all(
      children.splice(0).map(async (c) => {
        c.kill('SIGTERM');
        return (await c).exitCode;
      }),
    );
    expect(codes).toEqual([0, 0, 0, 0]);
  });

  it('pnpm produce --every registers a job scheduler that workers run; --unschedule removes it', async () => {
    h = await createHarness();
    const cli = (...args: string[]) =>
      execa(TSX, [path.join(REPO_ROOT, 'apps', 'producer', 'src', 'cli.ts'), 'produce', ...args], {
        env: { PATH: process.env.PATH!, PRBOT_CONFIG: h!.configFile, PRBOT_JOB_KEY: process.env.PRBOT_JOB_KEY! },
        extendEnv: false,
        reject: false,
      });
    const bad = await cli('--every', 'soon'); // '5 minutes' is a duration (ms parses it)
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/--every takes a duration such as 30m/);
    const r = await cli('--every', '1h');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/produce scheduled every 1h; next run /);
    const schedulers = await h.rt.queues.produce.getJobSchedulers();
    expect(schedulers).toEqual([expect.objectContaining({ key: PRODUCE_SCHEDULER_ID, every: 3_600_000 })]);
    expect(await (await cli('--every', '1h')).exitCode).toBe(0); // upsert: still one scheduler
    expect(await h.rt.queues.produce.getJobSchedulersCount()).toBe(1);
    const workers = startWorkers(h.rt, defaultPolicy, { queues: ['produce'] });
    try {
      const deadline = Date.now() + 15_000;
      while ((await h.rt.queues.propose.count()) < 5 && Date.now() < deadline)
        await new Promise((x) => setTimeout(x, 100));
      expect(await h.rt.queues.propose.count()).toBe(5);
    } finally {
      await workers.close(2000);
    }
    const un = await cli('--unschedule');
    expect(un.stdout.trim()).toBe('schedule removed');
    expect(await h.rt.queues.produce.getJobSchedulersCount()).toBe(0);
  });

  it('Redis Cluster (3 masters): a full cycle ends ok and the budget race grants exactly the cap', async () => {
    cluster = await startRedisCluster();
    const repo = await repoWithGaps(['Add a `truncate(text, max)` helper in src/truncate.js']);
    h = await createHarness({ repo, config: { redis: { cluster: cluster.urls } } });
    const { Cluster } = await import('ioredis');
    expect(h.rt.redis).toBeInstanceOf(Cluster);
    const r = (await runAll(h.rt, { timeoutMs: 45_000 })).records[0]!;
    expect(r.outcome).toBe('ok');

    const budget = new Budget(h.rt.redis, keys(h.prefix), {
      callsPerDay: 20,
      tokensPerDay: 1_000_000,
      onExhausted: 'skip',
      perCycle: { calls: 100, tokens: 1_000_000 },
    });
    const before = (await budget.today()).calls.used;
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => budget.reserve(`crace${i}00000000`, 100)));
    expect(results.filter((x) => x.granted)).toHaveLength(20 - before);
    expect((await budget.today()).calls.used).toBe(20);
    // Every prbot and BullMQ key of this run lives on one node: one hash slot.
    const owners = [];
    for (const node of (h.rt.redis as InstanceType<typeof Cluster>).nodes('master')) {
      const [, found] = await node.scan('0', 'MATCH', `${h.prefix}:*`, 'COUNT', 10_000);
      if (found.length) owners.push(node.options.port);
    }
    expect(owners).toHaveLength(1);
    void QUEUE_NAMES;
  });
});
