import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { createForge } from '@prbot/forge';
import { CycleEnded, createLogger } from '@prbot/core';
import { git } from '@prbot/repo';
import { QUEUE_NAMES, stageJobId, stageRunner } from '@prbot/pipeline';
import {
  createHarness,
  startGiteaServer,
  startGithubServer,
  startGitHttpServer,
  startModelServer,
  type FakeForge,
  type FakeForgeOptions,
  type Harness,
  type ModelServer,
  type GitHttpServer,
  type GitHttpOptions,
  repoWithGaps,
} from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { startWorkers } from '../../src/workers.ts';
import { pr } from '../../src/stages/pr.ts';
import { cassetteScript, openaiModels, runAll, waitForOutcomes } from '../helpers.ts';

const TOKEN = 'gtea-0123456789abcdef-TOKEN';
let h: Harness | undefined;
let fake: FakeForge | undefined;
let model: ModelServer | undefined;
let gitHttp: GitHttpServer | undefined;

afterEach(async () => {
  await h?.cleanup();
  await fake?.stop();
  await model?.close();
  await gitHttp?.stop();
  h = fake = model = gitHttp = undefined;
});

type Kind = 'gitea' | 'github';

/** Resolves when `cond` holds: checked on every turn of the event loop's timers, bounded by the test's timeout. */
async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A harness whose forge is a loopback Gitea or GitHub API, pushing to the harness's bare remote. */
async function forgeHarness(kind: Kind, gaps: string[], extra: Record<string, unknown> = {}, token = TOKEN) {
  const { rt } = await forgeHarness2(kind, gaps, extra, token);
  return rt;
}

/** Also returns `variant`: the same system seen through another forge config or token. */
async function forgeHarness2(
  kind: Kind,
  gaps: string[],
  extra: Record<string, unknown> = {},
  token = TOKEN,
  fakeOpts: Partial<FakeForgeOptions> = {},
) {
  const repo = await repoWithGaps(gaps);
  model = await startModelServer(await cassetteScript());
  // The fake needs the bare repo, which the harness creates: start the harness first with a
  // placeholder URL, then point the runtime at the fake.
  const placeholder = { owner: 'team', repo: 'app', tokenEnv: 'FORGE_TOKEN' };
  h = await createHarness({ repo, config: { models: openaiModels(model) } });
  fake = await (kind === 'gitea' ? startGiteaServer : startGithubServer)({
    owner: 'team',
    repo: 'app',
    token: TOKEN,
    bare: h.bare,
    pageSize: 2,
    ...fakeOpts,
  });
  const forge =
    kind === 'gitea'
      ? { kind, baseUrl: fake.url, remote: h.bare, ...placeholder, ...extra }
      : { kind, apiUrl: fake.url, remote: h.bare, ...placeholder, ...extra };
  const cfg = {
    ...h.cfg,
    forge: {
      branchPrefix: 'bot/',
      draftPrefix: 'WIP: ',
      labels: ['prbot'],
      maxOpen: 5,
      maxPerHour: 10,
      limitRetryMs: 300_000,
      timeoutMs: 5000,
      ...forge,
    },
  } as typeof h.cfg;
  const env = { FORGE_TOKEN: token, PRBOT_TEST_KEY: 'k' };
  const { createRuntime } = await import('@prbot/pipeline');
  const rt = createRuntime(cfg, { role: 'worker', env, log: createLogger('silent', { pretty: false }) });
  const opened = [rt];
  const variant = (forgeExtra: Record<string, unknown>, tok = token) => {
    const c = { ...cfg, forge: { ...cfg.forge, ...forgeExtra } } as typeof cfg;
    const v = createRuntime(c, {
      role: 'worker',
      env: { ...env, FORGE_TOKEN: tok },
      log: createLogger('silent', { pretty: false }),
    });
    opened.push(v);
    return v;
  };
  h.rt.close = ((orig) => async () => {
    for (const x of opened) await x.close();
    await orig();
  })(h.rt.close.bind(h.rt));
  return { rt, variant };
}

