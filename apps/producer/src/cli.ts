import { parseArgs } from 'node:util';
import { ConfigError, createLogger, isRedisTransient, UnavailableError, UsageError } from '@prbot/core';
import {
  formatDoctor,
  redisDoctor,
  runDoctor,
  produce,
  formatStatus,
  pickRepos,
  produceRepos,
  type ProduceReport,
  repoStatus,
  setPaused,
  setRepoPaused,
  status,
} from '@prbot/control';
import {
  PRODUCE_SCHEDULER_ID,
  openRuntime,
  parseQueueList,
  STAGES,
  waitReady,
  type QueueName,
  type Runtime,
} from '@prbot/pipeline';
import { formatProbe, probe, probeTargets } from '@prbot/model';
import { loadConfig } from '@prbot/config';
import { defaultPolicy } from '@prbot/policy';
import { parseSchedule } from './schedule.ts';

const HELP = `usage:
  pnpm produce [--repo NAME] [--dry-run] [--json]
                                        scan each repository's PRD (or NAME's) and enqueue a cycle per gap
  pnpm produce --every 1h | --cron "0 * * * *"   produce on a schedule kept in Redis (workers run it)
  pnpm produce --unschedule             remove that schedule
  pnpm pause [queue…]                   stop queues from starting jobs (default: all four stages)
  pnpm resume [queue…]                  let them start again
  pnpm pause --repo NAME                no new cycles for that repository (its cycles in flight finish)
  pnpm resume --repo NAME               produce for it again
  pnpm status [--json]                  jobs per state per queue, paused or not, budget left today, a row per repository
  pnpm probe [--json]                   send "Reply with the single word pong" to every configured rung
  pnpm probe --base-url URL --model M [--model M2] [--key-env VAR] [--json]
                                        the same for an ad-hoc OpenAI-compatible endpoint (no config needed)
  pnpm doctor [--json]                  check the forge token, scopes, repository, base branch, labels and drafts
                                        against the live forge before the first cycle (exit 1 when something would fail)
options: --config FILE (or PRBOT_CONFIG)`;

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      json: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      help: { type: 'boolean' },
      'base-url': { type: 'string' },
      model: { type: 'string', multiple: true },
      'key-env': { type: 'string' },
      'timeout-ms': { type: 'string' },
      every: { type: 'string' },
      cron: { type: 'string' },
      unschedule: { type: 'boolean' },
      repo: { type: 'string' },
    },
  });
  if (values.help || !command) {
    console.log(HELP);
    return command ? 0 : 2;
  }
  if (!['produce', 'pause', 'resume', 'status', 'probe', 'doctor'].includes(command))
    throw new UsageError(`unknown command "${command}"\n${HELP}`);
  if (command === 'doctor') return doctor(values);
  if (command === 'probe' && values['base-url']) return probeAdHoc(values);
  // Checked before connecting, so a typo changes nothing anywhere.
  if (command === 'produce' && (values.every !== undefined || values.cron !== undefined)) parseSchedule(values);
  const pauseTargets =
    command === 'pause' || command === 'resume' ? (positionals.length ? parseQueueList(positionals) : [...STAGES]) : [];
  const cfg = loadConfig(values.config);
  // Logs to stderr: stdout carries only the command's answer, so `--json | jq` parses it.
  const rt = await openRuntime(cfg, { role: 'client', log: createLogger(cfg.log.level, { fd: 2 }) });
  try {
    await waitReady(rt.redis, cfg.redis.url);
    return await run(rt, command, pauseTargets, values);
  } finally {
    await rt.close();
  }
}

type Values = {
  json?: boolean;
  repo?: string;
  'dry-run'?: boolean;
  'base-url'?: string;
  model?: string[];
  'key-env'?: string;
  'timeout-ms'?: string;
  every?: string;
  cron?: string;
  unschedule?: boolean;
};

