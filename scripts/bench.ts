/**
 * `pnpm bench [--json] [--quick] [--only rss,start]`: prbot's own cost and its parallelism, each
 * figure beside a baseline measured in the same run on the same Redis and disk. Writes
 * docs/BENCHMARKS.md (not with --only, which runs just the named rows and prints them).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { execSync } from 'node:child_process';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import {
  Budget,
  connect,
  createRuntime,
  deleteMatching,
  keys,
  openRuntime,
  signJob,
  outcomeOf,
  stageJobId,
  type Runtime,
  openQueues,
  closeQueues,
  recordOutcome,
  STAGES,
} from '@prbot/pipeline';
import { botCommitSpec, buildCommit, buildRepoContext, classify, listTree, readBlobs, Mirror } from '@prbot/repo';
import { buildPrompt, chatCompletion } from '@prbot/model';
import { estimateTokens, createLogger, newCycleId, type ProposeJob, cycleRecord } from '@prbot/core';
import { parseConfig, type LoadedConfig } from '@prbot/config';
import { runCommand, SlotPool } from '@prbot/sandbox';
import {
  makeUpstream,
  redisAnswers,
  startModelServer,
  startRedisServer,
  type ModelServer,
  type RedisServer,
} from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce, produceRepos } from '@prbot/control';
import { startWorkers } from '@prbot/worker';

// Hand-overs are signed: the bench's workers, children and directly added jobs share one key.
process.env.PRBOT_JOB_KEY ??= (await import('node:crypto')).randomBytes(32).toString('hex');
const jobKey = Buffer.from(process.env.PRBOT_JOB_KEY);

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const json = process.argv.includes('--json');
const onlyArg = process.argv.indexOf('--only');
/** `--only rss,start`: run just these rows (the rest of the report is left as it is). */
const only = onlyArg >= 0 ? new Set((process.argv[onlyArg + 1] ?? '').split(',').filter(Boolean)) : undefined;
const wanted = (row: string) => !only || only.has(row);
/** The compiled prbot command: the worker rows measure what production runs (`pnpm build`). */
const PRBOT_BIN = path.join(root, 'apps', 'cli', 'dist', 'prbot.js');
const say = (s: string) => (json ? process.stderr : process.stdout).write(s + '\n');
const now = () => performance.now();
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Figure {
  prbot: number;
  baseline: number | null;
  ratio: number | null;
  goal: string;
  goal_met: boolean;
  unit: string;
  detail?: Record<string, unknown>;
}
const results: Record<string, Figure> = {};
function put(key: string, f: Omit<Figure, 'ratio'> & { ratio?: number | null }) {
  results[key] = { ratio: f.ratio ?? (f.baseline ? f.prbot / f.baseline : null), ...f } as Figure;
  const r = results[key]!;
  say(
    `${key.padEnd(11)} prbot ${fmt(r.prbot)} ${r.unit}  baseline ${r.baseline === null ? '-' : fmt(r.baseline)}  ratio ${r.ratio === null ? '-' : r.ratio.toFixed(2)}  goal ${r.goal}: ${r.goal_met ? 'met' : 'NOT met'}`,
  );
}
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(2));

let redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
let ownRedis: RedisServer | undefined;
const work = await mkdtemp(path.join(tmpdir(), 'prbot-bench-'));
await chmod(work, 0o755);

/** A repository of `files` small files in 40 directories, with a PRD of `gaps` lines. */
async function makeRepo(name: string, files: number, gaps: number): Promise<{ bare: string; checkout: string }> {
  const src = path.join(work, `${name}-src`);
  await mkdir(path.join(src, 'docs'), { recursive: true });
  await writeFile(path.join(src, 'package.json'), '{"name":"bench","type":"module","private":true}\n');
  for (let i = 0; i < files; i++) {
    const d = path.join(src, 'lib', `d${i % 40}`);
    await mkdir(d, { recursive: true });
    await writeFile(path.join(d, `f${i}.js`), `export const f${i} = ${i};\n`);
  }
  await writeFile(
    path.join(src, 'docs', 'PRD.md'),
    Array.from({ length: gaps }, (_, i) => `- [ ] Gap ${i} of the bench [bot-eligible]`).join('\n') + '\n',
  );
  return makeUpstream(src, path.join(work, name));
}

function answer(n: number) {
  return {
    content: JSON.stringify({
      summary: `adds g${n}`,
      files: [{ path: `src/g${n}.js`, is_new: true, content: `export const g${n} = ${n};\n` }],
    }),
  };
}
const gapOf = (text: string) => Number(/Gap (\d+)/.exec(text)?.[1] ?? 0);

async function config(
  name: string,
  bare: string,
  model: ModelServer,
  extra: Record<string, unknown> = {},
): Promise<LoadedConfig> {
  const dir = path.join(work, `${name}-cfg`);
  await mkdir(dir, { recursive: true });
  const raw = {
    redis: { url: redisUrl, prefix: `{prbot-bench-${name}}` },
    repo: { url: bare },
    workdir: path.join(dir, 'work'),
    records: { dir: path.join(dir, 'cycles') },
    forge: { kind: 'local', prDir: path.join(dir, 'prs'), maxOpen: 100_000, maxPerHour: 100_000 },
    models: { providers: { loop: { kind: 'openai', baseUrl: model.baseUrl } }, propose: ['loop/m'] },
    budget: { callsPerDay: 1_000_000, tokensPerDay: 1_000_000_000, perCycle: { calls: 10, tokens: 1_000_000 } },
    policy: { maxGapsPerRun: 100_000 },
    queues: {
      propose: { concurrency: 16, limiter: null },
      apply: { concurrency: 8 },
      test: { concurrency: 4 },
      pr: { concurrency: 4, limiter: null },
      events: { concurrency: 8 },
    },
    tests: { commands: [['true']] },
    log: { level: 'silent' },
    ...extra,
  };
  const file = path.join(dir, 'prbot.config.json');
  await writeFile(file, JSON.stringify(raw));
  return parseConfig(raw, file, {});
}

async function fresh(cfg: LoadedConfig): Promise<Runtime> {
  const rt = createRuntime(cfg, { role: 'worker', log: createLogger('silent', { pretty: false }), env: {} });
  await deleteMatching(rt.redis, `${cfg.redis.prefix}:*`);
  return rt;
}

function proposeJob(base: string, i: number, text = `Gap ${i} of the bench`): ProposeJob {
  return signJob('propose', unsignedProposeJob(base, i, text), jobKey);
}

function unsignedProposeJob(base: string, i: number, text: string): ProposeJob {
  return {
    cycleId: newCycleId(Date.now() + i),
    gap: { id: `g${(i + 0x100000000000).toString(16).slice(-12)}`, text, line: i + 1 },
    baseCommit: base,
    createdAt: Date.now(),
    dryRun: false,
    notes: [],
  };
}

async function waitAll(rt: Runtime, ids: string[], timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const p = rt.redis.pipeline();
    for (const id of ids) p.exists(rt.keys.outcome(id));
    const res = (await p.exec()) ?? [];
    if (res.every((r) => r[1] === 1)) return;
    await sleep(20);
  }
  throw new Error('bench cycles did not finish');
}

// ---- baselines ---------------------------------------------------------------------------