describe.each<Kind>(['gitea', 'github'])('%s forge', (kind) => {
  it('runs a whole cycle, produce to ok, and opens one draft PR with the full body', async () => {
    const rt = await forgeHarness(kind, ['Add a `truncate(text, max)` helper in src/truncate.js']);
    const run = await runAll(rt);
    const r = run.records[0]!;
    expect(r.outcome).toBe('ok');
    expect(fake!.pulls).toHaveLength(1);
    const p = fake!.pulls[0]!;
    if (kind === 'gitea') {
      expect(p.title).toBe('WIP: Add a `truncate(text, max)` helper in src/truncate.js');
      expect(p.labels).toEqual([fake!.labels.find((l) => l.name === 'prbot')!.id]);
    } else {
      expect(p.draft).toBe(true);
      expect(p.title).toBe('Add a `truncate(text, max)` helper in src/truncate.js');
      expect(p.labels).toEqual(['prbot']);
    }
    expect(r.pr_url).toMatch(/\/pulls?\/1$/);
    expect(p.body).toContain('**Gap:** Add a `truncate(text, max)` helper');
    expect(p.body).toContain('Adds truncate() with tests.');
    expect(p.body).toContain('**Changes:** 2 added, 0 updated, 0 unchanged');
    expect(p.body).toMatch(/`node --test` \(test\): passed in \d+\.\d s/);
    expect(p.body).toContain('rung loop/test-model');
    expect(p.body).toContain(`<!-- prbot: cycle=${r.cycle_id} gap=${r.gap_id} mac=`);
    expect((await git(['rev-parse', `refs/heads/${p.head}`], { cwd: h!.bare })).stdout.trim()).toBe(r.bot_commit);
    const authHeaders = new Set(fake!.requests.map((q) => q.authorization));
    expect([...authHeaders]).toEqual([`token ${TOKEN}`]);
    expect(fake!.violations).toEqual([]);
    const stored = JSON.stringify([
      run.records,
      await Promise.all(QUEUE_NAMES.map(async (q) => (await rt.queues[q].getJobs()).map((j) => j.data))),
    ]);
    expect(stored).not.toContain(TOKEN);
  });

  it('a pr job killed after creating the PR and run again opens no second PR', async () => {
    const rt = await forgeHarness(kind, ['Add a `truncate(text, max)` helper in src/truncate.js']);
    let first = true;
    const crashing = stageRunner('pr', rt, defaultPolicy, async (ctx) => {
      try {
        await pr(ctx);
      } catch (err) {
        if (err instanceof CycleEnded && err.outcome === 'ok' && first) {
          first = false;
          throw new Error('worker died right after the PR was created');
        }
        throw err;
      }
    });
    const prWorker = new Worker('pr', crashing, { connection: rt.redis, prefix: rt.cfg.redis.prefix });
    const others = startWorkers(rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'events'] });
    try {
      const id = (await produce(rt, defaultPolicy)).lines[0]!.cycleId!;
      const [r] = await waitForOutcomes(rt, [id]);
      expect(first).toBe(false);
      expect(r!.outcome).toBe('ok');
      expect(fake!.pulls).toHaveLength(1);
      expect(fake!.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/pulls'))).toHaveLength(1);
    } finally {
      await prWorker.close();
      await others.close(2000);
    }
  });

  it('two 500s, then success: the pr queue retries and opens one PR', async () => {
    const rt = await forgeHarness(kind, ['Add a `truncate(text, max)` helper in src/truncate.js']);
    fake!.failNext('POST', '/pulls', 2, 500);
    const r = (await runAll(rt)).records[0]!;
    expect(r.outcome).toBe('ok');
    expect(fake!.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/pulls'))).toHaveLength(3);
    expect(fake!.pulls).toHaveLength(1);
    // GitHub: Octokit's retry plugin retries a 5xx once inside the attempt, then the pr queue retries.
    expect((await rt.queues.pr.getJob(stageJobId(r.cycle_id, 'pr')))!.attemptsMade).toBe(kind === 'gitea' ? 3 : 2);
  });

  it('401 ends in pr_failed whose reason names the problem and not the token', async () => {
    // The token is revoked after produce listed the PRs: the pr stage meets the 401.
    const { rt, variant } = await forgeHarness2(kind, ['Add a `truncate(text, max)` helper in src/truncate.js']);
    const revoked = variant({}, 'wrong-token-value-123');
    const r = (await runAll(revoked, { producer: rt })).records[0]!;
    expect(r.outcome).toBe('pr_failed');
    expect(r.reason).toMatch(/rejected the token \(HTTP 401\): check that FORGE_TOKEN holds a valid, unexpired token/);
    expect(r.reason).not.toContain('wrong-token-value-123');
    expect((await revoked.queues.pr.getJob(stageJobId(r.cycle_id, 'pr')))!.attemptsMade).toBe(1);
  });

  it('404 for an unknown repository: pr_failed says which settings to check', async () => {
    const { rt, variant } = await forgeHarness2(kind, ['Add a `truncate(text, max)` helper in src/truncate.js']);
    const r = (await runAll(variant({ repo: 'nope' }), { producer: rt })).records[0]!;
    expect(r.outcome).toBe('pr_failed');
    expect(r.reason).toMatch(/not found \(HTTP 404\): check forge\.owner and forge\.repo/);
  });

  it('produce with a bad token stops with the reason and enqueues nothing', async () => {
    const rt = await forgeHarness(kind, ['Add a `truncate(text, max)` helper in src/truncate.js'], {}, 'bad-token-xyz');
    await expect(produce(rt, defaultPolicy)).rejects.toThrow(
      /cannot list the bot's pull requests, so nothing was enqueued: .*HTTP 401.*FORGE_TOKEN/,
    );
    expect(await rt.queues.propose.count()).toBe(0);
  });

  it('a duplicate create is resolved to the existing PR (409 on Gitea, 422 on GitHub)', async () => {
    const rt = await forgeHarness(kind, ['x']);
    await git(['push', '--quiet', h!.bare, 'main:refs/heads/bot/dup'], { cwd: h!.checkout });
    const forge = createForge(rt.cfg, { FORGE_TOKEN: TOKEN }, rt.log);
    const draft = { branch: 'bot/dup', base: 'main', title: 'Dup', body: 'b', cycleId: 'c0000000000dup', labels: [] };
    const a = await forge.openDraft(draft);
    const b = await forge.openDraft(draft);
    expect(b.url).toBe(a.url);
    expect(fake!.pulls).toHaveLength(1);
    const statuses = fake!.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/pulls'));
    expect(statuses).toHaveLength(2);
  });
});

