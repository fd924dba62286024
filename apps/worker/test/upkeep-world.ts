// The world of the upkeep end-to-end tests (issue 25): one bot PR opened by a real cycle on the
// Gitea or GitHub stand-in or the local forge, and the people who push to its base and branch.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, expect } from 'vitest';
import { createLogger, type CycleRecord } from '@prbot/core';
import { createRuntime, QUEUE_NAMES, type Runtime } from '@prbot/pipeline';
import { git } from '@prbot/repo';
import {
  commitAll,
  createHarness,
  startGiteaServer,
  startGithubServer,
  startModelServer,
  type FakeForge,
  type Harness,
  type ModelServer,
} from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import type { UpkeepLine } from '@prbot/control';
import { startWorkers, type WorkerSet } from '../src/index.ts';
import { cassetteScript, openaiModels, repoWithGaps, runAll } from './helpers.ts';

export const TOKEN = 'upkp-0123456789abcdef-TOKEN';
export const GAP = 'Add a `truncate(text, max)` helper in src/truncate.js';
/** The current test's world (one at a time per file), torn down after each test. */
export const w: { h?: Harness; fake?: FakeForge; model?: ModelServer; workers?: WorkerSet } = {};

export function tearDownAfterEach(): void {
  afterEach(async () => {
    await w.workers?.close(2000);
    await w.h?.cleanup();
    await w.fake?.stop();
    await w.model?.close();
    w.h = w.fake = w.model = w.workers = undefined;
  });
}

export type Kind = 'gitea' | 'github' | 'local';

// The file a person adds on the base (the conflict), and the bot's re-proposed edit of it.
export const HUMAN_TRUNCATE =
  '// truncate: added on the base by a person.\n// It keeps the first max characters.\n// The bot is asked to add the ellipsis.\nexport function truncate(text, max) {\n  return text.slice(0, max);\n}\n';
export const BOT_EDIT = {
  search: '  return text.slice(0, max);',
  replace:
    "  if (text.length <= max) return text;\n  if (max <= 1) return '…'.slice(0, max);\n  return text.slice(0, max - 1) + '…';",
};

/** The demo answer for the gap; for a re-proposal (the conflict prompt), the same change made on the new base's file. */
async function modelScript() {
  const cassette = await cassetteScript();
  return (req: Parameters<ModelServer['script']>[0]) => {
    const prompt = req.body.messages.map((m) => m.content).join('\n');
    if (!prompt.includes('This cycle REBUILDS')) return cassette(req);
    const answer = {
      summary: 'Makes truncate() add an ellipsis, on the new base.',
      files: [
        { path: 'src/truncate.js', is_new: false, edits: [BOT_EDIT] },
        {
          path: 'test/truncate.test.js',
          is_new: true,
          content:
            "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { truncate } from '../src/truncate.js';\n\ntest('cuts with an ellipsis', () => {\n  assert.equal(truncate('hello world', 6), 'hello…');\n});\n",
        },
      ],
    };
    return { content: JSON.stringify(answer) };
  };
}

export interface World {
  rt: Runtime;
  branch: string;
  url: string;
  opened: CycleRecord;
}

