/**
 * `pnpm demo`: the whole pipeline, offline, on examples/demo-repo. Makes a bare upstream under
 * data/demo/, uses the Redis at REDIS_URL (or 127.0.0.1:6379, or starts a redis-server child),
 * runs produce and all four stage workers in this process, replays recorded model answers from
 * examples/demo-cassette.json, shows each cycle's progress live, and writes
 * data/demo/summary.json. `pnpm demo --repos 2` serves a second repository (a copy of the
 * example under another name) from the same deployment: two repositories in one dashboard.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash, randomBytes } from 'node:crypto';
import { deleteMatching, openRuntime, outcomeOf, getRecord, STAGES, stageJobId, type Runtime } from '@prbot/pipeline';
import { tryFileLock, sandboxProblem } from '@prbot/sandbox';
import { parseConfig } from '@prbot/config';
import { createLogger, type CycleRecord } from '@prbot/core';
import { makeUpstream, redisAnswers, startRedisServer, type RedisServer } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produceRepos } from '@prbot/control';
import { startWorkers } from '@prbot/worker';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// PRBOT_DEMO_DIR: test/demo.test.ts runs the demo in a temp dir, leaving data/demo alone.
const dataDir = process.env.PRBOT_DEMO_DIR ? path.resolve(process.env.PRBOT_DEMO_DIR) : path.join(root, 'data', 'demo');
// One key prefix per checkout: the demo clears its prefix first, so a shared Redis (the one at
// 6379 on a team machine) once had two checkouts' demos wiping and running each other's jobs
// (signed with the other run's key: every cycle ended model_failed, "job signature invalid").
const PREFIX = `{prbot-demo-${createHash('sha256').update(dataDir).digest('hex').slice(0, 8)}}`;
const t0 = Date.now();
const repoCount = demoRepoCount(process.argv.slice(2));
const say = (s: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${s}`);

async function redisUrl(): Promise<{ url: string; server?: RedisServer }> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (await redisAnswers(url)) return { url };
  say(`no Redis answers at ${url}; starting a redis-server child`);
  const server = await startRedisServer();
  return { url: server.url, server };
}

/** The programs the demo runs, checked first so a missing one is named with its package. */
function missingPrograms(): string | null {
  const need = [
    ['git', 'git'],
    ['flock', 'util-linux'],
  ] as const;
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const missing = need.filter(([p]) => !dirs.some((d) => existsSync(path.join(d, p))));
  if (missing.length === 0) return null;
  return `pnpm demo needs ${missing.map(([p]) => p).join(' and ')}: apt-get install ${missing.map(([, pkg]) => pkg).join(' ')} (Debian/Ubuntu; as root, or with sudo)`;
}

async function main(): Promise<void> {
  const missing = missingPrograms();
  if (missing) {
    console.error(missing);
    process.exit(1);
  }
  // The test stage hands each run's worktree to a uid of its own, which must be able to enter
  // data/demo/work: under a umask like 077 every directory made below would be root's alone.
  process.umask(0o022);
  // Each run starts from nothing: a draft PR left by the last run would make produce skip its gap.
  await mkdir(dataDir, { recursive: true });
  // One demo at a time per checkout: a second would clear the first one's keys and files.
  // A kernel lock, so a demo stopped with Ctrl-C or killed never leaves it held.
  const lock = await tryFileLock(path.join(dataDir, '.lock'));
  if (!lock)
    throw new Error(
      `another pnpm demo is running in this checkout (its pid is in ${path.join(dataDir, '.lock')}); wait for it to end`,
    );
  for (const d of ['prs', 'cycles']) await rm(path.join(dataDir, d), { recursive: true, force: true });
  const { url, server } = await redisUrl();
  say(`Redis: ${url} (key prefix ${PREFIX})`);
  const repos: { name: string; url: string; base: string; prd: string }[] = [];
  for (let i = 0; i < repoCount; i++) {
    const name = i === 0 ? 'demo' : `demo-${i + 1}`;
    const { bare } = await makeUpstream(
      path.join(root, 'examples', 'demo-repo'),
      path.join(dataDir, i ? name : 'repo'),
    );
    repos.push({ name, url: bare, base: 'main', prd: 'docs/PRD.md' });
    say(`upstream repository: ${path.relative(root, bare)}`);
  }

  // Hand-overs are signed; the demo's workers and producer share one key made for this run.
  process.env.PRBOT_JOB_KEY ??= randomBytes(32).toString('hex');
  // The sandbox when this machine can make one (root + bubblewrap); else off, and said so.
  const problem = await sandboxProblem({
    limits: { processes: 512 },
    toolDirs: [],
    workdir: path.join(dataDir, 'work'),
  });
  const sandbox = problem ? 'off' : 'bwrap';
  say(
    problem
      ? `tests run WITHOUT a sandbox (fine for this offline demo, never for real use): ${problem}`
      : 'tests run in the bubblewrap sandbox',
  );

  const configFile = path.join(dataDir, 'prbot.config.json');
  const rawConfig = {
    redis: { url, prefix: PREFIX },
    // One repository: the single `repo:` form, exactly as a one-repository deployment writes it.
    ...(repos.length === 1 ? { repo: { url: repos[0]!.url, base: 'main', prd: 'docs/PRD.md' } } : { repos }),
    workdir: path.join(dataDir, 'work'),
    records: { dir: path.join(dataDir, 'cycles') },
    forge: { kind: 'local', prDir: path.join(dataDir, 'prs') },
    models: {
      providers: { replay: { kind: 'replay', cassette: path.join(root, 'examples', 'demo-cassette.json') } },
      propose: ['replay/demo-cassette'],
    },
    queues: { test: { concurrency: 2 } },
    // Without the sandbox the tests run as the demo's own user: a uid of their own would need
    // to enter this checkout, and a checkout the sandbox check could not enter is one it cannot.
    tests: { commands: [['node', '--test']], timeoutMs: 60_000, sandbox, ...(problem ? { runAs: null } : {}) },
    log: { level: 'warn' },
  };
  await mkdir(dataDir, { recursive: true });
  await writeFile(configFile, JSON.stringify(rawConfig, null, 2) + '\n');
  const cfg = parseConfig(rawConfig, configFile, {});
  const rt = await openRuntime(cfg, { role: 'worker', log: createLogger('warn', { pretty: true }) });
  try {
    await clearDemoKeys(rt);
    const workers = startWorkers(rt, defaultPolicy, { queues: [...STAGES, 'events'] });
    const cycles: { id: string; text: string }[] = [];
    for (const run of await produceRepos(rt, defaultPolicy)) {
      if ('error' in run) throw new Error(`produce of ${run.repo}: ${run.error}`);
      const where = repos.length > 1 ? `${run.repo}: ` : '';
      for (const l of run.report.lines) say(`${l.action.padEnd(10)} ${where}${l.gap.text.slice(0, 70)}`);
      for (const l of run.report.lines)
        if (l.action === 'enqueued') cycles.push({ id: l.cycleId!, text: `${where}${l.gap.text}` });
    }
    const records = await follow(rt, cycles);
    await workers.close(5000);
    await writeSummary(records);
    printTable(records);
  } finally {
    await rt.close();
    await server?.stop();
  }
}

