// Upkeep of open bot PRs (issue 25) end to end, against the spec-validating Gitea and GitHub
// stand-ins and the local forge: the base moves → refreshed (rebuilt, tested, pushed with a lease,
// one comment); the change no longer applies → the configured action; a human commit on the branch
// → no rewrite, one comment; a push between prbot's read and its push → the lease refuses it; the
// gap removed → the PR closed once; produce twice → no second action; budget and PR limits count.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, createRuntime, gapHistory, git, QUEUE_NAMES, type CycleRecord, type Runtime } from '@prbot/core';
import { commitAll, createHarness, startGiteaServer, startGithubServer, startModelServer, type FakeForge, type Harness, type ModelServer } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce, type UpkeepLine } from '@prbot/control';
import { startWorkers, type WorkerSet } from '../../src/index.ts';
import { cassetteScript, openaiModels, repoWithGaps, runAll, waitForOutcomes } from '../helpers.ts';

const TOKEN = 'upkp-0123456789abcdef-TOKEN';
const GAP = 'Add a `truncate(text, max)` helper in src/truncate.js';
let h: Harness | undefined;
let fake: FakeForge | undefined;
let model: ModelServer | undefined;
let workers: WorkerSet | undefined;

afterEach(async () => {
  await workers?.close(2000);
  await h?.cleanup();
  await fake?.stop();
  await model?.close();
  h = fake = model = workers = undefined;
});

type Kind = 'gitea' | 'github' | 'local';

// The file a person adds on the base (the conflict), and the bot's re-proposed edit of it.
const HUMAN_TRUNCATE = '// truncate: added on the base by a person.\n// It keeps the first max characters.\n// The bot is asked to add the ellipsis.\nexport function truncate(text, max) {\n  return text.slice(0, max);\n}\n';
const BOT_EDIT = { search: '  return text.slice(0, max);', replace: "  if (text.length <= max) return text;\n  if (max <= 1) return '…'.slice(0, max);\n  return text.slice(0, max - 1) + '…';" };

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
        { path: 'test/truncate.test.js', is_new: true, content: "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { truncate } from '../src/truncate.js';\n\ntest('cuts with an ellipsis', () => {\n  assert.equal(truncate('hello world', 6), 'hello…');\n});\n" },
      ],
    };
    return { content: JSON.stringify(answer) };
  };
}

interface World {
  rt: Runtime;
  branch: string;
  url: string;
  opened: CycleRecord;
}

/** A harness on the given forge with one bot PR opened by a real cycle. */
async function withBotPr(kind: Kind, config: Record<string, unknown> = {}): Promise<World> {
  model = await startModelServer(await modelScript());
  const env = { FORGE_TOKEN: TOKEN, PRBOT_TEST_KEY: 'k' };
  h = await createHarness({ repo: await repoWithGaps([GAP]), env, config: { models: openaiModels(model), ...config } as never });
  let rt = h.rt;
  if (kind !== 'local') {
    fake = await (kind === 'gitea' ? startGiteaServer : startGithubServer)({ owner: 'team', repo: 'app', token: TOKEN, bare: h.bare });
    const place = { owner: 'team', repo: 'app', tokenEnv: 'FORGE_TOKEN', remote: h.bare };
    const forge = kind === 'gitea' ? { kind, baseUrl: fake.url, ...place } : { kind, apiUrl: fake.url, ...place };
    const cfg = { ...h.cfg, forge: { ...h.cfg.forge, branchPrefix: 'bot/', draftPrefix: 'WIP: ', labels: [], timeoutMs: 5000, ...forge } } as typeof h.cfg;
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

async function head(branch: string): Promise<string | null> {
  const r = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], { cwd: h!.bare, okCodes: [1, 128] });
  return r.stdout.trim() || null;
}

/** A person commits on the base branch (main) and pushes. */
async function baseMoves(file: string, content: string): Promise<string> {
  await writeFile(path.join(h!.checkout, file), content);
  return commitAll(h!.checkout, `a human changes ${file}`, true);
}

