import { releaseEarlySignals } from './early-signals.ts';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CassetteRecorder } from '@prbot/model';
import { ConfigError, UnavailableError, tuneHeapGrowth, UsageError } from '@prbot/core';
import { openRuntime, waitReady, parseQueueList } from '@prbot/pipeline';
import { loadConfig } from '@prbot/config';
import { defaultPolicy } from '@prbot/policy';
import { FORCE_WAIT_MS, preflight, startWorkers, type WorkerSet } from './workers.ts';
import { startHealthServer } from './health-server.ts';

const HELP = `usage: pnpm worker [--queues propose,apply,test,pr,events] [--concurrency N] [--config FILE] [--record CASSETTE]
Runs the given stage workers in this process (default: all queues). --record writes every
real model answer into CASSETTE, which the replay provider plays back.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      queues: { type: 'string' },
      concurrency: { type: 'string' },
      config: { type: 'string' },
      record: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const queues = parseQueueList(values.queues);
  const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency > 0)) {
    throw new UsageError(`--concurrency must be a positive whole number, not "${values.concurrency}"`);
  }
  const heap = tuneHeapGrowth();
  const cfg = loadConfig(values.config);
  const rt = await openRuntime(cfg, { role: 'worker' });
  let set: WorkerSet | undefined;
  let stopping = false;
  // Up before the start checks, so /readyz answers 503 while they run (not a refused connection).
  const health =
    cfg.worker.healthPort === undefined
      ? undefined
      : await startHealthServer(
          {
            redis: rt.redis,
            workers: () => set?.workers ?? [],
            queues: () => set?.queueWatch.health() ?? [],
            started: () => set !== undefined,
            stopping: () => stopping,
          },
          { host: cfg.worker.healthHost, port: cfg.worker.healthPort },
        );
  // Fail fast on a wrong URL at start; once running, workers reconnect by themselves.
  await waitReady(rt.redis, cfg.redis.url);
  await preflight(rt, queues).catch(async (err: unknown) => {
    await health?.close();
    await rt.close();
    throw err;
  });
  const recorder = values.record ? new CassetteRecorder(path.resolve(values.record)) : undefined;
  set = startWorkers(rt, defaultPolicy, {
    queues,
    concurrency,
    recorder,
    onGiveUp: (reason) => void stop('queue-watch', reason),
  });
  rt.log.info(
    { queues, concurrency: concurrency ?? 'from config', healthPort: health?.port, ...heap },
    'prbot worker started',
  );
  // SIGTERM/SIGINT: stop taking jobs, kill running tests (their jobs go back to waiting), let
  // other jobs finish within worker.shutdownGraceMs, then abort them. A second signal aborts at
  // once. Past grace + FORCE_WAIT_MS + 10 s the process exits regardless (exit code 1).
  // A queue the watch cannot keep consuming stops the process like a SIGTERM, but exits 1.
  const stop = async (signal: string, failure?: string) => {
    if (stopping) {
      rt.log.warn({ signal }, 'second signal: aborting active jobs now');
      set!.force();
      return;
    }
    if (failure)
      rt.log.fatal(
        { reason: failure },
        'a queue cannot be kept consuming; stopping so the supervisor restarts this worker',
      );
    stopping = true;
    const grace = cfg.worker.shutdownGraceMs;
    rt.log.info(
      { signal, graceMs: grace },
      'stopping: no new jobs; test runs stopped and returned to waiting; other jobs may finish',
    );
    setTimeout(
      () => {
        rt.log.error('shutdown did not finish in time; exiting anyway');
        process.exit(1);
      },
      grace + FORCE_WAIT_MS + 10_000,
    ).unref();
    await set!.close();
    await health?.close();
    await rt.close();
    process.exit(failure ? 1 : 0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  releaseEarlySignals();
}

main().catch((err: unknown) => {
  const known = err instanceof ConfigError || err instanceof UsageError || err instanceof UnavailableError;
  console.error(known ? `prbot worker: ${(err as Error).message}` : err);
  if (!known) console.error(HELP);
  // 2: the command or config is wrong; 1: something failed at run time.
  process.exit(err instanceof ConfigError || err instanceof UsageError ? 2 : 1);
});