describe('what real forges refuse does not fail the cycle', () => {
  it('gitea: a token with write:repository only (no write:issue) opens the PR without the label; the record says why', async () => {
    const { rt } = await forgeHarness2('gitea', ['Add a `truncate(text, max)` helper in src/truncate.js'], {}, TOKEN, {
      scopes: ['write:repository'],
    });
    const r = (await runAll(rt)).records[0]!;
    expect(r.outcome).toBe('ok');
    expect(fake!.pulls).toHaveLength(1);
    expect(fake!.pulls[0]!.draft).toBe(true);
    expect(r.warnings?.join(' ')).toMatch(/labels not applied: .*HTTP 403.*write:issue/);
    expect(fake!.violations).toEqual([]);
  });

  it('github: a private repository without drafts gets a normal PR with the draft title prefix; record and body say so', async () => {
    const { rt } = await forgeHarness2('github', ['Add a `truncate(text, max)` helper in src/truncate.js'], {}, TOKEN, {
      private: true,
      draftsSupported: false,
    });
    const r = (await runAll(rt)).records[0]!;
    expect(r.outcome).toBe('ok');
    expect(r.reason).toMatch(/opened as a normal PR \(the forge refused a draft; marked by its title\)/);
    expect(r.warnings?.join(' ')).toMatch(/drafts on private repositories need GitHub Team or Enterprise/);
    expect(fake!.pulls[0]!).toMatchObject({
      draft: false,
      title: 'WIP: Add a `truncate(text, max)` helper in src/truncate.js',
    });
    expect(fake!.pulls[0]!.body).toContain('**Not a draft:**');
    expect(fake!.violations).toEqual([]);
  });
});

