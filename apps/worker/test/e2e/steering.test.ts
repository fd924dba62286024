// Job data and forge data that steer where prbot pushes, tried for real against running workers:
// an unsigned `produce` job that asks for a wet run on a dry-run deployment, and a PR whose body
// carries a copied (genuinely signed) prbot marker but whose head is `main`, a human's branch or
// another bot branch, asked to revise by a writer. Nothing may move a branch prbot does not own.
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, gapId, type CycleRecord, type ModelInfo, type Proposal, type ProposeJob } from '@prbot/core';
import {
  createRuntime,
  jobKeyFrom,
  jobSignatureDefence,
  QUEUE_NAMES,
  signJob,
  stageJobId,
  type Runtime,
} from '@prbot/pipeline';
import { git } from '@prbot/repo';
import {
  createHarness,
  startGiteaServer,
  startModelServer,
  type FakeForge,
  type Harness,
  type ModelServer,
  repoWithGaps,
} from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produceDryRunDefence, requestRevision } from '@prbot/control';
import { reviseBranchDefence, revisionPushDefence } from '@prbot/forge';
import { startWorkers, type WorkerSet } from '../../src/workers.ts';
import { cassetteScript, openaiModels, runAll, waitForOutcomes } from '../helpers.ts';

const TOKEN = 'steer-0123456789abcdef-TOKEN';
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

const heads = async () =>
  (await git(['for-each-ref', '--format=%(refname:short) %(objectname)', 'refs/heads/'], { cwd: h!.bare })).stdout;