/** A person pushes a commit of their own onto the bot's branch. */
async function humanCommitOn(branch: string): Promise<string> {
  const built = (await head(branch))!;
  const tree = (await git(['rev-parse', `${built}^{tree}`], { cwd: h!.bare })).stdout.trim();
  const who = { GIT_AUTHOR_NAME: 'Alice', GIT_AUTHOR_EMAIL: 'a@x', GIT_COMMITTER_NAME: 'Alice', GIT_COMMITTER_EMAIL: 'a@x' };
  const human = (await git(['commit-tree', tree, '-p', built, '-m', 'a human fix'], { cwd: h!.bare, env: who })).stdout.trim();
  await git(['update-ref', `refs/heads/${branch}`, human, built], { cwd: h!.bare });
  return human;
}

/** prbot's comments on the PR, on whichever forge. */
async function botComments(kind: Kind): Promise<string[]> {
  if (kind !== 'local') return fake!.comments.filter((c) => c.author === 'prbot-bot').map((c) => c.body);
  const dir = path.join(h!.dir, 'prs');
  const out: string[] = [];
  for (const f of (await readdir(dir)).filter((x) => x.endsWith('.json'))) out.push(...((JSON.parse(await readFile(path.join(dir, f), 'utf8')) as { comments?: { body: string }[] }).comments ?? []).map((c) => c.body));
  return out;
}

async function prState(kind: Kind): Promise<string> {
  if (kind !== 'local') return fake!.pulls[0]!.state;
  const dir = path.join(h!.dir, 'prs');
  const [f] = (await readdir(dir)).filter((x) => x.endsWith('.json'));
  return (JSON.parse(await readFile(path.join(dir, f!), 'utf8')) as { state: string }).state;
}