/** Producing on a schedule: a BullMQ job scheduler in Redis, so no host needs cron and restarts lose nothing. */
async function schedule(rt: Runtime, values: Values): Promise<number> {
  const q = rt.queues.produce;
  if (values.unschedule) {
    const removed = await q.removeJobScheduler(PRODUCE_SCHEDULER_ID);
    console.log(
      values.json
        ? JSON.stringify({ schedule: null, removed })
        : removed
          ? 'schedule removed'
          : 'there was no schedule',
    );
    return 0;
  }
  const repeat = parseSchedule(values);
  await q.upsertJobScheduler(PRODUCE_SCHEDULER_ID, repeat, { name: 'produce', data: { dryRun: values['dry-run'] } });
  const next = (await q.getJobScheduler(PRODUCE_SCHEDULER_ID))?.next;
  if (values.json) {
    console.log(
      JSON.stringify({
        schedule: values.every ? { every: values.every } : { cron: values.cron },
        next: next ? new Date(next).toISOString() : null,
      }),
    );
    return 0;
  }
  console.log(
    `produce scheduled ${values.every ? `every ${values.every}` : `on "${values.cron}" (UTC)`}; next run ${next ? new Date(next).toISOString() : 'soon'}. Workers running the "produce" queue carry it out.`,
  );
  return 0;
}

/** The forge as the first cycle will meet it; needs no Redis. */
async function doctor(values: { config?: string; json?: boolean }): Promise<number> {
  const cfg = loadConfig(values.config);
  const report = await runDoctor(cfg, process.env, createLogger('silent', { pretty: false }));
  // Redis too: an evicting policy makes every worker and produce refuse to run.
  report.checks.push(...(await redisDoctor(cfg)));
  report.ok = report.checks.every((c) => c.status !== 'fail');
  console.log(values.json ? JSON.stringify(report, null, 2) : formatDoctor(report));
  return report.ok ? 0 : 1;
}

/** An endpoint given on the command line: no config, no Redis, so no budget is counted. */
async function probeAdHoc(values: Values): Promise<number> {
  const models = values.model ?? [];
  if (models.length === 0) throw new UsageError('--base-url needs at least one --model');
  if (values['key-env'] && !/^[A-Z_][A-Z0-9_]*$/.test(values['key-env']))
    throw new UsageError('--key-env takes the NAME of an environment variable, not a key');
  let host: string;
  try {
    host = new URL(values['base-url']!).host;
  } catch {
    throw new UsageError(`--base-url is not a URL: "${values['base-url']}"`);
  }
  const targets = models.map((model) => ({
    provider: host,
    model,
    baseUrl: values['base-url']!,
    keyEnv: values['key-env'],
  }));
  const rows = await probe(targets, { env: process.env, timeoutMs: Number(values['timeout-ms'] ?? 30_000) });
  const note = 'ad-hoc probe: not counted against any budget (no config)';
  console.log(values.json ? JSON.stringify({ rows, budget: note }, null, 2) : `${formatProbe(rows)}\n\n${note}`);
  return rows.every((r) => r.ok) ? 0 : 1;
}