/** A bare four-queue BullMQ chain: each worker only hands the job to the next queue. */
async function bareChain(inFlight: number, total: number): Promise<{ p50: number; p95: number; perSec: number }> {
  const prefix = `{prbot-bench-bare-${inFlight}}`;
  const conn = new Redis(redisUrl, { maxRetriesPerRequest: null });
  await deleteMatching(conn, `${prefix}:*`);
  const names = ['b1', 'b2', 'b3', 'b4'];
  const queues = names.map(
    (n) => new Queue(n, { connection: conn, prefix, defaultJobOptions: { removeOnComplete: { count: 1000 } } }),
  );
  const done = new Map<string, number>();
  const workers = names.map(
    (n, i) =>
      new Worker(
        n,
        async (job) => {
          if (i < 3) await queues[i + 1]!.add(names[i + 1]!, job.data, { jobId: `${job.data.id}-${i + 1}` });
          else done.set(job.data.id, now());
        },
        { connection: conn, prefix, concurrency: Math.min(inFlight, 50) },
      ),
  );
  const lat: number[] = [];
  const started = now();
  if (inFlight === 1) {
    for (let i = 0; i < total; i++) {
      const t0 = now();
      await queues[0]!.add('b1', { id: `c${i}` }, { jobId: `c${i}-0` });
      while (!done.has(`c${i}`)) await sleep(0.2);
      lat.push(done.get(`c${i}`)! - t0);
    }
  } else {
    await queues[0]!.addBulk(
      Array.from({ length: total }, (_, i) => ({ name: 'b1', data: { id: `c${i}` }, opts: { jobId: `c${i}-0` } })),
    );
    while (done.size < total) await sleep(5);
  }
  const elapsed = (now() - started) / 1000;
  await Promise.all(workers.map((w) => w.close()));
  await Promise.all(queues.map((q) => q.close()));
  await deleteMatching(conn, `${prefix}:*`);
  conn.disconnect();
  return { p50: lat.length ? pct(lat, 50) : 0, p95: lat.length ? pct(lat, 95) : 0, perSec: total / elapsed };
}

/**
 * A cycle's work done directly, with no queues: classify, plumbing commit, move a kept slot,
 * run the test command, push. The baselines of `overhead` and `scaling` are made of it.
 */
async function directCycles(bare: string) {
  const dir = await mkdtemp(path.join(work, 'direct-'));
  const mirror = new Mirror(dir, bare);
  await mirror.sync();
  const base = await mirror.resolve('main');
  const slots = new SlotPool(mirror, dir);
  const slot = await slots.acquire();
  await slots.moveTo(slot, base, ['node_modules']);
  return {
    base,
    async run(
      i: number,
      proposal: ProposeJob & {
        proposal: { summary: string; files: { path: string; is_new: boolean; content: string }[] };
      },
      test: string[],
    ): Promise<void> {
      const changes = await classify(mirror, base, proposal.proposal);
      const commit = await buildCommit(
        mirror,
        botCommitSpec(
          proposal,
          changes,
          { name: 'prbot', email: 'prbot@localhost' },
          {
            ctx: { prdPath: 'docs/PRD.md', pauseFile: 'bot.paused', extraForbidden: [] },
            limits: { maxFiles: 20, maxFileBytes: 200_000, maxTotalBytes: 500_000 },
          },
        ),
      );
      await slots.moveTo(slot, commit, ['node_modules']);
      await runCommand('test', test, {
        cwd: slot.dir,
        env: { PATH: process.env.PATH! },
        timeoutMs: 10_000,
        tailBytes: 1000,
      });
      execSync(`git push -q --force ${bare} ${commit}:refs/heads/direct/${i}`, { cwd: mirror.dir });
    },
    release: () => slot.release(),
  };
}

/** The git work of one cycle, timed alone. */
async function gitOpsAlone(bare: string, n: number): Promise<number[]> {
  const direct = await directCycles(bare);
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = now();
    await direct.run(
      900_000 + i,
      {
        ...proposeJob(direct.base, 900_000 + i),
        proposal: {
          summary: 's',
          files: [{ path: `src/g${i}.js`, is_new: true, content: `export const g${i} = ${i};\n` }],
        },
      },
      ['true'],
    );
    times.push(now() - t0);
  }
  await direct.release();
  return times;
}

// ---- measurements ------------------------------------------------------------------------

/**
 * 25 cycles one at a time (after 3 that warm the mirror and slot): each one's wall time from its
 * propose job's add to its outcome, less its model call and its test commands.
 */
async function cycleOverheads(rt: Runtime, jobOf: (i: number) => ReturnType<typeof proposeJob>): Promise<number[]> {
  const extra: number[] = [];
  for (let i = 0; i < 25 + 3; i++) {
    const job = jobOf(i);
    const t0 = now();
    await rt.queues.propose.add('propose', job, { jobId: stageJobId(job.cycleId, 'propose') });
    while (!(await outcomeOf(rt.redis, rt.keys, job.cycleId))) await sleep(0.5);
    const wall = now() - t0;
    const rec = JSON.parse((await rt.redis.get(rt.keys.record(job.cycleId)))!);
    const modelMs = (rec.model?.attempts ?? []).reduce((a: number, x: { ms: number }) => a + x.ms, 0);
    const testMs = (rec.tests ?? []).reduce((a: number, x: { durationMs: number }) => a + x.durationMs, 0);
    if (i >= 3) extra.push(wall - modelMs - testMs);
  }
  return extra;
}

