import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { QUEUE_NAMES, type Runtime } from '@prbot/pipeline';
import {
  createHarness,
  dumpRedis,
  repoWithGaps,
  REPO_ROOT,
  startModelServer,
  type Harness,
  type ModelServer,
} from '@prbot/test-support';
import { gapLines, gapNumber, passingAnswer } from './answers.ts';

/** The secret values every reliability test configures; none may appear in anything produced. */
export const SECRET_KEY = 'sk-reliability-model-key-7f3a9c21e4b8';
export const SECRET_TOKEN = 'gtea-reliability-forge-token-b41d0c9a';
export const SECRETS = [SECRET_KEY, SECRET_TOKEN];
export const SECRET_ENV = { PRBOT_TEST_KEY: SECRET_KEY, FORGE_TOKEN: SECRET_TOKEN };

const RESULTS = path.join(REPO_ROOT, 'data', 'reliability', 'results.jsonl');

export interface Row {
  fault: string;
  injections: number;
  inFlight: number;
  lost: number;
  duplicates: number;
  /** Model requests beyond one per cycle that reached the model, counted at the loopback server. */
  extraCalls?: number;
  notes: string;
}

export function recordRow(row: Row): void {
  mkdirSync(path.dirname(RESULTS), { recursive: true });
  appendFileSync(RESULTS, JSON.stringify({ ...row, at: new Date().toISOString() }) + '\n');
}

export function readRows(): (Row & { at: string })[] {
  try {
    return readFileSync(RESULTS, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  } catch {
    return [];
  }
}

/** Secret hits found across everything the suite produced; appended per test, summed at the end. */
export function recordScan(hits: number, bytes: number, what: string): void {
  mkdirSync(path.dirname(RESULTS), { recursive: true });
  appendFileSync(path.join(path.dirname(RESULTS), 'scans.jsonl'), JSON.stringify({ hits, bytes, what }) + '\n');
}

export interface WorkerChild {
  child: ResultPromise;
  output: () => string;
}

// `node --import tsx`, not the tsx CLI: the CLI is a wrapper process, and a SIGKILL must hit the worker itself.
export const NODE_TSX = [process.execPath, '--import', 'tsx'] as const;

/** A worker in its own process (SIGKILL-able), with its log lines captured for the secret scan. */
export function spawnWorker(
  configFile: string,
  queues: string,
  env: Record<string, string> = SECRET_ENV,
  extraArgs: string[] = [],
): WorkerChild {
  let out = '';
  const child = execa(
    NODE_TSX[0],
    [
      ...NODE_TSX.slice(1),
      path.join(REPO_ROOT, 'apps', 'worker', 'src', 'main.ts'),
      '--queues',
      queues,
      '--config',
      configFile,
      ...extraArgs,
    ],
    {
      cwd: REPO_ROOT,
      // The job-signing key every worker of a deployment shares (the harness made it for this process).
      env: {
        PATH: process.env.PATH!,
        PRBOT_LOG_JSON: '1',
        ...(process.env.PRBOT_JOB_KEY ? { PRBOT_JOB_KEY: process.env.PRBOT_JOB_KEY } : {}),
        ...env,
      },
      extendEnv: false,
      reject: false,
      buffer: false,
    },
  );
  child.stdout?.on('data', (c) => (out += String(c)));
  child.stderr?.on('data', (c) => (out += String(c)));
  return { child, output: () => out };
}

export async function stopChild(w: WorkerChild, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | undefined> {
  w.child.kill(signal);
  const r = await w.child;
  return r.exitCode;
}

/** Resident memory of a process in MB, from /proc. */
export async function rssMb(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/^VmRSS:\s+(\d+)/m.exec(s)?.[1] ?? 0) / 1024;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name === '.git' || e.name.endsWith('.git') || e.name === 'slots' || e.name === 'mirrors') continue;
        await walk(p);
      } else if (e.isFile()) {
        // A record's `.tmp` file can be renamed away between readdir and stat (atomic writes).
        const size = await stat(p).then(
          (s) => s.size,
          () => -1,
        );
        if (size >= 0 && size < 50_000_000) out.push(p);
      }
    }
  };
  await walk(dir);
  return out;
}

/**
 * Counts secret values in records, PR bodies, job payloads and logs (Bull Board's Logs tab), the
 * Redis records and histories, and the given extra texts (worker logs). Records the scan.
 */