/** A harness on the given forge with one bot PR opened by a real cycle. */
export async function withBotPr(kind: Kind, config: Record<string, unknown> = {}): Promise<World> {
  w.model = await startModelServer(await modelScript());
  const env = { FORGE_TOKEN: TOKEN, PRBOT_TEST_KEY: 'k' };
  const h = (w.h = await createHarness({
    repo: await repoWithGaps([GAP]),
    env,
    config: { models: openaiModels(w.model), ...config } as never,
  }));
  let rt = h.rt;
  if (kind !== 'local') {
    const fake = (w.fake = await (kind === 'gitea' ? startGiteaServer : startGithubServer)({
      owner: 'team',
      repo: 'app',
      token: TOKEN,
      bare: h.bare,
    }));
    const place = { owner: 'team', repo: 'app', tokenEnv: 'FORGE_TOKEN', remote: h.bare };
    const forge = kind === 'gitea' ? { kind, baseUrl: fake.url, ...place } : { kind, apiUrl: fake.url, ...place };
    const cfg = {
      ...h.cfg,
      forge: { ...h.cfg.forge, branchPrefix: 'bot/', draftPrefix: 'WIP: ', labels: [], timeoutMs: 5000, ...forge },
    } as typeof h.cfg;
    rt = createRuntime(cfg, { role: 'worker', env, log: createLogger('silent', { pretty: false }) });
    h.rt.close = ((orig) => async () => {
      await rt.close();
      await orig();
    })(h.rt.close.bind(h.rt));
  }
  const opened = (await runAll(rt)).records[0]!;
  expect(opened.outcome).toBe('ok');
  return { rt, branch: opened.branch!, url: opened.pr_url!, opened };
}

export async function head(branch: string): Promise<string | null> {
  const r = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], {
    cwd: w.h!.bare,
    okCodes: [1, 128],
  });
  return r.stdout.trim() || null;
}

/** A person commits on the base branch (main) and pushes. */
export async function baseMoves(file: string, content: string): Promise<string> {
  await writeFile(path.join(w.h!.checkout, file), content);
  return commitAll(w.h!.checkout, `a human changes ${file}`, true);
}

/** A person pushes a commit of their own onto the bot's branch. */
export async function humanCommitOn(branch: string): Promise<string> {
  const built = (await head(branch))!;
  const tree = (await git(['rev-parse', `${built}^{tree}`], { cwd: w.h!.bare })).stdout.trim();
  const who = {
    GIT_AUTHOR_NAME: 'Alice',
    GIT_AUTHOR_EMAIL: 'a@x',
    GIT_COMMITTER_NAME: 'Alice',
    GIT_COMMITTER_EMAIL: 'a@x',
  };
  const human = (
    await git(['commit-tree', tree, '-p', built, '-m', 'a human fix'], { cwd: w.h!.bare, env: who })
  ).stdout.trim();
  await git(['update-ref', `refs/heads/${branch}`, human, built], { cwd: w.h!.bare });
  return human;
}

/** prbot's comments on the PR, on whichever forge. */
export async function botComments(kind: Kind): Promise<string[]> {
  if (kind !== 'local') return w.fake!.comments.filter((c) => c.author === 'prbot-bot').map((c) => c.body);
  const dir = path.join(w.h!.dir, 'prs');
  const out: string[] = [];
  for (const f of (await readdir(dir)).filter((x) => x.endsWith('.json')))
    out.push(
      ...(
        (JSON.parse(await readFile(path.join(dir, f), 'utf8')) as { comments?: { body: string }[] }).comments ?? []
      ).map((c) => c.body),
    );
  return out;
}

export async function prState(kind: Kind): Promise<string> {
  if (kind !== 'local') return w.fake!.pulls[0]!.state;
  const dir = path.join(w.h!.dir, 'prs');
  const [f] = (await readdir(dir)).filter((x) => x.endsWith('.json'));
  return (JSON.parse(await readFile(path.join(dir, f!), 'utf8')) as { state: string }).state;
}

/** Comments are posted right after the outcome is recorded: wait for them (bounded by the test's timeout). */
export async function commentsReach(kind: Kind, n: number): Promise<string[]> {
  const end = Date.now() + 20_000;
  for (;;) {
    const c = await botComments(kind);
    if (c.length >= n) return c;
    if (Date.now() > end) throw new Error(`${c.length} comments, wanted ${n}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function upkeepLine(lines: UpkeepLine[] | undefined, branch: string): UpkeepLine {
  const l = (lines ?? []).find((x) => x.branch === branch);
  if (!l) throw new Error(`no upkeep line for ${branch}: ${JSON.stringify(lines)}`);
  return l;
}

export const startAll = (rt: Runtime) => (w.workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] }));