async function overhead(
  name: string,
  files: number,
  model: ModelServer,
): Promise<{ p50: number; p95: number; base50: number; base95: number }> {
  const { bare } = await makeRepo(name, files, 1);
  const cfg = await config(name, bare, model);
  const rt = await fresh(cfg);
  const workers = startWorkers(rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
  await rt.mirror.sync();
  const base = await rt.mirror.resolve('main');
  const extra = await cycleOverheads(rt, (i) => proposeJob(base, i));
  await workers.close(2000);
  await rt.close();
  const chain = await bareChain(1, 60);
  const ops = await gitOpsAlone(bare, 15);
  return {
    p50: pct(extra, 50),
    p95: pct(extra, 95),
    base50: chain.p50 + pct(ops, 50),
    base95: chain.p95 + pct(ops, 95),
  };
}

/**
 * Per-cycle overhead (wall − model − tests, p50/p95) of cycles of one repository in a deployment
 * that configures `count` repositories (the same remote under `count` names: what is measured is
 * the views, their keys and the stage runner's lookup, not 50 clones).
 */
async function reposOverhead(count: number, model: ModelServer): Promise<{ p50: number; p95: number }> {
  const name = `repos${count}`;
  const { bare } = await makeRepo(name, 12, 1);
  const cfg = await config(name, bare, model, {
    repo: undefined,
    repos: Array.from({ length: count }, (_, i) => ({ name: `r${i}`, url: bare })),
  });
  const rt = await openRuntime(cfg, { role: 'worker', log: createLogger('silent', { pretty: false }), env: {} });
  await deleteMatching(rt.redis, `${cfg.redis.prefix}:*`);
  const view = (await rt.views()).get('r0')!;
  const workers = startWorkers(rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
  await view.mirror.sync();
  const base = await view.mirror.resolve('main');
  const extra = await cycleOverheads(rt, (i) =>
    signJob('propose', { ...unsignedProposeJob(base, i, `Gap ${i} of the bench`), repo: 'r0' }, jobKey),
  );
  await workers.close(2000);
  await deleteMatching(rt.redis, `${cfg.redis.prefix}:*`);
  await rt.close();
  return { p50: pct(extra, 50), p95: pct(extra, 95) };
}

interface FairnessRun {
  /** p95 from the small repository's produce to its cycles ending, ms. */
  p95: number;
  /** Mean run time of the small repository's test jobs (processedOn → finishedOn), ms. */
  smallTestMs: number;
  /** The big repository's test jobs that ended before the small one's last test job ended. */
  bigTestsBefore: number;
  /** Stage jobs of the big repository that ended within the small one's p95 (what shared the machine). */
  bigDone: Record<'propose' | 'apply' | 'test' | 'pr', number>;
}

/**
 * Fair shares: the time from a 5-gap repository's produce to each of its cycles ending (p95),
 * alone and beside a repository whose `bigGaps` were produced just before, one test worker; with
 * the profile of where that time went (the small cycles' test runs, the big cycles' jobs between).
 */
async function fairnessWait(bigGaps: number, model: ModelServer, bigMaxInFlight?: number): Promise<FairnessRun> {
  const name = `fair${bigGaps}${bigMaxInFlight ? `c${bigMaxInFlight}` : ''}`;
  const small = await makeRepo(`${name}-small`, 12, 5);
  const big = bigGaps > 0 ? await makeRepo(`${name}-big`, 12, bigGaps) : null;
  const cfg = await config(name, small.bare, model, {
    repo: undefined,
    repos: [
      ...(big ? [{ name: 'big', url: big.bare, ...(bigMaxInFlight && { maxInFlight: bigMaxInFlight }) }] : []),
      { name: 'small', url: small.bare },
    ],
    queues: {
      propose: { concurrency: 4, limiter: null },
      apply: { concurrency: 4 },
      test: { concurrency: 1 },
      pr: { concurrency: 4, limiter: null },
      events: { concurrency: 8 },
    },
  });
  const rt = await openRuntime(cfg, { role: 'worker', log: createLogger('silent', { pretty: false }), env: {} });
  await deleteMatching(rt.redis, `${cfg.redis.prefix}:*`);
  const workers = startWorkers(rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
  // The big repository's backlog is enqueued first; the small one's wait starts at its own produce.
  if (big) await produceRepos(rt, defaultPolicy, { repo: 'big' });
  const t0 = now();
  const t0Epoch = Date.now();
  const runs = await produceRepos(rt, defaultPolicy, { repo: 'small' });
  const mine = runs.find((r) => r.repo === 'small')!;
  if (!('report' in mine)) throw new Error(`fairness bench: ${mine.error}`);
  const ids = mine.report.lines.filter((l) => l.action === 'enqueued').map((l) => l.cycleId!);
  const waits = new Map<string, number>();
  while (waits.size < ids.length) {
    for (const id of ids) if (!waits.has(id) && (await outcomeOf(rt.redis, rt.keys, id))) waits.set(id, now() - t0);
    await sleep(5);
  }
  const p95 = pct([...waits.values()], 95);
  const smallTests = await Promise.all(ids.map((id) => rt.queues.test.getJob(stageJobId(id, 'test'))));
  const ran = smallTests.filter((j) => j?.processedOn && j.finishedOn);
  const lastSmallTest = Math.max(...ran.map((j) => j!.finishedOn!));
  const smallIds = new Set(ids);
  const bigDone = { propose: 0, apply: 0, test: 0, pr: 0 };
  let bigTestsBefore = 0;
  for (const q of ['propose', 'apply', 'test', 'pr'] as const) {
    for (const j of await rt.queues[q].getJobs(['completed', 'failed'])) {
      if (smallIds.has((j.data as { cycleId: string }).cycleId) || !j.finishedOn) continue;
      if (j.finishedOn <= t0Epoch + p95) bigDone[q]++;
      if (q === 'test' && j.finishedOn <= lastSmallTest) bigTestsBefore++;
    }
  }
  await workers.close(2000);
  await deleteMatching(rt.redis, `${cfg.redis.prefix}:*`);
  await rt.close();
  return {
    p95,
    smallTestMs: ran.reduce((a, j) => a + j!.finishedOn! - j!.processedOn!, 0) / Math.max(1, ran.length),
    bigTestsBefore,
    bigDone,
  };
}

async function throughputAndRss(
  model: ModelServer,
): Promise<{ perSec: number; base: number; idle: number; loaded: number }> {
  const { bare } = await makeRepo('tput', 2000, 1);
  const cfg = await config('tput', bare, model);
  const rt = await fresh(cfg);
  const { execa } = await import('execa');
  const child = execa(process.execPath, [PRBOT_BIN, 'worker', '--config', cfg.file], {
    cwd: root,
    env: { PATH: process.env.PATH!, PRBOT_LOG_JSON: '1', PRBOT_JOB_KEY: process.env.PRBOT_JOB_KEY! },
    extendEnv: false,
    reject: false,
    stdio: 'ignore',
  });
  const rss = async () =>
    Number(
      /^VmRSS:\s+(\d+)/m.exec(
        await import('node:fs/promises').then((f) => f.readFile(`/proc/${child.pid}/status`, 'utf8')).catch(() => ''),
      )?.[1] ?? 0,
    ) / 1024;
  await sleep(4000);
  const idle = await rss();
  await rt.mirror.sync();
  const base = await rt.mirror.resolve('main');
  // Warm the worker's mirror and slots with a few cycles first.
  const warm = Array.from({ length: 8 }, (_, i) => proposeJob(base, 100_000 + i));
  await rt.queues.propose.addBulk(
    warm.map((j) => ({ name: 'propose', data: j, opts: { jobId: stageJobId(j.cycleId, 'propose') } })),
  );
  await waitAll(
    rt,
    warm.map((j) => j.cycleId),
  );
  let loaded = 0;
  const sampler = setInterval(() => void rss().then((m) => (loaded = Math.max(loaded, m))), 100);
  const jobs = Array.from({ length: 200 }, (_, i) => proposeJob(base, i));
  const t0 = now();
  await rt.queues.propose.addBulk(
    jobs.map((j) => ({ name: 'propose', data: j, opts: { jobId: stageJobId(j.cycleId, 'propose') } })),
  );
  await waitAll(
    rt,
    jobs.map((j) => j.cycleId),
  );
  const perSec = 200 / ((now() - t0) / 1000);
  clearInterval(sampler);
  child.kill('SIGTERM');
  await child;
  await rt.close();
  return { perSec, base: (await bareChain(200, 200)).perSec, idle, loaded };
}

/**
 * Spawn-to-ready of `prbot worker` (compiled; ready = its "prbot worker started" log line) against
 * `node -e "import('bullmq')"` (spawn to exit), alternating, median of 7 each.
 */
async function startBench(model: ModelServer): Promise<{ prbot: number; base: number }> {
  const { bare } = await makeRepo('start', 12, 1);
  // Ready is the worker's "started" log line: this config logs at info.
  const cfg = await config('start', bare, model, { log: { level: 'info' } });
  const { execa } = await import('execa');
  const env = { PATH: process.env.PATH!, PRBOT_LOG_JSON: '1', PRBOT_JOB_KEY: process.env.PRBOT_JOB_KEY! };
  const prbot: number[] = [];
  const base: number[] = [];
  for (let i = 0; i < 7; i++) {
    let t0 = now();
    const child = execa(process.execPath, [PRBOT_BIN, 'worker', '--config', cfg.file], {
      cwd: root,
      env,
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      stderr: 'ignore',
    });
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      child.stdout!.on('data', (d: Buffer) => {
        seen += d.toString();
        if (seen.includes('prbot worker started')) resolve();
      });
      void child.then(() => reject(new Error(`prbot worker exited before it was ready: ${seen.slice(-500)}`)));
      setTimeout(() => reject(new Error(`prbot worker not ready after 60 s: ${seen.slice(-500)}`)), 60_000).unref();
    });
    prbot.push(now() - t0);
    child.kill('SIGTERM');
    await child;
    t0 = now();
    await execa(process.execPath, ['-e', "import('bullmq')"], { cwd: root, env, extendEnv: false });
    base.push(now() - t0);
  }
  return { prbot: pct(prbot, 50), base: pct(base, 50) };
}

async function scaling(
  quick: boolean,
): Promise<Record<string, { seconds: number; baseline: number; speedup: number; ideal: number }>> {
  const gaps = 40;
  const model = await startModelServer((req) => ({
    ...answer(gapOf(req.body.messages.map((m) => m.content).join('\n'))),
    delayMs: 300,
  }));
  const { bare } = await makeRepo('scale', 50, gaps);
  // Baseline: one cycle at a time, the same steps called directly (model call, classify, commit,
  // move the slot, run the test, push), timed on 8 cycles and scaled to 40.
  const direct = await directCycles(bare);
  const sample = 8;
  const t0 = now();
  for (let i = 0; i < sample; i++) {
    const a = await chatCompletion({
      baseUrl: model.baseUrl,
      model: 'm',
      messages: [{ role: 'user', content: `Gap from docs/PRD.md: Gap ${i}` }],
      maxTokens: 100,
      temperature: 0,
      timeoutMs: 5000,
      maxAnswerBytes: 100_000,
    });
    await direct.run(800_000 + i, { ...proposeJob(direct.base, 800_000 + i), proposal: JSON.parse(a.content) }, [
      'sleep',
      '1',
    ]);
  }
  const baseline = ((now() - t0) / 1000 / sample) * gaps;
  await direct.release();
  const out: Record<string, { seconds: number; baseline: number; speedup: number; ideal: number }> = {};
  for (const c of quick ? [1, 4] : [1, 2, 4, 8]) {
    const cfg = await config(`scale-c${c}`, bare, model, { tests: { commands: [['sleep', '1']] } });
    const rt = await fresh(cfg);
    const others = startWorkers(rt, defaultPolicy, { queues: ['propose', 'apply', 'pr', 'events'] });
    const testers = startWorkers(rt, defaultPolicy, { queues: ['test'], concurrency: c });
    const s0 = now();
    const report = await produce(rt, defaultPolicy);
    await waitAll(
      rt,
      report.lines.map((l) => l.cycleId!),
    );
    const seconds = (now() - s0) / 1000;
    await others.close(2000);
    await testers.close(2000);
    await rt.close();
    out[`c${c}`] = { seconds, baseline, speedup: baseline / seconds, ideal: c };
    say(
      `  scaling c=${c}: ${seconds.toFixed(1)} s for ${gaps} cycles; sequential ${baseline.toFixed(1)} s; speedup ${(baseline / seconds).toFixed(2)} (ideal ${c})`,
    );
  }
  await model.close();
  return out;
}

async function produceBench(model: ModelServer): Promise<{ prbot: number; base: number }> {
  const { bare } = await makeRepo('produce', 10, 10_000);
  const cfg = await config('produce', bare, model);
  const rt = await fresh(cfg);
  await rt.mirror.sync();
  const t0 = now();
  const report = await produce(rt, defaultPolicy);
  const prbot = now() - t0;
  if (report.lines.filter((l) => l.action === 'enqueued').length !== 10_000)
    throw new Error('produce did not enqueue 10,000');
  const q = new Queue('bare-propose', { connection: rt.redis, prefix: `{prbot-bench-addbulk}` });
  await deleteMatching(rt.redis, '{prbot-bench-addbulk}:*');
  const t1 = now();
  await q.addBulk(
    Array.from({ length: 10_000 }, (_, i) => ({
      name: 'p',
      data: proposeJob(report.baseCommit!, i),
      opts: { jobId: `c${i}-propose` },
    })),
  );
  const base = now() - t1;
  await q.close();
  await deleteMatching(rt.redis, '{prbot-bench-addbulk}:*');
  await deleteMatching(rt.redis, `${cfg.redis.prefix}:*`);
  await rt.close();
  return { prbot, base };
}

async function budgetBench(): Promise<{ prbot: number; base: number }> {
  const r = connect({ url: redisUrl }, 'worker') as Redis;
  const prefix = '{prbot-bench-budget}';
  const b = new Budget(r, keys(prefix), {
    callsPerDay: 1e12,
    tokensPerDay: 1e15,
    onExhausted: 'skip',
    perCycle: { calls: 1e12, tokens: 1e15 },
  });
  const run = async (op: () => Promise<unknown>) => {
    const until = now() + 2000;
    let n = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (now() < until) {
          await op();
          n++;
        }
      }),
    );
    return n / 2;
  };
  const prbot = await run(() => b.reserve('cbench00000000', 100));
  const base = await run(() => r.incr(`${prefix}:incr`));
  await deleteMatching(r, `${prefix}:*`);
  r.disconnect();
  return { prbot, base };
}