describe('gitea: limits and one PR per gap', () => {
  it('the open-PR limit delays the third cycle until one PR closes', async () => {
    const rt = await forgeHarness(
      'gitea',
      [
        'Add a `truncate(text, max)` helper',
        'Add a `reverse(text)` helper',
        'Make sure `capitalize` keeps the empty string',
      ],
      { maxOpen: 2, limitRetryMs: 400 },
    );
    // Three gaps that all pass their tests: reuse the truncate answer for each.
    const ok = (await cassetteScript())({
      at: 0,
      headers: {},
      body: { model: 'm', messages: [{ role: 'user', content: 'gap from docs/PRD.md: truncate(text, max)' }] },
    });
    model!.script = (req) => {
      const n = model!.requests.indexOf(req);
      const c = (ok as { content: string }).content
        .replaceAll('src/truncate.js', `src/t${n}.js`)
        .replaceAll('test/truncate.test.js', `test/t${n}.test.js`)
        .replaceAll('../src/truncate.js', `../src/t${n}.js`);
      return { content: c };
    };
    const workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    try {
      const ids = (await produce(rt, defaultPolicy)).lines.map((l) => l.cycleId!);
      // Two PRs open and the third cycle's pr job deferred (it moves between delayed and active every 400 ms).
      await waitFor(async () => fake!.pulls.length === 2 && (await rt.queues.pr.getDelayedCount()) === 1, 60_000);
      // Two more admission checks (each lists the bot's PRs on the forge) while the limit holds: still held back.
      const lists = () =>
        fake!.requests.filter((q) => q.method === 'GET' && q.path.includes('/pulls?state=all')).length;
      const seen = lists();
      await waitFor(() => lists() >= seen + 2, 30_000);
      expect(fake!.pulls).toHaveLength(2);
      const outcomes = await Promise.all(ids.map((id) => rt.redis.get(rt.keys.outcome(id))));
      expect(outcomes.filter(Boolean)).toHaveLength(2);
      fake!.close(1);
      const records = await waitForOutcomes(rt, ids, 30_000);
      expect(records.map((r) => r.outcome)).toEqual(['ok', 'ok', 'ok']);
      expect(fake!.pulls).toHaveLength(3);
    } finally {
      await workers.close(2000);
    }
  }, 180_000);

  it('produce skips a gap with an open bot PR; one closed unmerged is left out by default and retried when allowed, with the closing in the prompt', async () => {
    const rt = await forgeHarness('gitea', ['Add a `truncate(text, max)` helper in src/truncate.js']);
    const first = (await runAll(rt)).records[0]!;
    expect(first.outcome).toBe('ok');

    const again = await produce(rt, defaultPolicy);
    expect(again.lines).toEqual([
      expect.objectContaining({ action: 'awaiting_review', why: `awaiting review: ${first.pr_url}` }),
    ]);
    const listCalls = fake!.requests.filter((q) => q.method === 'GET' && q.path.includes('/pulls?state=all'));
    expect(listCalls.length).toBeGreaterThan(0);

    fake!.close(1);
    const byDefault = await produce(rt, defaultPolicy);
    expect(byDefault.lines[0]).toMatchObject({
      action: 'not_picked',
      why: expect.stringMatching(/closed unmerged .*retryClosedPRs/),
    });

    const optIn = { ...rt, cfg: { ...rt.cfg, policy: { ...rt.cfg.policy, retryClosedPRs: true } } };
    const retried = await runAll(optIn);
    expect(retried.records[0]!.outcome).toBe('ok');
    const prompt = model!.requests.at(-1)!.body.messages[1]!.content;
    expect(prompt).toContain(
      `A reviewer closed the bot's previous pull request for this gap without merging it: ${first.pr_url}`,
    );
    expect(prompt).toMatch(/Prior attempts on this gap \(newest first\):\n1\. .* ok: draft PR opened/);

    fake!.close(2, true);
    const merged = await produce(rt, defaultPolicy);
    expect(merged.lines[0]).toMatchObject({ action: 'merged', why: expect.stringMatching(/^merged: /) });
  });

  it('pushes over HTTP with the token in a header, never in a URL', async () => {
    const rt = await forgeHarness('gitea', ['Add a `truncate(text, max)` helper in src/truncate.js']);
    gitHttp = await startGitHttpServer(path.dirname(h!.bare), TOKEN);
    const httpRemote = `${gitHttp.url}/${path.basename(h!.bare)}`;
    const cfg = { ...rt.cfg, forge: { ...rt.cfg.forge, remote: httpRemote } } as typeof rt.cfg;
    const rt2 = { ...rt, cfg, forge: createForge(cfg, { FORGE_TOKEN: TOKEN }, rt.log) };
    const r = (await runAll(rt2)).records[0]!;
    expect(r.outcome).toBe('ok');
    expect((await git(['rev-parse', `refs/heads/${r.branch}`], { cwd: h!.bare })).stdout.trim()).toBe(r.bot_commit);
    expect(gitHttp.requests.some((q) => q.authorized && q.url.includes('git-receive-pack'))).toBe(true);
    expect(gitHttp.requests.every((q) => !q.url.includes(TOKEN))).toBe(true);
    const mirrorConfig = await readFile(path.join(rt.mirror.dir, 'config'), 'utf8');
    expect(mirrorConfig).not.toContain(TOKEN);
  });
});