describe('an unsigned produce job cannot make a dry-run deployment push', () => {
  it('{dryRun: false} added straight to the produce queue → every cycle is still a dry run, no branch pushed', async () => {
    h = await createHarness({ repo: await repoWithGaps([GAP]), config: { dryRun: true } });
    const before = await heads();
    workers = startWorkers(h.rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    const job = await h.rt.queues.produce.add('produce', { dryRun: false });
    await expect.poll(async () => (await job.getState()) === 'completed', { timeout: 60_000 }).toBe(true);
    const ids = (await h.rt.queues.propose.getJobs(['waiting', 'prioritized', 'active', 'completed', 'delayed'])).map(
      (j) => (j.data as ProposeJob).cycleId,
    );
    expect(ids).toHaveLength(1);
    const [r] = await waitForOutcomes(h.rt, ids, 60_000);
    expect(await heads()).toBe(before);
    expect(r).toMatchObject({
      outcome: 'ok',
      dry_run: true,
      reason: expect.stringMatching(/^dry run: would push /),
      pr_url: null,
    });
  });
});

describe('positive control: the one-way dryRun is what keeps the deployment dry', () => {
  it("with a produce job's dryRun taken as given (switched off in this process only), {dryRun: false} pushes a branch", async () => {
    h = await createHarness({ repo: await repoWithGaps([GAP]), config: { dryRun: true } });
    const before = await heads();
    workers = startWorkers(h.rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    produceDryRunDefence.oneWay = false;
    let ids: string[];
    try {
      const job = await h.rt.queues.produce.add('produce', { dryRun: false });
      await expect.poll(async () => (await job.getState()) === 'completed', { timeout: 60_000 }).toBe(true);
      ids = (await h.rt.queues.propose.getJobs(['waiting', 'prioritized', 'active', 'completed', 'delayed'])).map(
        (j) => (j.data as ProposeJob).cycleId,
      );
    } finally {
      produceDryRunDefence.oneWay = true;
    }
    expect(ids).toHaveLength(1);
    const [r] = await waitForOutcomes(h.rt, ids, 60_000);
    expect(r).toMatchObject({ outcome: 'ok', dry_run: false });
    const after = await heads();
    expect(after).not.toBe(before);
    expect(after.split('\n').filter((l) => l.startsWith('bot/'))).toHaveLength(1);
  });
});

/** A Gitea stand-in with one real bot PR, opened by a cycle, and revise cycles on. */
async function withBotPr(): Promise<{ rt: Runtime; pr: number; branch: string; body: string }> {
  model = await startModelServer(await revisingModel());
  h = await createHarness({
    repo: await repoWithGaps([GAP]),
    config: { models: openaiModels(model), revise: { enabled: true } },
  });
  await git(['branch', 'release', 'main'], { cwd: h.bare });
  await git(['branch', 'alice/feature', 'main'], { cwd: h.bare });
  fake = await startGiteaServer({ owner: 'team', repo: 'app', token: TOKEN, bare: h.bare });
  const cfg = {
    ...h.cfg,
    forge: {
      ...h.cfg.forge,
      kind: 'gitea',
      baseUrl: fake.url,
      owner: 'team',
      repo: 'app',
      tokenEnv: 'FORGE_TOKEN',
      remote: h.bare,
      branchPrefix: 'bot/',
      draftPrefix: 'WIP: ',
      labels: ['prbot'],
      timeoutMs: 5000,
    },
  } as typeof h.cfg;
  const rt = createRuntime(cfg, {
    role: 'worker',
    env: { FORGE_TOKEN: TOKEN, PRBOT_TEST_KEY: 'k' },
    log: createLogger('silent', { pretty: false }),
  });
  h.rt.close = ((orig) => async () => {
    await rt.close();
    await orig();
  })(h.rt.close.bind(h.rt));
  const opened = (await runAll(rt)).records[0]!;
  expect(opened.outcome).toBe('ok');
  const pull = fake.pulls[0]!;
  return { rt, pr: pull.number, branch: pull.head, body: pull.body };
}

async function revisingModel() {
  const cassette = await cassetteScript();
  return (req: Parameters<ModelServer['script']>[0]) => {
    const prompt = req.body.messages.map((m) => m.content).join('\n');
    if (!prompt.includes('This cycle REVISES')) return cassette(req);
    return {
      content: JSON.stringify({
        summary: 'A revision.',
        files: [{ path: 'src/revised.js', is_new: true, content: 'export const revised = true;\n' }],
      }),
    };
  };
}

/**
 * A signed revise job, as requestRevision enqueues it (trigger: alice's comment), for `pr` from
 * `branch` at `head`, the gap taken from the cycle that opened the bot PR; returns its cycle id.
 */
async function enqueueSignedRevision(rt: Runtime, r: { pr: number; branch: string; head: string }): Promise<string> {
  const cycleId = `c${Date.now().toString(36).padStart(9, '0')}feedbeef`;
  const origin = (await rt.queues.propose.getJobs(['completed']))[0]!.data as ProposeJob;
  const data: ProposeJob = {
    cycleId,
    gap: origin.gap,
    baseCommit: r.head,
    createdAt: Date.now(),
    dryRun: false,
    notes: [],
    revise: {
      pr: r.pr,
      url: `http://x/pulls/${r.pr}`,
      branch: r.branch,
      originCycle: origin.cycleId,
      trigger: { kind: 'comment', id: 'issue-1', author: 'alice', via: 'webhook' },
      thread: [],
      threadOmitted: 0,
      lastDigest: null,
      revision: 1,
    },
  };
  await rt.queues.propose.add('propose', signJob('propose', data, jobKeyFrom(rt.env, rt.cfg.jobs.keyEnv)), {
    jobId: stageJobId(cycleId, 'propose'),
  });
  return cycleId;
}

describe('a copied prbot marker does not make a branch prbot’s', () => {
  it.each([
    ['main', 'the base branch'],
    ['release', 'a branch outside forge.branchPrefix'],
    ['alice/feature', "a human's branch"],
  ])(
    'a writer asks to revise a PR from %s (%s) carrying the bot PR’s marker → no cycle, nothing pushed',
    async (head) => {
      const { rt, body } = await withBotPr();
      fake!.setPermission('alice', 'write');
      const copy = fake!.seedPull({ head, base: head === 'main' ? 'release' : 'main', body, title: 'WIP: copied' });
      const asked = fake!.comment(copy.number, 'alice', '@prbot please tidy this up');
      const before = await heads();
      workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
      const res = await requestRevision(rt, {
        pr: copy.number,
        trigger: { kind: 'comment', commentId: asked.id, author: 'alice', body: asked.body },
        via: 'webhook',
      });
      if (res.enqueued) await waitForOutcomes(rt, [res.cycleId], 60_000);
      expect(await heads()).toBe(before);
      expect(res).toMatchObject({
        enqueued: false,
        reason: 'not_bot_pr',
        detail: expect.stringMatching(
          /revisions go to prbot's own branches only|the branch the cycle in the PR's marker pushed/,
        ),
      });
      expect(fake!.violations).toEqual([]);
    },
  );

  it('a copied marker on another bot/ branch (not the one the marked cycle pushed) → no cycle, nothing pushed', async () => {
    const { rt, body, branch } = await withBotPr();
    await git(['branch', 'bot/other-branch', branch], { cwd: h!.bare });
    fake!.setPermission('alice', 'write');
    const copy = fake!.seedPull({ head: 'bot/other-branch', body });
    const asked = fake!.comment(copy.number, 'alice', '@prbot one more change');
    const before = await heads();
    const res = await requestRevision(rt, {
      pr: copy.number,
      trigger: { kind: 'comment', commentId: asked.id, author: 'alice', body: asked.body },
      via: 'webhook',
    });
    expect(res).toMatchObject({
      enqueued: false,
      reason: 'not_bot_pr',
      detail: expect.stringMatching(/is not "bot\/.*", the branch the cycle in the PR's marker pushed/),
    });
    expect(await heads()).toBe(before);
  });

  it('the pr stage checks too: a signed revise job naming main (as an older producer would have enqueued) → pr_failed, main unmoved', async () => {
    const { rt, pr, branch } = await withBotPr();
    const main = (await git(['rev-parse', 'main'], { cwd: h!.bare })).stdout.trim();
    const opened = fake!.pulls[0]!;
    expect(opened.head).toBe(branch);
    const before = await heads();
    // What requestRevision enqueued for a copied marker on a PR from main: the PR's head is main's commit.
    workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    const cycleId = await enqueueSignedRevision(rt, { pr, branch: 'main', head: main });
    const [r] = await waitForOutcomes(rt, [cycleId], 60_000);
    expect(await heads()).toBe(before);
    expect(r).toMatchObject({
      outcome: 'pr_failed',
      reason: expect.stringMatching(
        /^guardrail: branch "main" is the base branch \(repo\.base\); revisions go to prbot's own branches only; nothing was pushed/,
      ),
    });
  });
});

describe('positive control: reviseBranchRefusal is what keeps a copied marker off main', () => {
  it("with the branch check switched off (in this process only), a writer's copied marker on a PR from main moves main", async () => {
    const { rt, body } = await withBotPr();
    fake!.setPermission('alice', 'write');
    const copy = fake!.seedPull({ head: 'main', base: 'release', body, title: 'WIP: copied' });
    const asked = fake!.comment(copy.number, 'alice', '@prbot please tidy this up');
    const main = (await git(['rev-parse', 'main'], { cwd: h!.bare })).stdout.trim();
    workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    reviseBranchDefence.check = false;
    try {
      const res = await requestRevision(rt, {
        pr: copy.number,
        trigger: { kind: 'comment', commentId: asked.id, author: 'alice', body: asked.body },
        via: 'webhook',
      });
      expect(res, JSON.stringify(res)).toMatchObject({ enqueued: true });
      if (!res.enqueued) return;
      const [r] = await waitForOutcomes(rt, [res.cycleId], 60_000);
      expect(r, JSON.stringify(r)).toMatchObject({ outcome: 'ok' });
    } finally {
      reviseBranchDefence.check = true;
    }
    const moved = (await git(['rev-parse', 'main'], { cwd: h!.bare })).stdout.trim();
    expect(moved).not.toBe(main);
    expect((await git(['ls-tree', '-r', '--name-only', 'main'], { cwd: h!.bare })).stdout).toContain('src/revised.js');
  });
});

/**
 * `revise.pr` names the PR a revision answers; the pr stage asks the forge, on the line before the
 * push, whether it is still open. A signed revise job whose PR a human closed after asking (or a
 * signed job kept and replayed later) must not push to that PR's branch.
 */
describe('positive control: the open-PR check is what keeps a revision off a closed PR', () => {
  const closedPrRevision = async () => {
    const { rt, pr, branch } = await withBotPr();
    const head = (await git(['rev-parse', `refs/heads/${branch}`], { cwd: h!.bare })).stdout.trim();
    fake!.close(pr);
    const now = () => fake!.comments.filter((c) => c.pull === pr && /revision 1 /.test(c.body));
    expect(now()).toEqual([]);
    // The answer on the PR is written after the outcome (by the events worker): wait for it a while.
    const replies = async () => {
      for (let i = 0; i < 100 && now().length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      return now();
    };
    workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    return { rt, pr, branch, head, replies };
  };

  it('on: a signed revise job for a PR closed since → pr_skipped_by_policy naming the closed PR, its branch unmoved', async () => {
    const { rt, pr, branch, head, replies } = await closedPrRevision();
    const before = await heads();
    const cycleId = await enqueueSignedRevision(rt, { pr, branch, head });
    const [r] = await waitForOutcomes(rt, [cycleId], 60_000);
    expect(r).toMatchObject({
      outcome: 'pr_skipped_by_policy',
      reason: `PR #${pr} is closed: the revision is not pushed`,
    });
    expect(await heads()).toBe(before);
    // The asker still hears why (every revise cycle answers on its PR).
    expect((await replies()).map((c) => c.body)).toEqual([
      expect.stringContaining('was not pushed: **pr_skipped_by_policy**'),
    ]);
  });

  it('with the check switched off (in this process only), the same job pushes its revision to the closed PR’s branch and answers there', async () => {
    const { rt, pr, branch, head, replies } = await closedPrRevision();
    revisionPushDefence.openPr = false;
    try {
      const cycleId = await enqueueSignedRevision(rt, { pr, branch, head });
      const [r] = await waitForOutcomes(rt, [cycleId], 60_000);
      expect(r, JSON.stringify(r)).toMatchObject({
        outcome: 'ok',
        reason: expect.stringMatching(/^revision 1 pushed to /),
      });
    } finally {
      revisionPushDefence.openPr = true;
    }
    const moved = (await git(['rev-parse', `refs/heads/${branch}`], { cwd: h!.bare })).stdout.trim();
    expect(moved).not.toBe(head);
    expect((await git(['ls-tree', '-r', '--name-only', branch], { cwd: h!.bare })).stdout).toContain('src/revised.js');
    expect(fake!.pulls.find((p) => p.number === pr)!.state).toBe('closed');
    expect((await replies()).map((c) => c.body)).toEqual([expect.stringContaining('revision 1 is pushed to')]);
  });
});

/**
 * `saved` is the model's answer an earlier attempt of a propose job kept in its job, re-used by a
 * retry without a model call. Nothing checks that answer but the signature over the whole job: a
 * propose job validly signed with its saved answer, then that answer swapped in Redis for one the
 * gap never asked for (an extra file), must not reach apply.
 */
describe('positive control: the job signature is what keeps a forged saved answer out', () => {
  const answer = (files: Proposal['files']): { proposal: Proposal; model: ModelInfo } => ({
    proposal: { summary: 'Adds truncate().', files },
    model: {
      rung: 'loop/test-model',
      usage: { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150 },
      usageEstimated: false,
      escalated: false,
      attempts: [{ rung: 'loop/test-model', ok: true, ms: 5 }],
    },
  });
  const truncate = {
    path: 'src/truncate.js',
    is_new: true,
    content:
      "export function truncate(text, max) {\n  return text.length <= max ? text : text.slice(0, max - 1) + '…';\n}\n",
  };
  const backdoor = { path: 'src/backdoor.js', is_new: true, content: 'export const backdoor = true;\n' };

  /** A signed propose job carrying a saved answer for the gap; Redis then holds it with `saved` forged. */
  const enqueueForgedSaved = async (): Promise<string> => {
    model = await startModelServer(await cassetteScript());
    h = await createHarness({ repo: await repoWithGaps([GAP]), config: { models: openaiModels(model) } });
    await h.rt.mirror.sync();
    const cycleId = `c${Date.now().toString(36).padStart(9, '0')}5a7ed000`;
    const data: ProposeJob = {
      cycleId,
      gap: { id: gapId(GAP), text: GAP, line: 1 },
      baseCommit: await h.rt.mirror.resolve('main'),
      createdAt: Date.now(),
      dryRun: false,
      notes: [],
    };
    const signed = signJob(
      'propose',
      { ...data, saved: answer([truncate]) },
      jobKeyFrom(h.rt.env, h.rt.cfg.jobs.keyEnv),
    );
    const forged = { ...signed, saved: answer([truncate, backdoor]) };
    workers = startWorkers(h.rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    await h.rt.queues.propose.add('propose', forged, { jobId: stageJobId(cycleId, 'propose') });
    return cycleId;
  };

  it('on: the propose job is refused (job signature invalid), no model call, nothing reaches apply, nothing pushed', async () => {
    const cycleId = await enqueueForgedSaved();
    const before = await heads();
    const [r] = await waitForOutcomes(h!.rt, [cycleId], 60_000);
    expect(r).toMatchObject({
      outcome: 'model_failed',
      reason: expect.stringMatching(/^job signature invalid: the job data was altered/),
    });
    expect(model!.requests).toHaveLength(0);
    expect(await h!.rt.queues.apply.getJob(stageJobId(cycleId, 'apply'))).toBeUndefined();
    expect(await heads()).toBe(before);
  });

  it('with verification switched off (in this process only), the forged saved answer is used without a model call and its file reaches the pushed bot commit', async () => {
    let r: CycleRecord | undefined;
    jobSignatureDefence.verify = false;
    try {
      const cycleId = await enqueueForgedSaved();
      [r] = await waitForOutcomes(h!.rt, [cycleId], 120_000);
    } finally {
      jobSignatureDefence.verify = true;
    }
    expect(r, JSON.stringify(r)).toMatchObject({ outcome: 'ok', dry_run: false });
    expect(model!.requests).toHaveLength(0);
    const tree = (await git(['ls-tree', '-r', '--name-only', r!.bot_commit!], { cwd: h!.bare })).stdout.split('\n');
    expect(tree).toContain('src/backdoor.js');
    expect((await git(['ls-remote', '--heads', h!.bare], { cwd: h!.bare })).stdout).toContain(r!.bot_commit!);
  });
});