async function warmTest(model: ModelServer): Promise<{ cold: number; warm: number } | { error: string }> {
  const src = path.join(work, 'warm-src');
  await mkdir(path.join(src, 'docs'), { recursive: true });
  await writeFile(
    path.join(src, 'package.json'),
    JSON.stringify({
      name: 'warm',
      private: true,
      type: 'module',
      dependencies: { lodash: '4.17.21', zod: '3.23.8', yaml: '2.5.0' },
    }),
  );
  await writeFile(
    path.join(src, 'docs', 'PRD.md'),
    '- [ ] Gap 0 warm [bot-eligible]\n- [ ] Gap 1 warm [bot-eligible]\n',
  );
  const { bare } = await makeUpstream(src, path.join(work, 'warm'));
  const cfg = await config('warm', bare, model, {
    tests: {
      setup: [['npm', 'install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error']],
      commands: [['node', '-e', "import('lodash').then(() => 0)"]],
      envAllow: ['PATH', 'LANG', 'npm_config_registry'],
      setupTimeoutMs: 240_000,
      network: 'setup',
    },
    queues: { propose: { concurrency: 1, limiter: null }, test: { concurrency: 1 } },
  });
  const rt = await fresh(cfg);
  const workers = startWorkers(rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
  try {
    await rt.mirror.sync();
    const base = await rt.mirror.resolve('main');
    const times: number[] = [];
    for (const i of [0, 1]) {
      const job = proposeJob(base, i, `Gap ${i} warm`);
      await rt.queues.propose.add('propose', job, { jobId: stageJobId(job.cycleId, 'propose') });
      await waitAll(rt, [job.cycleId], 300_000);
      const rec = JSON.parse((await rt.redis.get(rt.keys.record(job.cycleId)))!);
      if (rec.outcome !== 'ok') return { error: `${rec.outcome}: ${rec.reason}` };
      times.push(rec.tests.reduce((a: number, t: { durationMs: number }) => a + t.durationMs, 0));
    }
    return { cold: times[0]!, warm: times[1]! };
  } finally {
    await workers.close(2000);
    await rt.close();
  }
}

/**
 * Redis bytes left behind by 10,000 finished cycles, on a private redis-server (INFO used_memory
 * before and after, and MEMORY USAGE summed over the prefix's keys). The keys are written the way
 * real cycles leave them, without running the stages: each cycle's four stage jobs and its event
 * job, completed by a worker that logs three lines per job (queue retention applies), the
 * budget reservation (day and cycle buckets), and recordOutcome (outcome marker, record, gap
 * history, recent list, day stats). 500 gaps, 20 cycles each; the record carries one file,
 * one test result and model info, like an ok cycle's.
 */
async function redisBytes(): Promise<{ usedMemory: number; keyBytes: number; keys: number; cycles: number }> {
  const server = await startRedisServer();
  try {
    return await fillAndMeasure(server);
  } finally {
    await server.stop();
  }
}

async function fillAndMeasure(
  server: RedisServer,
): Promise<{ usedMemory: number; keyBytes: number; keys: number; cycles: number }> {
  const r = new Redis(server.url, { maxRetriesPerRequest: null });
  const prefix = '{prbot-bench-bytes}';
  const cfg = parseConfig(
    {
      repo: { url: '/r' },
      redis: { url: server.url, prefix },
      models: { providers: { r: { kind: 'replay', cassette: 'x.json' } }, propose: ['r/m'] },
    },
    path.join(work, 'bytes.json'),
    {},
  );
  const queues = openQueues(cfg, r);
  const k = keys(prefix);
  const budget = new Budget(r, k, {
    callsPerDay: 1e9,
    tokensPerDay: 1e12,
    onExhausted: 'skip',
    perCycle: { calls: 10, tokens: 1e9 },
  });
  const deps = {
    redis: r,
    keys: k,
    recordsDir: path.join(work, 'bytes-records'),
    events: queues.events,
    clock: Date.now,
  };
  const info = async () => Number(/used_memory:(\d+)/.exec(await r.info('memory'))?.[1]);
  const names = [...STAGES, 'events'] as const;
  const conns: Redis[] = [];
  const workers = names.map(
    (q) =>
      new Worker(
        q,
        async (job) => {
          for (const line of [
            "reserving 1 call and 5210 tokens from today's budget",
            `step of ${q}: done in 12 ms`,
            `handed over from ${q}`,
          ])
            await job.log(line);
        },
        { connection: conns[conns.push(r.duplicate()) - 1]!, prefix, concurrency: 50 },
      ),
  );
  const before = await info();
  const CYCLES = 10_000;
  const base = 'a'.repeat(40);
  const content = 'export function reverse(text) {\n  return [...text].reverse().join("");\n}\n';
  for (let start = 0; start < CYCLES; start += 500) {
    const batch = Array.from({ length: 500 }, (_, j) => {
      const i = start + j;
      const gap = {
        id: `g${(i % 500).toString(16).padStart(12, '0')}`,
        text: `Gap ${i % 500} of the bench: add a reverse(text) helper`,
        line: 3 + (i % 500),
      };
      return { i, gap, cycleId: newCycleId(Date.now() + i) };
    });
    for (const q of STAGES) {
      await queues[q].addBulk(
        batch.map(({ gap, cycleId }) => ({
          name: q,
          data: {
            cycleId,
            gap,
            baseCommit: base,
            createdAt: Date.now(),
            dryRun: false,
            notes: [],
            ...(q === 'propose'
              ? {}
              : {
                  proposal: { summary: 'adds reverse', files: [{ path: 'src/reverse.js', is_new: true, content }] },
                  model: { rung: 'loop/m', usage: { prompt_tokens: 1200, completion_tokens: 90, total_tokens: 1290 } },
                }),
          },
          opts: { jobId: stageJobId(cycleId, q) },
        })),
      );
    }
    for (const { gap, cycleId } of batch) {
      const res = await budget.reserve(cycleId, 5210);
      if (res.granted) await budget.settle(res, 1290);
      const t = new Date().toISOString();
      await recordOutcome(
        deps,
        cycleRecord({
          cycle_id: cycleId,
          gap_id: gap.id,
          gap_text: gap.text,
          gap_line: gap.line,
          outcome: 'ok',
          reason: 'opened draft PR',
          stage: 'pr',
          started_at: t,
          ended_at: t,
          dry_run: false,
          base_commit: base,
          bot_commit: 'b'.repeat(40),
          summary: 'adds reverse',
          files: [{ path: 'src/reverse.js', action: 'ADD' }],
          tests: [
            {
              phase: 'test',
              argv: ['node', '--test'],
              exitCode: 0,
              signal: null,
              timedOut: false,
              durationMs: 812,
              ok: true,
              tail: '# tests 1\n# pass 1\n# fail 0',
            },
          ],
          model: {
            rung: 'loop/m',
            usage: { prompt_tokens: 1200, completion_tokens: 90, total_tokens: 1290 },
            usageEstimated: false,
            escalated: false,
            attempts: [{ rung: 'loop/m', ok: true, ms: 900 }],
          },
          branch: `bot/${gap.id}`,
          pr_url: `https://git.example.com/o/r/pulls/${start}`,
        }),
      );
    }
  }
  // Wait until every job has completed (retention trims as they do).
  for (;;) {
    const counts = await Promise.all(
      names.map((q) => queues[q].getJobCounts('waiting', 'active', 'delayed', 'prioritized')),
    );
    if (counts.every((c) => Object.values(c).every((n) => n === 0))) break;
    await sleep(200);
  }
  await Promise.all(workers.map((w) => w.close()));
  for (const c of conns) c.disconnect();
  const after = await info();
  let keyBytes = 0;
  let n = 0;
  let cursor = '0';
  do {
    const [next, found] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    for (const key of found) {
      keyBytes += Number((await r.memory('USAGE', key)) ?? 0);
      n++;
    }
    cursor = next;
  } while (cursor !== '0');
  await closeQueues(queues);
  r.disconnect();
  return { usedMemory: after - before, keyBytes, keys: n, cycles: CYCLES };
}

/**
 * The propose prompt's repository context on the 2,000-file repo: build time (ls-tree, git grep,
 * cat-file --batch, symbol scan, windows) and size, against reading the same files from the
 * mirror alone (one ls-tree and one cat-file --batch of every file the prompt names).
 */
async function contextBench(
  runs = 15,
): Promise<{ p50: number; base50: number; bytes: number; tokens: number; files: number; mapLines: number }> {
  const { bare } = await makeRepo('ctx', 2000, 1);
  const mirror = new Mirror(path.join(work, 'ctx-work'), bare);
  await mirror.sync();
  const commit = await mirror.resolve('main');
  const gap = 'Add a `double` helper beside `f1` in lib/d1/f1.js';
  const opts = { maxTokens: 12_000, mapTokens: 2_000, maxFileTokens: 4_000, maxFiles: 10, exclude: ['docs/PRD.md'] };
  const times: number[] = [];
  const base: number[] = [];
  let prompt = '';
  let ctx!: Awaited<ReturnType<typeof buildRepoContext>>;
  for (let i = 0; i < runs; i++) {
    let t = now();
    ctx = await buildRepoContext(mirror.dir, commit, gap, opts);
    prompt = buildPrompt({
      gapText: gap,
      prdPath: 'docs/PRD.md',
      context: ctx,
      history: 'Prior attempts on this gap: none.',
    })
      .map((m) => m.content)
      .join('\n');
    times.push(now() - t);
    t = now();
    const tree = await listTree(mirror.dir, commit);
    const named = new Set([...ctx.map.map((l) => l.split(':')[0]!), ...ctx.files.map((f) => f.path)]);
    const blobs = await readBlobs(
      mirror.dir,
      tree.filter((f) => named.has(f.path)).map((f) => f.oid),
    );
    if (blobs.size === 0) throw new Error('baseline read nothing');
    base.push(now() - t);
  }
  return {
    p50: pct(times, 50),
    base50: pct(base, 50),
    bytes: Buffer.byteLength(prompt),
    tokens: estimateTokens(prompt),
    files: ctx.files.length,
    mapLines: ctx.map.length,
  };
}

/**
 * The test stage (BullMQ processedOn → finishedOn of the test job) with the bubblewrap sandbox
 * against tests.sandbox: off, same repository, same run, warm slots: what the sandbox costs a
 * cycle (namespaces, binds, the readiness shim, fresh $HOME and /tmp, the uid's locks). Both
 * runtimes are up at once and their cycles alternate (off, bwrap, bwrap, off, …), so a busy
 * spell of the shared machine falls on both sides alike; the first two cycles of each warm its
 * slot and are not counted.
 */
async function sandboxBench(
  model: ModelServer,
  rounds = Number(process.env.SBX_ROUNDS ?? 20),
): Promise<{ bwrap: number; off: number } | { error: string }> {
  const { bare } = await makeRepo('sbx', 2000, 1);
  const modes = ['off', 'bwrap'] as const;
  const side: Partial<
    Record<
      (typeof modes)[number],
      { rt: Runtime; workers: ReturnType<typeof startWorkers>; base: string; times: number[] }
    >
  > = {};
  try {
    for (const mode of modes) {
      const cfg = await config(`sbx-${mode}`, bare, model, {
        tests: { commands: [['node', '-e', 'process.exit(0)']], sandbox: mode },
        queues: { propose: { concurrency: 1, limiter: null }, test: { concurrency: 1 } },
      });
      const rt = await fresh(cfg);
      const workers = startWorkers(rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
      side[mode] = { rt, workers, base: '', times: [] };
      await rt.mirror.sync();
      side[mode]!.base = await rt.mirror.resolve('main');
    }
    for (let i = 0; i < rounds + 2; i++) {
      for (const mode of i % 2 === 0 ? modes : ([...modes].reverse() as (typeof modes)[number][])) {
        const { rt, base, times } = side[mode]!;
        const job = proposeJob(base, 200_000 + i);
        await rt.queues.propose.add('propose', job, { jobId: stageJobId(job.cycleId, 'propose') });
        await waitAll(rt, [job.cycleId], 120_000);
        const rec = JSON.parse((await rt.redis.get(rt.keys.record(job.cycleId)))!);
        if (rec.outcome !== 'ok') return { error: `${mode}: ${rec.outcome}: ${rec.reason}` };
        const t = await rt.queues.test.getJob(stageJobId(job.cycleId, 'test'));
        if (i >= 2 && t?.processedOn && t.finishedOn) times.push(t.finishedOn - t.processedOn); // the first two warm the slot
      }
    }
    say(`sandbox samples (ms): off ${side.off!.times.join(' ')}; bwrap ${side.bwrap!.times.join(' ')}`);
    return { bwrap: pct(side.bwrap!.times, 50), off: pct(side.off!.times, 50) };
  } finally {
    for (const s of Object.values(side)) {
      await s.workers.close(2000);
      await s.rt.close();
    }
  }
}

async function putSandbox(model: ModelServer): Promise<void> {
  const s = await sandboxBench(model);
  if ('error' in s) say(`sandbox error: ${s.error}`);
  if ('error' in s)
    put('sandbox', {
      prbot: NaN,
      baseline: null,
      unit: 'ms',
      goal: 'ratio ≤ 1.15',
      goal_met: false,
      detail: { error: s.error },
    });
  else
    put('sandbox', {
      prbot: s.bwrap,
      baseline: s.off,
      unit: 'ms test stage p50 (2,000 files), bwrap vs off',
      goal: 'ratio ≤ 1.15',
      goal_met: s.bwrap / s.off <= 1.15,
    });
}

/**
 * Setup on a real lockfile (test/fixtures/bench-real-setup: 54 npm packages from the registry):
 * the test stage of a first cycle on a fresh slot and an empty package cache against `npm ci &&
 * npm test` by hand with an empty npm cache; a second cycle with the lockfile unchanged against
 * `npm test` alone; and a first cycle on a new slot of a machine whose package cache is warm
 * against the cold first cycle. Rounds alternate hand and prbot, each on its own cold cache.
 */
async function realSetup(
  model: ModelServer,
  rounds = Number(process.env.REAL_SETUP_ROUNDS ?? 3),
): Promise<
  | { cold: number[]; skip: number[]; cache: number[]; handCold: number[]; handTest: number[]; skipped: boolean }
  | { error: string }
> {
  const { execa } = await import('execa');
  const fixture = path.join(root, 'test', 'fixtures', 'bench-real-setup');
  const src = path.join(work, 'real-src');
  await mkdir(path.join(src, 'docs'), { recursive: true });
  for (const f of ['package.json', 'package-lock.json', 'test.js'])
    await writeFile(path.join(src, f), await readFile(path.join(fixture, f)));
  await writeFile(path.join(src, 'docs', 'PRD.md'), '- [ ] Gap 0 real [bot-eligible]\n');
  const { bare } = await makeUpstream(src, path.join(work, 'real'));
  const NPM_CI = ['npm', 'ci', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];
  const out = {
    cold: [] as number[],
    skip: [] as number[],
    cache: [] as number[],
    handCold: [] as number[],
    handTest: [] as number[],
    skipped: true,
  };
  for (let r = 0; r < rounds; r++) {
    // By hand: a copy of the fixture, an npm cache of its own, as a developer would run it.
    const hand = path.join(work, `real-hand-${r}`);
    await mkdir(hand, { recursive: true });
    for (const f of ['package.json', 'package-lock.json', 'test.js'])
      await writeFile(path.join(hand, f), await readFile(path.join(fixture, f)));
    const env = {
      ...process.env,
      npm_config_cache: path.join(hand, '.npm-cache'),
      npm_config_update_notifier: 'false',
    };
    let t0 = now();
    await execa(NPM_CI[0]!, NPM_CI.slice(1), { cwd: hand, env });
    await execa('npm', ['test'], { cwd: hand, env });
    out.handCold.push(now() - t0);
    t0 = now();
    await execa('npm', ['test'], { cwd: hand, env });
    out.handTest.push(now() - t0);

    const cfg = await config(`real-${r}`, bare, model, {
      tests: { setup: [NPM_CI], commands: [['npm', 'test']], setupTimeoutMs: 240_000, network: 'setup' },
      queues: { propose: { concurrency: 1, limiter: null }, test: { concurrency: 1 } },
    });
    const rt = await fresh(cfg);
    const workers = startWorkers(rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
    try {
      await rt.mirror.sync();
      const base = await rt.mirror.resolve('main');
      const testStage = async (i: number) => {
        const job = proposeJob(base, 300_000 + r * 10 + i, `Gap ${i} real`);
        await rt.queues.propose.add('propose', job, { jobId: stageJobId(job.cycleId, 'propose') });
        await waitAll(rt, [job.cycleId], 600_000);
        const rec = JSON.parse((await rt.redis.get(rt.keys.record(job.cycleId)))!);
        if (rec.outcome !== 'ok') throw new Error(`${rec.outcome}: ${rec.reason}`);
        const t = await rt.queues.test.getJob(stageJobId(job.cycleId, 'test'));
        return { ms: t!.finishedOn! - t!.processedOn!, setupTail: String(rec.tests?.[0]?.tail ?? '') };
      };
      out.cold.push((await testStage(0)).ms);
      const second = await testStage(1);
      out.skip.push(second.ms);
      out.skipped &&= /setup skipped \(inputs unchanged/.test(second.setupTail);
      // A new slot on this machine: the slots go, the package cache under the workdir stays.
      await rm(rt.slots.root, { recursive: true, force: true });
      out.cache.push((await testStage(2)).ms);
    } catch (err) {
      return { error: (err as Error).message };
    } finally {
      await workers.close(2000);
      await rt.close();
    }
  }
  say(
    `real_setup samples (ms): cold ${out.cold.map(Math.round).join(' ')}; by hand ${out.handCold.map(Math.round).join(' ')}; ` +
      `unchanged ${out.skip.map(Math.round).join(' ')}; npm test ${out.handTest.map(Math.round).join(' ')}; new slot, warm cache ${out.cache.map(Math.round).join(' ')}`,
  );
  return out;
}

async function putRealSetup(model: ModelServer): Promise<void> {
  const s = await realSetup(model);
  if ('error' in s) {
    say(`real_setup error: ${s.error}`);
    for (const [k, goal] of [
      ['real_setup', 'ratio ≤ 1.1'],
      ['real_setup_skip', 'ratio ≤ 1.2'],
      ['real_setup_cache', 'ratio ≤ 0.3'],
    ] as const)
      put(k, { prbot: NaN, baseline: null, unit: 'ms', goal, goal_met: false, detail: { error: s.error } });
    return;
  }
  const med = (xs: number[]) => {
    const o = [...xs].sort((a, b) => a - b);
    return o.length % 2 ? o[(o.length - 1) / 2]! : (o[o.length / 2 - 1]! + o[o.length / 2]!) / 2;
  };
  const detail = {
    samples_ms: {
      cold: s.cold,
      by_hand: s.handCold,
      unchanged: s.skip,
      npm_test: s.handTest,
      new_slot_warm_cache: s.cache,
    },
  };
  put('real_setup', {
    prbot: med(s.cold),
    baseline: med(s.handCold),
    unit: 'ms test stage, first cycle on a fresh slot (54 npm packages) vs `npm ci && npm test` by hand',
    goal: 'ratio ≤ 1.1',
    goal_met: med(s.cold) / med(s.handCold) <= 1.1,
    detail,
  });
  put('real_setup_skip', {
    prbot: med(s.skip),
    baseline: med(s.handTest),
    unit: `ms test stage, second cycle, lockfile unchanged (setup ${s.skipped ? 'skipped' : 'NOT skipped'}) vs \`npm test\` alone`,
    goal: 'ratio ≤ 1.2',
    goal_met: s.skipped && med(s.skip) / med(s.handTest) <= 1.2,
  });
  put('real_setup_cache', {
    prbot: med(s.cache),
    baseline: med(s.cold),
    unit: 'ms test stage, new slot on a machine with the package cache vs the cold first cycle',
    goal: 'ratio ≤ 0.3',
    goal_met: med(s.cache) / med(s.cold) <= 0.3,
  });
}

// ---- main --------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!(await redisAnswers(redisUrl))) {
    ownRedis = await startRedisServer();
    redisUrl = ownRedis.url;
  }
  const quick = process.argv.includes('--quick');
  const started = Date.now();
  const bytesRow = async () => {
    const rb = await redisBytes();
    put('redis_bytes', {
      prbot: rb.keyBytes / 1e6,
      baseline: null,
      unit: `MB of Redis per ${rb.cycles.toLocaleString('en')} finished cycles (MEMORY USAGE over ${rb.keys} keys; INFO used_memory +${(rb.usedMemory / 1e6).toFixed(1)} MB)`,
      goal: '≤ 150 MB (bounded: retention, trims, TTLs)',
      goal_met: rb.keyBytes / 1e6 <= 150,
      detail: { key_bytes: rb.keyBytes, used_memory_delta: rb.usedMemory, keys: rb.keys, cycles: rb.cycles },
    });
  };
  const model = await startModelServer((req) => answer(gapOf(req.body.messages.map((m) => m.content).join('\n'))));

  if (!only || only.has('rss') || only.has('start') || only.has('throughput'))
    execSync(`${process.execPath} ${path.join(root, 'scripts', 'build.mjs')}`, { stdio: 'ignore' });
  if (wanted('overhead')) {
    const demoRepoOverhead = await overhead('demo', 12, model);
    const big = await overhead('big', 2000, model);
    put('overhead', {
      prbot: big.p50,
      baseline: big.base50,
      unit: 'ms/cycle (p50, 2,000 files)',
      goal: 'ratio ≤ 1.5',
      goal_met: big.p50 / big.base50 <= 1.5,
      detail: {
        demo: {
          p50: demoRepoOverhead.p50,
          p95: demoRepoOverhead.p95,
          baseline_p50: demoRepoOverhead.base50,
          baseline_p95: demoRepoOverhead.base95,
        },
        files2000: { p50: big.p50, p95: big.p95, baseline_p50: big.base50, baseline_p95: big.base95 },
      },
    });
  }
  const t = wanted('throughput') || wanted('rss') ? await throughputAndRss(model) : undefined;
  if (t && wanted('throughput'))
    put('throughput', {
      prbot: t.perSec,
      baseline: t.base,
      unit: 'cycles/s (200 in flight, 2,000 files)',
      goal: '≥ 20 cycles/s',
      goal_met: t.perSec >= 20,
    });
  if (wanted('scaling')) {
    const sc = await scaling(quick);
    const worst = Math.min(...Object.values(sc).map((s) => s.speedup / s.ideal));
    put('scaling', {
      prbot: worst,
      baseline: 1,
      ratio: worst,
      unit: 'worst speedup / ideal',
      goal: '≥ 0.8 for each concurrency',
      goal_met: worst >= 0.8,
      detail: sc,
    });
  }
  if (wanted('produce')) {
    const p = await produceBench(model);
    put('produce', {
      prbot: p.prbot,
      baseline: p.base,
      unit: 'ms for 10,000 gaps',
      goal: 'ratio ≤ 1.5',
      goal_met: p.prbot / p.base <= 1.5,
    });
  }
  if (wanted('repos')) {
    const one = await reposOverhead(1, model);
    const fifty = await reposOverhead(50, model);
    put('repos', {
      prbot: fifty.p50,
      baseline: one.p50,
      unit: 'ms/cycle overhead (p50) with 50 repositories configured vs 1',
      goal: 'ratio ≤ 1.2',
      goal_met: fifty.p50 / one.p50 <= 1.2,
      detail: { one, fifty },
    });
  }
  if (wanted('fairness')) {
    const alone = await fairnessWait(0, model);
    const beside = await fairnessWait(300, model);
    // What an operator's cap on the big repository buys (not the row's figure: the row is uncapped).
    const capped = await fairnessWait(300, model, 20);
    put('fairness', {
      prbot: beside.p95,
      baseline: alone.p95,
      unit: "ms, p95 from produce to a 5-gap repository's cycles ending: beside 300 gaps vs alone",
      goal: 'ratio ≤ 2',
      goal_met: beside.p95 / alone.p95 <= 2,
      detail: { alone, beside, besideBigMaxInFlight20: { ...capped, ratio: capped.p95 / alone.p95 } },
    });
  }
  if (wanted('budget')) {
    const b = await budgetBench();
    put('budget', {
      prbot: b.prbot,
      baseline: b.base,
      unit: 'ops/s (50 in flight)',
      goal: 'ratio ≥ 0.8',
      goal_met: b.prbot / b.base >= 0.8,
    });
  }
  if (wanted('warm_test')) {
    const w = await warmTest(model);
    if ('error' in w)
      put('warm_test', {
        prbot: NaN,
        baseline: null,
        unit: 'ms',
        goal: '≤ 0.2',
        goal_met: false,
        detail: { error: w.error },
      });
    else
      put('warm_test', {
        prbot: w.warm,
        baseline: w.cold,
        unit: 'ms setup+tests, second cycle vs first',
        goal: 'ratio ≤ 0.2',
        goal_met: w.warm / w.cold <= 0.2,
      });
  }
  if (t && wanted('rss'))
    put('rss', {
      prbot: t.loaded,
      baseline: null,
      unit: 'MB under load (compiled worker)',
      goal: '≤ 100 MB idle, ≤ 200 MB loaded',
      goal_met: t.idle <= 100 && t.loaded <= 200,
      detail: { idle_mb: t.idle, loaded_mb: t.loaded },
    });
  if (wanted('redis_bytes')) await bytesRow();
  if (wanted('context')) putContext(await contextBench());
  if (wanted('sandbox')) await putSandbox(model);
  if (wanted('real_setup')) await putRealSetup(model);
  if (wanted('start')) {
    const st = await startBench(model);
    put('start', {
      prbot: st.prbot,
      baseline: st.base,
      unit: 'ms spawn to ready (`prbot worker`, compiled)',
      goal: 'ratio ≤ 2.5',
      goal_met: st.prbot / st.base <= 2.5,
    });
  }
  await model.close();

  const seconds = (Date.now() - started) / 1000;
  if (!only) await writeReport(seconds);
  if (json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  else say(`\nbench took ${seconds.toFixed(0)} s${only ? '' : '; docs/BENCHMARKS.md written'}`);
}

function putContext(c: Awaited<ReturnType<typeof contextBench>>): void {
  put('context', {
    prbot: c.p50,
    baseline: c.base50,
    unit: `ms to build the prompt (p50, 2,000 files; ${c.bytes} bytes ≈ ${c.tokens} tokens, ${c.files} files shown, ${c.mapLines} map lines)`,
    goal: 'ratio ≤ 5, prompt ≤ 14,000 tokens',
    goal_met: c.p50 / c.base50 <= 5 && c.tokens <= 14_000,
    detail: c,
  });
}

async function writeReport(seconds: number): Promise<void> {
  const v = (cmd: string) => {
    try {
      return execSync(cmd, { encoding: 'utf8' }).trim().split('\n')[0];
    } catch {
      return '?';
    }
  };
  const rows = Object.entries(results).map(
    ([k, r]) =>
      `| \`${k}\` | ${fmt(r.prbot)} ${r.unit} | ${r.baseline === null ? '—' : fmt(r.baseline)} | ${r.ratio === null ? '—' : r.ratio.toFixed(2)} | ${r.goal} | ${r.goal_met ? 'yes' : '**no**'} |`,
  );
  const sc = results.scaling?.detail as
    Record<string, { seconds: number; baseline: number; speedup: number }> | undefined;
  const ov = results.overhead?.detail as
    Record<string, { p50: number; p95: number; baseline_p50: number; baseline_p95: number }> | undefined;
  const doc = `# Benchmarks

\`pnpm bench\` (\`scripts/bench.ts\`): every prbot figure beside a baseline measured in the same run on the
same machine, Redis and disk. Last run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${seconds.toFixed(0)} s:
${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()},
Node ${process.version}, ${v('redis-server --version')}, ${v('git --version')}, BullMQ 6.7.0.

| key | prbot | baseline | ratio | goal | met |
|---|---|---|---|---|---|
${rows.join('\n')}

- **overhead**: per cycle, wall time from the propose job's add to the recorded outcome, less the
  model call and the test command (instant loopback model, \`true\` as the test), one cycle in flight.
  Baseline: a bare four-queue BullMQ chain (one job at a time) plus the git work of a cycle called
  directly (classify, plumbing commit, move a kept worktree, run \`true\`, push).
${
  ov
    ? Object.entries(ov)
        .map(
          ([k, o]) =>
            `  ${k === 'demo' ? 'Demo repo' : '2,000-file repo'}: p50 ${o.p50.toFixed(1)} ms / p95 ${o.p95.toFixed(1)} ms; baseline p50 ${o.baseline_p50.toFixed(1)} / p95 ${o.baseline_p95.toFixed(1)} ms.`,
        )
        .join('\n')
    : ''
}
- **throughput**: 200 cycles in flight through one worker process (default stage concurrencies
  16/8/4/4), 2,000-file repo; baseline: the bare chain with 200 in flight.
- **scaling**: 40 gaps, model latency 300 ms, tests \`sleep 1\`; prbot with test concurrency c against a
  sequential loop of the same steps (timed on 8 cycles, scaled to 40).
${
  sc
    ? Object.entries(sc)
        .map(
          ([k, s]) =>
            `  ${k}: ${s.seconds.toFixed(1)} s vs ${s.baseline.toFixed(1)} s sequential → speedup ${s.speedup.toFixed(2)}.`,
        )
        .join('\n')
    : ''
}
- **produce**: \`produce\` on a 10,000-gap PRD (mirror fetch, PRD from git, parse, histories, forge
  listing, in-flight locks, one addBulk) against a plain \`addBulk\` of 10,000 jobs.
- **budget**: Lua reservations per second with 50 in flight against \`INCR\` per second.
- **warm_test**: setup (\`npm install\` of three packages) plus tests, second cycle against the first;
  the slot worktree keeps \`node_modules\`, and since issue 28 the second cycle's setup is skipped
  (package.json unchanged), so the figure is the test command alone.
- **redis_bytes**: Redis memory left by 10,000 finished cycles on a private redis-server. The keys are
  written as real cycles leave them without running the stages (four stage jobs and an event job per
  cycle, completed by a worker that logs three lines each, under the queues' retention; the budget
  buckets; recordOutcome's marker, record, gap history, recent list and day stats); 500 gaps × 20
  cycles. Retention keeps at most 5,000 finished jobs per queue, histories 20 per gap, the recent
  list 2,000: past that, growth is the per-cycle outcome marker and record (90-day TTL).
- **context**: building the propose prompt's repository context (ls-tree, git grep for importers,
  one cat-file --batch, symbol scan, windows, map) for a gap naming one file of the 2,000-file repo,
  against one ls-tree plus one cat-file --batch of the same files the prompt names.
- **real_setup**, **real_setup_skip**, **real_setup_cache**: \`test/fixtures/bench-real-setup\` (54 npm
  packages from the registry, \`npm ci --prefer-offline\` as setup with \`tests.network: setup\`, \`npm test\`
  as the test); the test stage's time (job processedOn → finishedOn). First cycle on a fresh slot with
  an empty package cache against \`npm ci && npm test\` by hand with an empty npm cache; the second
  cycle (lockfile unchanged, setup skipped) against \`npm test\` alone; a first cycle on a new slot of a
  machine whose package cache is warm against the cold first cycle. Medians of the rounds
  (\`REAL_SETUP_ROUNDS\`, 3); the registry is part of the cold figures on both sides.
- **rss**: the compiled worker process (\`prbot worker\`, all queues) idle, and its peak during the throughput run.
- **start**: spawn to ready of the compiled \`prbot worker\` (its "started" log line) against spawn to exit
  of \`node -e "import('bullmq')"\`; median of 7 each, alternating.
`;
  // The hand-written analysis below the generated table is kept across runs.
  const file = path.join(root, 'docs', 'BENCHMARKS.md');
  const old = await import('node:fs/promises').then((f) => f.readFile(file, 'utf8')).catch(() => '');
  const kept = old.includes('\n## Before and after') ? old.slice(old.indexOf('\n## Before and after')) : '';
  await writeFile(file, doc + kept);
}

try {
  await main();
} finally {
  await ownRedis?.stop();
  await rm(work, { recursive: true, force: true }).catch(() => {});
}
