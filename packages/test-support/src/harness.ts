import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig, type ConfigInput, type LoadedConfig } from '@prbot/config';
import { createLogger } from '@prbot/core';
import { createRuntime, type Runtime, deleteMatching } from '@prbot/pipeline';
import type { Clock } from '@prbot/core';
import { makeUpstream } from './upstream.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const DEMO_REPO = path.join(REPO_ROOT, 'examples', 'demo-repo');
export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

// Hand-overs are signed (jobs.keyEnv, PRBOT_JOB_KEY): every runtime of a test process shares a
// key made here, as every worker of one deployment shares the operator's.
process.env.PRBOT_JOB_KEY ??= randomBytes(32).toString('hex');

export interface Harness {
  dir: string;
  prefix: string;
  bare: string;
  checkout: string;
  configFile: string;
  cfg: LoadedConfig;
  rt: Runtime;
  /** A second runtime on the same config (another "machine" or process). */
  runtime(o?: { clock?: Clock; env?: NodeJS.ProcessEnv }): Runtime;
  cleanup(): Promise<void>;
}

type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K];
};

/**
 * A test's own world: a unique key prefix on the real Redis, a bare upstream made from the
 * demo repo (or `repo`), a config file on disk, and a runtime. `cleanup` deletes every key
 * under the prefix and the temp directory.
 */
export async function createHarness(
  o: {
    config?: DeepPartial<ConfigInput>;
    repo?: string;
    clock?: Clock;
    env?: NodeJS.ProcessEnv;
    logTo?: NodeJS.WritableStream;
  } = {},
): Promise<Harness> {
  const dir = await mkdtemp(path.join(tmpdir(), 'prbot-test-'));
  await chmod(dir, 0o755); // the unprivileged test user must reach the slot worktrees
  const prefix = `{prbot-t${randomBytes(5).toString('hex')}}`;
  const { bare, checkout } = await makeUpstream(o.repo ?? DEMO_REPO, path.join(dir, 'repo'));
  const c = o.config ?? {};
  const raw = {
    ...c,
    redis: { url: TEST_REDIS_URL, prefix, ...c.redis },
    repo: { url: bare, ...c.repo },
    workdir: path.join(dir, 'work'),
    records: { dir: path.join(dir, 'cycles'), ...c.records },
    forge: { kind: 'local', prDir: path.join(dir, 'prs'), ...c.forge },
    models: c.models ?? {
      providers: { replay: { kind: 'replay', cassette: path.join(REPO_ROOT, 'examples', 'demo-cassette.json') } },
      propose: ['replay/demo'],
    },
    queues: {
      ...c.queues,
      propose: { backoff: { delay: 50 }, ...c.queues?.propose },
      apply: { backoff: { delay: 50 }, ...c.queues?.apply },
      test: { backoff: { delay: 50 }, ...c.queues?.test },
      pr: { backoff: { delay: 50 }, ...c.queues?.pr },
      events: { backoff: { delay: 50 }, ...c.queues?.events },
      produce: { backoff: { delay: 50 }, ...c.queues?.produce },
    },
    tests: { commands: [['node', '--test']], ...c.tests },
    // Tests run produce again right after a cycle ends; the pacing tests set these themselves.
    policy: { coolDownMs: 0, noopCoolDownMs: 0, ...c.policy },
    log: { level: 'silent', ...c.log },
  };
  const configFile = path.join(dir, 'prbot.config.json');
  // A Redis password never sits in a config file (config refuses it): it comes as REDIS_URL.
  const url = new URL(String(raw.redis.url));
  const secretUrl = url.password ? { REDIS_URL: url.href } : {};
  url.password = '';
  url.username = '';
  const onDisk = { ...raw, redis: { ...raw.redis, url: url.href } };
  await writeFile(configFile, JSON.stringify(onDisk, null, 2));
  const cfg = parseConfig(onDisk, configFile, secretUrl);
  const runtimes: Runtime[] = [];
  const runtime = (ro: { clock?: Clock; env?: NodeJS.ProcessEnv } = {}) => {
    const rt = createRuntime(cfg, {
      role: 'worker',
      clock: ro.clock ?? o.clock,
      env: ro.env ?? o.env ?? {},
      log: createLogger(o.logTo ? 'debug' : cfg.log.level, { pretty: false, destination: o.logTo }),
    });
    runtimes.push(rt);
    return rt;
  };
  const rt = runtime();
  return {
    dir,
    prefix,
    bare,
    checkout,
    configFile,
    cfg,
    rt,
    runtime,
    async cleanup() {
      await deleteMatching(rt.redis, `${prefix}:*`);
      await Promise.all(runtimes.map((r) => r.close().catch(() => {})));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A copy of the demo repo whose PRD holds exactly these tagged lines. */
export async function repoWithGaps(gaps: string[]): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'prbot-repo-'));
  await cp(DEMO_REPO, dir, { recursive: true });
  await writeFile(
    path.join(dir, 'docs', 'PRD.md'),
    `# PRD\n\n${gaps.map((g) => `- [ ] ${g} [bot-eligible]`).join('\n')}\n`,
  );
  return dir;
}