/** One line per gap: what produce did and, for every gap not enqueued, why. */
function printProduce(report: ProduceReport, json?: boolean): void {
  if (json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  for (const l of report.lines)
    console.log(`${l.action.padEnd(17)} ${l.gap.id}  ${l.cycleId ?? ''}  ${l.gap.text}  (${l.why})`);
  for (const u of report.upkeep ?? [])
    console.log(`upkeep ${u.action.padEnd(20)} ${u.branch}  ${u.cycleId ?? ''}  (${u.why})`);
  for (const r of report.revisions ?? [])
    console.log(
      r.result.enqueued
        ? `revise            PR #${r.pr}  ${r.result.cycleId}  (${r.label ? `label ${r.label}` : `comment ${r.commentId}`})`
        : `revise-ignored    PR #${r.pr}  ${r.label ? `label ${r.label}` : `comment ${r.commentId}`}: ${r.result.reason} (${r.result.detail})`,
    );
  if (report.outcome) console.log(`${report.outcome}: ${report.reason}`);
  else console.log(report.reason);
}

async function run(rt: Runtime, command: string, queues: string[], values: Values): Promise<number> {
  switch (command) {
    case 'produce': {
      if (values.every || values.cron || values.unschedule) return schedule(rt, values);
      // One repository and no --repo: the report and its lines as they always were.
      if (rt.cfg.repositories.length === 1 && values.repo === undefined && !rt.cfg.discover) {
        const report = await produce(rt, defaultPolicy, { dryRun: values['dry-run'] });
        printProduce(report, values.json);
        // Some picked gaps were not enqueued (Redis refused): not a success, though the rest ran.
        return report.notEnqueued ? 1 : 0;
      }
      const runs = await produceRepos(rt, defaultPolicy, { repo: values.repo, dryRun: values['dry-run'] });
      if (values.json) console.log(JSON.stringify(runs, null, 2));
      else
        for (const r of runs) {
          if ('error' in r) console.log(`repo ${r.repo}: produce failed: ${r.error}`);
          else if (r.drained) console.log(`repo ${r.repo}: ${r.report.reason}`);
          else {
            console.log(`repo ${r.repo}:`);
            printProduce(r.report, false);
          }
        }
      // A repository that failed, or gaps Redis refused: not a success, though the rest ran.
      return runs.some((r) => 'error' in r || r.report.notEnqueued) ? 1 : 0;
    }
    case 'pause':
    case 'resume':
      if (values.repo !== undefined) {
        const [view] = await pickRepos(rt, values.repo);
        await setRepoPaused(view!, command === 'pause');
        const word = command === 'pause' ? 'paused' : 'resumed';
        console.log(values.json ? JSON.stringify({ repo: values.repo, [word]: true }) : `repo ${values.repo}: ${word}`);
        return 0;
      }
      await setPaused(rt, command === 'pause', queues as QueueName[]);
      if (values.json) console.log(JSON.stringify({ [command === 'pause' ? 'paused' : 'resumed']: queues }));
      else for (const q of queues) console.log(`${q}: ${command === 'pause' ? 'paused' : 'resumed'}`);
      return 0;
    case 'probe': {
      const rows = await probe(probeTargets(rt.cfg.models), {
        env: process.env,
        timeoutMs: Number(values['timeout-ms'] ?? 30_000),
        budget: rt.budget,
      });
      const b = await rt.budget.today();
      const note = `probes count against today's budget: ${b.calls.left}/${b.calls.cap} calls left`;
      console.log(values.json ? JSON.stringify({ rows, budget: note }, null, 2) : `${formatProbe(rows)}\n\n${note}`);
      return rows.every((r) => r.ok) ? 0 : 1;
    }
    case 'status': {
      const s = { ...(await status(rt)), repositories: await repoStatus(rt) };
      console.log(values.json ? JSON.stringify(s, null, 2) : formatStatus(s));
      return 0;
    }
  }
  return 2;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    // An unknown flag or a missing value from parseArgs is a usage error too: one line, no stack.
    const badArgs = String((err as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS');
    const known = err instanceof ConfigError || err instanceof UsageError || err instanceof UnavailableError || badArgs;
    // Redis refusing a write (OOM, a restart) is the operator's to fix, not a bug: one line, what to do.
    if (!known && isRedisTransient(err)) {
      console.error(
        `prbot: Redis refused: ${(err as Error).message.split('\n')[0]}; this run stopped there: gaps it did not print as enqueued were not enqueued. Free Redis memory (or wait for it to come back) and run it again`,
      );
      process.exit(1);
    }
    console.error(`prbot: ${known ? (err as Error).message : ((err as Error).stack ?? String(err))}`);
    // 2: the command or config is wrong; 1: something failed at run time.
    process.exit(err instanceof ConfigError || err instanceof UsageError || badArgs ? 2 : 1);
  },
);
