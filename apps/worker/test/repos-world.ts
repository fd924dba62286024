import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig, type LoadedConfig } from '@prbot/config';
import { createLogger } from '@prbot/core';
import { deleteMatching, openRuntime, type Runtime, waitReady } from '@prbot/pipeline';
import { execa } from 'execa';
import { makeUpstream, REPO_ROOT, repoWithGaps, TEST_REDIS_URL, type ModelServer } from '@prbot/test-support';
import { cassetteScript, openaiModels } from './helpers.ts';

/**
 * A deployment's world on disk and in Redis that outlives its runtimes: a key prefix, real bare
 * git remotes (one per name, each its own PRD), a local PR directory and a work directory. A
 * test writes configs over it and opens runtimes on them, as an operator restarts processes.
 */
export interface ReposWorld {
  dir: string;
  prefix: string;
  prDir: string;
  /** name → bare remote */
  remotes: Record<string, string>;
  /** The config every test shares (Redis, work directory, local forge, model server) with `extra` over it. */
  config(extra: Record<string, unknown>): Promise<LoadedConfig>;
  /** `env`: more of the process environment the runtime sees (a forge's token). */
  open(cfg: LoadedConfig, env?: Record<string, string>): Promise<Runtime>;
  cleanup(): Promise<void>;
}

export async function reposWorld(repos: Record<string, string[]>, server: ModelServer): Promise<ReposWorld> {
  const dir = await mkdtemp(path.join(tmpdir(), 'prbot-repos-'));
  await chmod(dir, 0o755); // the unprivileged test user must reach the slot worktrees
  const prefix = `{prbot-t${randomBytes(5).toString('hex')}}`;
  const remotes: Record<string, string> = {};
  for (const [name, gaps] of Object.entries(repos))
    remotes[name] = (await makeUpstream(await repoWithGaps(gaps), path.join(dir, 'remotes', name))).bare;
  const prDir = path.join(dir, 'prs');
  const runtimes: Runtime[] = [];
  let n = 0;
  const world: ReposWorld = {
    dir,
    prefix,
    prDir,
    remotes,
    async config(extra) {
      const raw = {
        redis: { url: TEST_REDIS_URL, prefix },
        workdir: path.join(dir, 'work'),
        records: { dir: path.join(dir, 'cycles') },
        forge: { kind: 'local', prDir },
        models: openaiModels(server),
        queues: Object.fromEntries(
          ['propose', 'apply', 'test', 'pr', 'events', 'produce'].map((q) => [
            q,
            { backoff: { delay: 50 }, ...(q === 'propose' ? { attempts: 1 } : {}) },
          ]),
        ),
        tests: { commands: [['node', '--test']] },
        policy: { coolDownMs: 0, noopCoolDownMs: 0 },
        log: { level: 'silent' },
        ...extra,
      };
      const file = path.join(dir, `prbot.config.${++n}.json`);
      await writeFile(file, JSON.stringify(raw, null, 2));
      return parseConfig(raw, file, {});
    },
    async open(cfg, env = {}) {
      const rt = await openRuntime(cfg, {
        role: 'worker',
        env: { PRBOT_TEST_KEY: 'k', ...env },
        log: createLogger(cfg.log.level, { pretty: false }),
      });
      runtimes.push(rt);
      return rt;
    },
    async cleanup() {
      await Promise.all(runtimes.map((r) => r.close().catch(() => {})));
      const r = await openRuntime(await world.config({ repo: { url: Object.values(remotes)[0]! } }), {
        role: 'client',
      });
      await waitReady(r.redis, TEST_REDIS_URL);
      await deleteMatching(r.redis, `${prefix}:*`);
      await r.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return world;
}

/** The demo cassette's one passing gap, and a second one `padScript` answers with a passing change. */
export const TRUNCATE =
  'Add a `truncate(text, max)` helper in src/truncate.js that shortens text to max characters with an ellipsis';
export const PAD = 'Add a `pad(text, n)` helper in src/pad.js';

/** The demo cassette's answers, plus one that passes for the `PAD` gap (the cassette has one passing gap only). */
export async function padScript(): Promise<ModelServer['script']> {
  const demo = await cassetteScript();
  const pad = JSON.stringify({
    summary: 'Adds pad().',
    files: [
      { path: 'src/pad.js', is_new: true, content: 'export function pad(text, n) {\n  return text.padEnd(n);\n}\n' },
    ],
  });
  return (req) => {
    const prompt = req.body.messages.map((m) => m.content).join('\n');
    return /Gap from [^\n]*pad\(text, n\)/.test(prompt) ? { content: pad } : demo(req);
  };
}

/** The producer CLI (`prbot produce|status|pause …`) on `configFile`, in a process of its own with only `env` added. */
export function producerCli(configFile: string, env: Record<string, string> = {}) {
  return (...args: string[]) =>
    execa(
      path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
      [path.join(REPO_ROOT, 'apps', 'producer', 'src', 'cli.ts'), ...args],
      {
        env: {
          PATH: process.env.PATH!,
          PRBOT_CONFIG: configFile,
          PRBOT_JOB_KEY: process.env.PRBOT_JOB_KEY!,
          PRBOT_TEST_KEY: 'k',
          ...env,
        },
        extendEnv: false,
        reject: false,
      },
    );
}