export async function scanSecrets(
  h: Harness,
  rt: Runtime,
  extra: string[],
  what: string,
  /** False only for the scan's own positive control, whose planted hits are no finding. */
  record = true,
): Promise<number> {
  const texts: string[] = [...extra];
  for (const f of await filesUnder(h.dir)) texts.push(await readFile(f, 'utf8').catch(() => ''));
  for (const q of QUEUE_NAMES) {
    const jobs = await rt.queues[q].getJobs(
      ['completed', 'failed', 'waiting', 'prioritized', 'delayed', 'active'],
      0,
      5000,
    );
    for (const j of jobs)
      texts.push(
        JSON.stringify([
          j.data,
          j.returnvalue,
          j.failedReason,
          j.stacktrace,
          (await rt.queues[q].getJobLogs(j.id!)).logs,
        ]),
      );
  }
  const ids = await rt.redis.lrange(rt.keys.recent(), 0, -1);
  for (const id of ids) texts.push((await rt.redis.get(rt.keys.record(id))) ?? '');
  texts.push(await dumpRedis(rt, h.prefix));
  const all = texts.join('\n');
  // Each secret as written and as it travels in headers (base64, and git's x-access-token form).
  const forms = SECRETS.flatMap((s) => [
    s,
    Buffer.from(s).toString('base64'),
    Buffer.from(`x-access-token:${s}`).toString('base64'),
  ]);
  const hits = forms.reduce((n, s) => n + all.split(s).length - 1, 0);
  if (record) recordScan(hits, Buffer.byteLength(all), what);
  return hits;
}

export async function writeConfigVariant(
  h: Harness,
  name: string,
  patch: (raw: Record<string, unknown>) => Record<string, unknown>,
): Promise<string> {
  const raw = JSON.parse(await readFile(h.configFile, 'utf8')) as Record<string, unknown>;
  const file = path.join(h.dir, `${name}.config.json`);
  await writeFile(file, JSON.stringify(patch(raw), null, 2));
  return file;
}

export async function until(cond: () => Promise<boolean>, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return false;
}

type Raw = Record<string, unknown>;
const plain = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `over` laid onto `base`: objects merge key by key; arrays, null and scalars replace. */
function merged(base: Raw, over: Raw): Raw {
  const out: Raw = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = plain(v) && plain(out[k]) ? merged(out[k] as Raw, v) : v;
  return out;
}

export interface World {
  h: Harness;
  server: ModelServer;
}

const open: World[] = [];

/**
 * A reliability test's world: a loopback model server (by default every gap gets its passing
 * change, `delayMs` late), a repo whose PRD holds `gaps` tagged lines, and a harness whose
 * config is the one every fault row shares, with `config` laid over it:
 * - each of `providers` (default one, "loop") an OpenAI-style rung on the server, keyed by the
 *   secret SECRET_ENV carries, so the secret scans look for a key that was really sent;
 * - budget, policy and forge limits far above the run's size, and no queue rate limiters: the
 *   faults, not the pacing, decide what happens (pacing has tests of its own);
 * - with `spawns` (the test runs workers in their own processes), info logs, so their output
 *   holds what the secret scan must search; in-process runs stay silent.
 * closeWorlds() (each file's afterEach/afterAll, after its workers stopped) tears them down.
 */
export async function reliabilityWorld(o: {
  gaps: number | string[];
  delayMs?: number;
  script?: ModelServer['script'];
  providers?: string[];
  spawns?: boolean;
  config?: Raw;
  repo?: (dir: string) => Promise<void>;
}): Promise<World> {
  const server = await startModelServer(
    o.script ?? ((req) => ({ ...passingAnswer(gapNumber(req)), ...(o.delayMs ? { delayMs: o.delayMs } : {}) })),
  );
  const world: World = { h: undefined as unknown as Harness, server };
  open.push(world);
  const repo = await repoWithGaps(typeof o.gaps === 'number' ? gapLines(o.gaps) : o.gaps);
  await o.repo?.(repo);
  const providers = o.providers ?? ['loop'];
  const shared: Raw = {
    models: {
      providers: Object.fromEntries(
        providers.map((p) => [p, { kind: 'openai', baseUrl: server.baseUrl, keyEnv: 'PRBOT_TEST_KEY' }]),
      ),
      propose: providers.map((p) => `${p}/m`),
    },
    budget: { callsPerDay: 1000, perCycle: { calls: 20 } },
    policy: { maxGapsPerRun: 100 },
    forge: { kind: 'local', maxOpen: 1000, maxPerHour: 1000 },
    queues: { propose: { limiter: null }, pr: { limiter: null } },
    // A spawned worker's output is what the secret scan searches: it logs what it does.
    ...(o.spawns ? { log: { level: 'info' } } : {}),
  };
  world.h = await createHarness({ repo, env: SECRET_ENV, config: merged(shared, o.config ?? {}) });
  return world;
}

/** Tears down every world made since the last call: its Redis keys, temp dirs and model server. */
export async function closeWorlds(): Promise<void> {
  for (const w of open.splice(0)) {
    await w.h?.cleanup().catch(() => {});
    await w.server.close();
  }
}