/** Comments are posted right after the outcome is recorded: wait for them (bounded by the test's timeout). */
async function commentsReach(kind: Kind, n: number): Promise<string[]> {
  const end = Date.now() + 20_000;
  for (;;) {
    const c = await botComments(kind);
    if (c.length >= n) return c;
    if (Date.now() > end) throw new Error(`${c.length} comments, wanted ${n}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function upkeepLine(lines: UpkeepLine[] | undefined, branch: string): UpkeepLine {
  const l = (lines ?? []).find((x) => x.branch === branch);
  if (!l) throw new Error(`no upkeep line for ${branch}: ${JSON.stringify(lines)}`);
  return l;
}

const startAll = (rt: Runtime) => (workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] }));

describe.each<Kind>(['gitea', 'github', 'local'])('%s: upkeep of open bot PRs', (kind) => {
  it('the base moves without a conflict → rebuilt, tested, pushed with a lease, one comment; produce again → nothing more', async () => {
    const { rt, branch, opened } = await withBotPr(kind, { upkeep: { rebaseWhen: 'behind' } });
    const before = (await head(branch))!;
    const base = await baseMoves('README.md', '# demo\n\nThe base moved.\n');

    const first = await produce(rt, defaultPolicy);
    const line = upkeepLine(first.upkeep, branch);
    expect(line.action).toBe('refresh_enqueued');
    // Produce twice before the refresh ran: the gap's lock holds it; no second job.
    const second = await produce(rt, defaultPolicy);
    expect(upkeepLine(second.upkeep, branch).action).toBe('in_flight');
    expect(await rt.queues.test.getWaitingCount()).toBe(1);

    startAll(rt);
    const [r] = await waitForOutcomes(rt, [line.cycleId!]);
    expect(r!.outcome).toBe('refreshed');
    expect(r!.kind).toBe('refresh');
    expect(r!.refresh_of).toMatchObject({ branch, lease: before, mode: 'rebuild', base });
    expect(r!.tests.length).toBeGreaterThan(0);
    expect(r!.tests.every((t) => t.ok)).toBe(true);
    expect(r!.model?.usage.total_tokens).toBe(0); // a rebuild makes no model call
    // The new head is one prbot commit on the new base, holding both the base's change and the PR's.
    const now = (await head(branch))!;
    expect(now).toBe(r!.bot_commit);
    expect((await git(['rev-parse', `${now}^`], { cwd: h!.bare })).stdout.trim()).toBe(base);
    expect((await git(['show', `${now}:README.md`], { cwd: h!.bare })).stdout).toContain('The base moved.');
    expect((await git(['show', `${now}:src/truncate.js`], { cwd: h!.bare })).stdout).toContain('export function truncate');
    const comments = await commentsReach(kind, 1);
    expect(comments).toHaveLength(1);
    expect(comments[0]).toContain(`with a lease on ${before.slice(0, 12)}`);
    expect(comments[0]).toContain('Tests on the new base');
    expect((await gapHistory(rt.redis, rt.keys, opened.gap_id!, 5)).map((x) => x.outcome)).toContain('refreshed');

    // Up to date now: a third produce does nothing to it.
    const third = await produce(rt, defaultPolicy);
    expect(upkeepLine(third.upkeep, branch).action).toBe('current');
    expect(await head(branch)).toBe(now);
    expect(await botComments(kind)).toHaveLength(1);
    expect(fake?.violations ?? []).toEqual([]);
  });

  it('the change no longer applies → a propose cycle on the new base with the conflict as context, pushed with a lease', async () => {
    const { rt, branch } = await withBotPr(kind);
    const before = (await head(branch))!;
    // A person adds the same file on the base: an add/add conflict with the bot's change.
    const base = await baseMoves('src/truncate.js', HUMAN_TRUNCATE);
    const calls = (await rt.budget.today()).calls.used;
    startAll(rt);
    const report = await produce(rt, defaultPolicy);
    const line = upkeepLine(report.upkeep, branch);
    expect(line.action).toBe('repropose_enqueued');
    const [r] = await waitForOutcomes(rt, [line.cycleId!]);
    expect(r!.outcome).toBe('refreshed');
    expect(r!.refresh_of).toMatchObject({ mode: 'repropose', lease: before, base });
    expect(r!.model?.usage.total_tokens).toBeGreaterThan(0); // a model call, charged like any
    expect((await rt.budget.today()).calls.used).toBe(calls + 1);
    const prompt = model!.requests.at(-1)!.body.messages.map((m) => m.content).join('\n');
    expect(prompt).toContain('This cycle REBUILDS');
    expect(prompt).toContain('"src/truncate.js"');
    const now = (await head(branch))!;
    expect(now).toBe(r!.bot_commit);
    expect((await git(['rev-parse', `${now}^`], { cwd: h!.bare })).stdout.trim()).toBe(base);
    expect((await git(['show', `${now}:src/truncate.js`], { cwd: h!.bare })).stdout).toBe(HUMAN_TRUNCATE.replace(BOT_EDIT.search, BOT_EDIT.replace));
    expect(await commentsReach(kind, 1)).toHaveLength(1);
    expect(fake?.violations ?? []).toEqual([]);
  });

  it('a human commit on the branch → no rewrite, one comment (once)', async () => {
    const { rt, branch } = await withBotPr(kind, { upkeep: { rebaseWhen: 'behind' } });
    const human = await humanCommitOn(branch);
    await baseMoves('README.md', '# demo\n\nThe base moved.\n');
    const first = await produce(rt, defaultPolicy);
    expect(upkeepLine(first.upkeep, branch).action).toBe('someone_else_pushed');
    const second = await produce(rt, defaultPolicy);
    expect(upkeepLine(second.upkeep, branch).action).toBe('someone_else_pushed');
    expect(await rt.queues.test.count()).toBe(0);
    expect(await rt.queues.propose.count()).toBe(0);
    expect(await head(branch)).toBe(human);
    const comments = await botComments(kind);
    expect(comments).toHaveLength(1);
    expect(comments[0]).toContain('holds commits prbot did not push');
    expect(fake?.violations ?? []).toEqual([]);
  });

  it('a push that lands between prbot read the branch and its push → the lease refuses it, nothing clobbered, refresh_failed with the reason', async () => {
    const { rt, branch } = await withBotPr(kind, { upkeep: { rebaseWhen: 'behind' } });
    await baseMoves('README.md', '# demo\n\nThe base moved.\n');
    const line = upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch);
    expect(line.action).toBe('refresh_enqueued');
    // Upkeep read the branch; before the worker pushes, a person pushes to it.
    const human = await humanCommitOn(branch);
    startAll(rt);
    const [r] = await waitForOutcomes(rt, [line.cycleId!]);
    expect(r!.outcome).toBe('refresh_failed');
    expect(r!.reason).toMatch(/no longer at [0-9a-f]{12}, the commit prbot last pushed \(someone else pushed; nothing was overwritten\)/);
    expect(await head(branch)).toBe(human);
    const comments = await commentsReach(kind, 1);
    expect(comments[0]).toContain('did **not** change it: **refresh_failed**');
    expect(fake?.violations ?? []).toEqual([]);
  });

  it('the gap ticked off → the PR closed with one comment and its branch deleted, once; the gap back → the human-rejection rule', async () => {
    const { rt, branch, url, opened } = await withBotPr(kind);
    const prd = path.join(h!.checkout, 'docs', 'PRD.md');
    const text = await readFile(prd, 'utf8');
    await baseMoves('docs/PRD.md', text.replace('- [ ]', '- [x]'));
    const first = await produce(rt, defaultPolicy);
    const line = upkeepLine(first.upkeep, branch);
    expect(line.action).toBe('closed');
    expect(line.why).toContain('ticked off in docs/PRD.md');
    expect(line.why).toContain('deleted');
    expect(await prState(kind)).toBe('closed');
    expect(await head(branch)).toBeNull();
    const comments = await botComments(kind);
    expect(comments).toHaveLength(1);
    expect(comments[0]).toContain('ticked off');
    const history = await gapHistory(rt.redis, rt.keys, opened.gap_id!, 5);
    expect(history[0]).toMatchObject({ outcome: 'closed_unwanted', pr_url: url, kind: 'upkeep' });

    // Produce again: no second close, comment or record.
    const second = await produce(rt, defaultPolicy);
    expect((second.upkeep ?? []).filter((l) => l.branch === branch)).toEqual([]);
    expect(await botComments(kind)).toHaveLength(1);
    expect((await gapHistory(rt.redis, rt.keys, opened.gap_id!, 5)).filter((x) => x.outcome === 'closed_unwanted')).toHaveLength(1);

    // The line unticked: the gap is back, its PR was closed unmerged, and a "no" stands.
    await baseMoves('docs/PRD.md', text);
    const back = await produce(rt, defaultPolicy);
    expect(back.lines.find((l) => l.gap.id === opened.gap_id)).toMatchObject({ action: 'not_picked' });
    expect(fake?.violations ?? []).toEqual([]);
  });
});

describe('upkeep settings, budget and limits (gitea)', () => {
  it('a bot marker copied into a person\'s PR → that PR is neither closed nor rewritten', async () => {
    const { rt, branch, opened } = await withBotPr('gitea', { upkeep: { rebaseWhen: 'behind' } });
    const bot = fake!.pulls[0]!;
    // A person opens a PR from their own branch under the bot prefix, pasting the bot PR's body (marker and all).
    await git(['branch', 'bot/alices-work', 'main'], { cwd: h!.bare });
    const copy = fake!.seedPull({ head: 'bot/alices-work', body: bot.body, draft: false, title: 'Alice' });
    const prd = await readFile(path.join(h!.checkout, 'docs', 'PRD.md'), 'utf8');
    await baseMoves('docs/PRD.md', prd.replace('- [ ]', '- [x]'));
    const report = await produce(rt, defaultPolicy);
    expect(upkeepLine(report.upkeep, 'bot/alices-work')).toMatchObject({ action: 'left_alone', why: expect.stringContaining('a marker copied into another PR') });
    expect(upkeepLine(report.upkeep, branch).action).toBe('closed');
    expect(copy.state).toBe('open');
    expect(await head('bot/alices-work')).not.toBeNull();
    expect(opened.branch).toBe(branch);
    expect(fake!.violations).toEqual([]);
  });


  it('upkeep.onConflict "comment" → one comment, no cycle, the PR as it was', async () => {
    const { rt, branch } = await withBotPr('gitea', { upkeep: { onConflict: 'comment' } });
    const before = await head(branch);
    await baseMoves('src/truncate.js', 'export const truncate = (t) => t;\n');
    expect(upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch).action).toBe('conflict_commented');
    expect(upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch).action).toBe('conflict_commented');
    expect(await rt.queues.propose.count()).toBe(0);
    expect(await head(branch)).toBe(before);
    const comments = await botComments('gitea');
    expect(comments).toHaveLength(1);
    expect(comments[0]).toContain('no longer applies');
    expect(fake!.violations).toEqual([]);
  });

  it('at most upkeep.maxReproposals re-proposals per PR; then one comment, and no more cycles', async () => {
    const { rt, branch } = await withBotPr('gitea', { upkeep: { maxReproposals: 1 } });
    await baseMoves('src/truncate.js', HUMAN_TRUNCATE);
    startAll(rt);
    const first = upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch);
    expect(first.action).toBe('repropose_enqueued');
    expect((await waitForOutcomes(rt, [first.cycleId!]))[0]!.outcome).toBe('refreshed');
    await commentsReach('gitea', 1);
    const refreshed = await head(branch);
    // The person changes the very line the bot changed: a conflict again.
    await baseMoves('src/truncate.js', HUMAN_TRUNCATE.replace('return text.slice(0, max);', 'return String(text).slice(0, max);'));
    const calls = model!.requests.length;
    expect(upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch).action).toBe('reproposal_cap');
    expect(upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch).action).toBe('reproposal_cap');
    expect(model!.requests.length).toBe(calls);
    expect(await rt.queues.propose.getWaitingCount()).toBe(0);
    expect(await head(branch)).toBe(refreshed);
    const comments = await botComments('gitea');
    expect(comments).toHaveLength(2);
    expect(comments[1]).toContain('(upkeep.maxReproposals)');
    expect(fake!.violations).toEqual([]);
  });

  it('rebaseWhen "conflicted" (the default) leaves a PR that is only behind; "never" leaves a conflicted one', async () => {
    const { rt, branch } = await withBotPr('gitea');
    await baseMoves('README.md', '# demo\n\nThe base moved.\n');
    expect(upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch).action).toBe('behind');
    const never = createRuntime({ ...rt.cfg, upkeep: { ...rt.cfg.upkeep, rebaseWhen: 'never' } }, { role: 'worker', env: { FORGE_TOKEN: TOKEN, PRBOT_TEST_KEY: 'k' }, log: createLogger('silent', { pretty: false }) });
    try {
      await baseMoves('src/truncate.js', 'export const truncate = (t) => t;\n');
      expect((await produce(never, defaultPolicy)).upkeep ?? []).toEqual([]);
    } finally {
      await never.close();
    }
    expect(await rt.queues.test.count()).toBe(0);
    expect(await rt.queues.propose.count()).toBe(0);
  });

  it('a refresh whose tests fail on the new base → refresh_failed, the PR as it was, a comment saying so', async () => {
    const { rt, branch } = await withBotPr('gitea', { upkeep: { rebaseWhen: 'behind' } });
    const before = await head(branch);
    await baseMoves('test/broken.test.js', "import { test } from 'node:test';\ntest('the base broke this', () => { throw new Error('broken on the base'); });\n");
    startAll(rt);
    const line = upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch);
    expect(line.action).toBe('refresh_enqueued');
    const [r] = await waitForOutcomes(rt, [line.cycleId!]);
    expect(r!.outcome).toBe('refresh_failed');
    expect(r!.reason).toMatch(/^tests_failed: /);
    expect(await head(branch)).toBe(before);
    const comments = await commentsReach('gitea', 1);
    expect(comments[0]).toContain('did **not** change it: **refresh_failed**');
    expect(comments[0]).toContain(`The branch is as it was (${before!.slice(0, 12)})`);
    expect(fake!.violations).toEqual([]);
  });

  it('the budget: with the day spent, no refresh is enqueued', async () => {
    const { rt, branch } = await withBotPr('gitea', { upkeep: { rebaseWhen: 'behind' }, budget: { callsPerDay: 1 } });
    await baseMoves('README.md', '# demo\n\nThe base moved.\n');
    const line = upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch);
    expect(line.action).toBe('budget_exhausted');
    expect(await rt.queues.test.count()).toBe(0);
  });

  it('the PR limits: a refresh counts against forge.maxPerHour and waits, pushing nothing', async () => {
    const { rt, branch } = await withBotPr('gitea', { upkeep: { rebaseWhen: 'behind' }, forge: { maxPerHour: 1 } });
    const before = await head(branch);
    await baseMoves('README.md', '# demo\n\nThe base moved.\n');
    startAll(rt);
    const line = upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch);
    expect(line.action).toBe('refresh_enqueued');
    const end = Date.now() + 20_000;
    while ((await rt.queues.pr.getDelayedCount()) === 0) {
      if (Date.now() > end) throw new Error('the refresh never reached the PR limit');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await head(branch)).toBe(before);
    expect(await rt.redis.get(rt.keys.outcome(line.cycleId!))).toBeNull();
  });
});