async function clearDemoKeys(rt: Runtime): Promise<void> {
  await deleteMatching(rt.redis, `${PREFIX}:*`);
}

/** Prints each cycle's moves between stages until every one has its outcome. */
async function follow(rt: Runtime, cycles: { id: string; text: string }[]): Promise<CycleRecord[]> {
  const seen = new Map<string, string>();
  const deadline = Date.now() + 180_000;
  for (;;) {
    let done = 0;
    for (const c of cycles) {
      const outcome = await outcomeOf(rt.redis, rt.keys, c.id);
      let where = outcome ? `→ ${outcome}` : 'waiting';
      if (!outcome) {
        for (const stage of [...STAGES].reverse()) {
          const state = await rt.queues[stage].getJobState(stageJobId(c.id, stage));
          if (state !== 'unknown') {
            where = `${stage} (${state})`;
            break;
          }
        }
      } else done++;
      if (seen.get(c.id) !== where) {
        seen.set(c.id, where);
        say(`${c.text.slice(0, 48).padEnd(48)} ${where}`);
      }
    }
    if (done === cycles.length) break;
    if (Date.now() > deadline) throw new Error('the demo did not finish within 3 minutes; see `pnpm status`');
    await new Promise((r) => setTimeout(r, 150));
  }
  const records = await Promise.all(cycles.map((c) => getRecord(rt.redis, rt.keys, c.id)));
  return records.filter((r): r is CycleRecord => r !== null);
}

async function writeSummary(records: CycleRecord[]): Promise<void> {
  const summary = {
    cycles: records.map((r) => ({
      repo: r.repo,
      gap_id: r.gap_id,
      gap_text: r.gap_text,
      outcome: r.outcome,
      reason: r.reason,
      pr_url: r.pr_url,
    })),
  };
  await writeFile(path.join(dataDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
}

function printTable(records: CycleRecord[]): void {
  console.log('\noutcome            gap');
  const pad = ' '.repeat(19);
  // A tests_failed reason carries the failure digest over several lines: indent them under the row.
  const reason = (r: CycleRecord) =>
    r.reason
      .split('\n')
      .slice(0, 14)
      .map((l) => l.slice(0, 120))
      .join(`\n${pad}  `);
  const where = (r: CycleRecord) => (repoCount > 1 && r.repo ? `${r.repo}: ` : '');
  for (const r of records) console.log(`${r.outcome.padEnd(18)} ${where(r)}${r.gap_text}\n${pad}${reason(r)}`);
  console.log(
    `\n${records.length} cycles; records in data/demo/cycles/, draft PRs in data/demo/prs/, summary in data/demo/summary.json`,
  );
}

/** `--repos N` (1 or 2; 1 without the flag). */
function demoRepoCount(argv: string[]): number {
  const at = argv.indexOf('--repos');
  if (at < 0) return 1;
  const n = Number(argv[at + 1]);
  if (n !== 1 && n !== 2) {
    console.error(`--repos takes 1 or 2 (the demo's repositories), not ${argv[at + 1] ?? 'nothing'}`);
    process.exit(2);
  }
  return n;
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