/**
 * A cycle meeting a forge shortfall the doctor cannot see in advance (branch protection runs only
 * on a real push), or one that appeared after the start (a token revoked, write access taken away,
 * the repository archived): it ends pr_failed at once, its reason naming the cause and the fix,
 * after one push or one create: no retries against an answer that cannot change.
 */
describe.each<Kind>(['gitea', 'github'])(
  '%s: a refused push or PR ends the cycle once, named, without retries',
  (kind) => {
    const GAP = 'Add a `truncate(text, max)` helper in src/truncate.js';
    const pushes = () => gitHttp!.requests.filter((q) => q.url.includes('git-receive-pack')).length;

    /** Pushes over git's HTTP protocol to a server that refuses as `git` says; the pr queue has 4 attempts. */
    async function viaHttp(git: GitHttpOptions, fakeOpts: Partial<FakeForgeOptions> = {}) {
      const { rt } = await forgeHarness2(kind, [GAP], {}, TOKEN, fakeOpts);
      gitHttp = await startGitHttpServer(path.dirname(h!.bare), TOKEN, git);
      const cfg = {
        ...rt.cfg,
        forge: { ...rt.cfg.forge, remote: `${gitHttp.url}/${path.basename(h!.bare)}` },
        queues: { ...rt.cfg.queues, pr: { ...rt.cfg.queues.pr, attempts: 4 } },
      } as typeof rt.cfg;
      return { ...rt, cfg, forge: createForge(cfg, { FORGE_TOKEN: TOKEN }, rt.log) };
    }

    it('branch protection refuses the bot branch: pr_failed naming branch protection, one push', async () => {
      const message =
        kind === 'github'
          ? 'error: GH006: Protected branch update failed for refs/heads/bot/x.'
          : 'Gitea: branch bot/x is protected from force push';
      const rt = await viaHttp({ protect: { pattern: /^refs\/heads\/bot\//, message } });
      const r = (await runAll(rt)).records[0]!;
      expect(r.outcome).toBe('pr_failed');
      expect(r.reason).toMatch(
        /the forge refused the push of bot\/.*: a branch protection rule or push rule refused it .*fix: exempt the bot branches/,
      );
      expect(r.reason).toContain(message.split(' ')[0]!);
      expect(pushes()).toBe(2); // one push: the receive-pack advertisement and the pack
      expect(fake!.pulls).toHaveLength(0);
    });

    it('the token lost write access (read-only user, token without write, archived): pr_failed naming it, no retry', async () => {
      const message =
        kind === 'github' ? 'Write access to repository not granted.' : 'User permission denied for writing.';
      const rt = await viaHttp({ readOnly: { [TOKEN]: message } });
      const r = (await runAll(rt)).records[0]!;
      expect(r.outcome).toBe('pr_failed');
      expect(r.reason).toMatch(/the token has no write access to the repository .*fix: give the token write access/);
      expect(pushes()).toBe(1);
    });

    it('the repository was archived after start: pr_failed naming it, no retry', async () => {
      const message =
        kind === 'github' ? 'This repository was archived so it is read-only.' : `repo team/app is archived`;
      const rt = await viaHttp({ readOnly: { [TOKEN]: message } }, { archived: true });
      const r = (await runAll(rt)).records[0]!;
      expect(r.outcome).toBe('pr_failed');
      expect(r.reason).toMatch(/the repository is archived \(read-only\).*fix: unarchive/);
      expect(pushes()).toBe(1);
    });

    it('the token may push but not open PRs: pr_failed naming the scope or permission, one create', async () => {
      const limited =
        kind === 'github'
          ? {
              grant: {
                permissions: { contents: 'write', metadata: 'read', issues: 'write', pull_requests: 'read' },
              } as const,
            }
          : { scopes: ['read:repository', 'write:issue', 'read:user'] };
      // The git side takes this token's push; only the API refuses the PR.
      const rt = await viaHttp({}, limited as Partial<FakeForgeOptions>);
      const r = (await runAll(rt)).records[0]!;
      expect(r.outcome).toBe('pr_failed');
      expect(r.reason).toMatch(
        kind === 'github'
          ? /HTTP 403.*Resource not accessible by personal access token.*pull_requests=write/
          : /HTTP 403.*lacks the scope write:repository/,
      );
      expect(fake!.requests.filter((q) => q.method === 'POST' && /\/pulls$/.test(q.path.split('?')[0]!)).length).toBe(
        1,
      );
    });
  },
);
