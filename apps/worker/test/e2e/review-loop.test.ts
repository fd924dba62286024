// The review loop as forges really deliver it (issue 29): every way a reviewer asks, on Gitea and
// GitHub, through `POST /webhooks` with the forges' real payloads (GitHub's recorded examples from
// @octokit/webhooks-examples; Gitea's built from its structs, specs/webhooks/README.md) and through
// produce's poll, against the spec-validating forge stand-ins and real pushes to a bare repository.
// One request is one cycle whatever path it takes; requests made while a cycle runs are queued and
// run after it, in order, each with its reply.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, cycleRecord, type CycleRecord, type ProposeJob } from '@prbot/core';
import {
  createRuntime,
  gapHistory,
  getRecord,
  QUEUE_NAMES,
  recordOutcome,
  stageJobId,
  type Runtime,
} from '@prbot/pipeline';
import { git } from '@prbot/repo';
import {
  createHarness,
  deliverWebhook,
  githubExample,
  startGiteaServer,
  startGithubServer,
  startModelServer,
  webhookFixture,
  type FakeForge,
  type Harness,
  type ModelServer,
} from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce, reviseQueueDefence, reviseRequestDefence } from '@prbot/control';
import { createDashboard } from '@prbot/dashboard';
import { startWorkers, type WorkerSet } from '../../src/workers.ts';
import { cassetteScript, openaiModels, repoWithGaps, runAll, waitForOutcomes } from '../helpers.ts';

type Kind = 'gitea' | 'github';
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const TOKEN = 'loop-0123456789abcdef-TOKEN';
const SECRET = 'whsec-loop-0123456789abcdef';
const REPO = 'team/app';
const GAP = 'Add a `truncate(text, max)` helper in src/truncate.js';

let h: Harness | undefined;
let fake: FakeForge | undefined;
let model: ModelServer | undefined;
let workers: WorkerSet | undefined;
const servers: Server[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) s.close();
  await workers?.close(2000);
  await h?.cleanup();
  await fake?.stop();
  await model?.close();
  h = fake = model = workers = undefined;
});

async function modelScript() {
  const cassette = await cassetteScript();
  let revisions = 0;
  return (req: Parameters<ModelServer['script']>[0]) => {
    const prompt = req.body.messages.map((m) => m.content).join('\n');
    if (!prompt.includes('This cycle REVISES')) return cassette(req);
    revisions++;
    const answer = {
      summary: `Revision ${revisions} as the reviewer asked.`,
      files: [
        {
          path: 'src/truncate.js',
          is_new: false,
          edits: [
            {
              search: 'export function truncate(text, max) {',
              replace: `export function truncate(text, max) {\n  // revised ${revisions}`,
            },
          ],
        },
      ],
    };
    return { content: JSON.stringify(answer) };
  };
}

/** A bot PR opened by a real cycle, the dashboard's webhook route (default actions) in front of the same Redis. */
async function world(kind: Kind, revise: Record<string, unknown> = {}) {
  model = await startModelServer(await modelScript());
  h = await createHarness({
    repo: await repoWithGaps([GAP]),
    config: { models: openaiModels(model), revise: { enabled: true, label: 'prbot:revise', ...revise } },
  });
  fake = await (kind === 'gitea' ? startGiteaServer : startGithubServer)({
    owner: 'team',
    repo: 'app',
    token: TOKEN,
    bare: h.bare,
  });
  const place = { owner: 'team', repo: 'app', tokenEnv: 'FORGE_TOKEN', remote: h.bare };
  const forge = kind === 'gitea' ? { kind, baseUrl: fake.url, ...place } : { kind, apiUrl: fake.url, ...place };
  const cfg = {
    ...h.cfg,
    forge: { ...h.cfg.forge, branchPrefix: 'bot/', draftPrefix: 'WIP: ', labels: ['prbot'], timeoutMs: 5000, ...forge },
  } as typeof h.cfg;
  const rt = createRuntime(cfg, {
    role: 'worker',
    env: { FORGE_TOKEN: TOKEN, PRBOT_TEST_KEY: 'k', PRBOT_WEBHOOK_SECRET: SECRET },
    log: createLogger('silent', { pretty: false }),
  });
  h.rt.close = ((orig) => async () => {
    await rt.close();
    await orig();
  })(h.rt.close.bind(h.rt));
  const opened = (await runAll(rt)).records[0]!;
  expect(opened.outcome).toBe('ok');
  const pr = fake.pulls[0]!.number;
  const server = createDashboard(rt, {
    auth: { user: 'admin', password: 'pw' },
    readOnly: true,
    secureCookies: false,
  }).listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
  const send = (d: { event: string; eventType?: string; payload: unknown; deliveryId?: string }) =>
    deliverWebhook(url, { kind, secret: SECRET, ...d });
  fake.setPermission('alice', 'write');
  fake.setPermission('bob', 'admin');
  return { rt, pr, opened, branch: fake.pulls[0]!.head, send };
}

// --- the forges' deliveries, from the vendored payloads --------------------------------------

/** A comment in the PR's conversation, or (Gitea) a reply in a review thread: Gitea sends both as issue_comment. */
function issueComment(kind: Kind, pr: number, c: { id: number; author: string; body: string }) {
  if (kind === 'gitea') {
    const p: Obj = webhookFixture('gitea', 'issue_comment-created');
    p.repository.full_name = REPO;
    p.issue.number = pr;
    p.is_pull = true;
    Object.assign(p.comment, { id: c.id, body: c.body });
    p.comment.user.login = c.author;
    p.sender.login = c.author;
    return { event: 'issue_comment', eventType: 'pull_request_comment', payload: p };
  }
  const p = githubExample('issue_comment.created');
  p.repository.full_name = REPO;
  p.issue.number = pr;
  p.issue.pull_request = {
    url: `https://api.github.example/repos/${REPO}/pulls/${pr}`,
    html_url: `https://github.example/${REPO}/pull/${pr}`,
    diff_url: `https://github.example/${REPO}/pull/${pr}.diff`,
    patch_url: `https://github.example/${REPO}/pull/${pr}.patch`,
  };
  Object.assign(p.comment, { id: c.id, body: c.body });
  p.comment.user.login = c.author;
  p.sender.login = c.author;
  return { event: 'issue_comment', payload: p };
}

/** GitHub: an inline comment or a reply in its thread (`in_reply_to_id`). */
function reviewComment(pr: number, c: { id: number; author: string; body: string; path?: string; inReplyTo?: number }) {
  const p = githubExample('pull_request_review_comment.created');
  p.repository.full_name = REPO;
  p.pull_request.number = pr;
  Object.assign(p.comment, { id: c.id, body: c.body, path: c.path ?? 'src/truncate.js' });
  if (c.inReplyTo !== undefined) p.comment.in_reply_to_id = c.inReplyTo;
  p.comment.user.login = c.author;
  p.sender.login = c.author;
  return { event: 'pull_request_review_comment', payload: p };
}

/** A submitted review. Gitea (services/webhook/notifier.go PullRequestReview) names neither the review nor its inline comments. */
function reviewSubmitted(
  kind: Kind,
  pr: number,
  r: { id: number; author: string; body: string; state: 'approve' | 'comment' | 'request_changes' },
) {
  if (kind === 'gitea') {
    const type = {
      approve: 'pull_request_review_approved',
      comment: 'pull_request_review_comment',
      request_changes: 'pull_request_review_rejected',
    }[r.state];
    const event = {
      approve: 'pull_request_approved',
      comment: 'pull_request_comment',
      request_changes: 'pull_request_rejected',
    }[r.state];
    const p: Obj = webhookFixture('gitea', 'pull_request-reviewed');
    p.repository.full_name = REPO;
    p.number = pr;
    p.pull_request.number = pr;
    p.sender.login = r.author;
    p.review = { type, content: r.body };
    return { event, eventType: type, payload: p };
  }
  const p = githubExample('pull_request_review.submitted');
  p.repository.full_name = REPO;
  p.pull_request.number = pr;
  Object.assign(p.review, {
    id: r.id,
    body: r.body,
    state: { approve: 'approved', comment: 'commented', request_changes: 'changes_requested' }[r.state],
  });
  p.review.user.login = r.author;
  p.sender.login = r.author;
  return { event: 'pull_request_review', payload: p };
}

function labeled(kind: Kind, pr: number, label: string, actor: string) {
  if (kind === 'gitea') {
    const p: Obj = webhookFixture('gitea', 'pull_request-label_updated');
    p.repository.full_name = REPO;
    p.number = pr;
    p.pull_request.number = pr;
    p.pull_request.labels = [{ ...p.pull_request.labels[0], name: label }];
    p.sender.login = actor;
    return { event: 'pull_request', eventType: 'pull_request_label', payload: p };
  }
  const p = githubExample('pull_request.labeled');
  p.repository.full_name = REPO;
  p.number = pr;
  p.pull_request.number = pr;
  p.label.name = label;
  p.sender.login = actor;
  return { event: 'pull_request', payload: p };
}

// --- what happened ------------------------------------------------------------------------

const botReplies = () => fake!.comments.filter((c) => c.author === 'prbot-bot');

async function repliesReach(n: number) {
  const end = Date.now() + 30_000;
  while (botReplies().length < n) {
    if (Date.now() > end)
      throw new Error(
        `${botReplies().length} replies, wanted ${n}: ${JSON.stringify(botReplies().map((c) => c.body.slice(0, 80)))}`,
      );
    await new Promise((r) => setTimeout(r, 25));
  }
  return botReplies();
}

async function proposeJobs(rt: Runtime): Promise<ProposeJob[]> {
  // Revise cycles only (the cycle that opened the PR ran through propose too).
  return (await rt.queues.propose.getJobs(['waiting', 'prioritized', 'delayed', 'active', 'completed']))
    .map((j) => j.data as ProposeJob)
    .filter((d) => d.revise);
}

/** The cycle a delivery or a poll started: from a webhook answer (a requestRevision result, or pollPr's list). */
function startedBy(answer: { status: number; body: Record<string, unknown> }): string {
  expect(answer.status).toBe(202);
  const r = answer.body.result as
    { enqueued?: boolean; cycleId?: string } | { result: { enqueued: boolean; cycleId?: string } }[];
  const one = Array.isArray(r) ? r.map((x) => x.result).find((x) => x.enqueued) : r;
  if (!one?.enqueued || !one.cycleId) throw new Error(`nothing started: ${JSON.stringify(answer.body)}`);
  return one.cycleId;
}

/** Ends a cycle as a stage would (outcome recorded, gap lock released), without running it. */
async function endWithoutRunning(rt: Runtime, cycleId: string) {
  const job = (await rt.queues.propose.getJob(stageJobId(cycleId, 'propose')))!;
  const d = job.data as ProposeJob;
  const t = new Date(rt.clock()).toISOString();
  await recordOutcome(
    rt.records,
    cycleRecord({
      cycle_id: cycleId,
      gap_id: d.gap.id,
      gap_text: d.gap.text,
      gap_line: d.gap.line,
      outcome: 'cycle_noop',
      reason: 'test',
      stage: 'apply',
      started_at: t,
      ended_at: t,
      dry_run: false,
    }),
  );
  await job.remove();
}

async function revisesOf(rt: Runtime, gapId: string): Promise<CycleRecord[]> {
  return (await gapHistory(rt.redis, rt.keys, gapId, 50)).filter((r) => r.kind === 'revise').reverse();
}

describe.each<Kind>(['gitea', 'github'])('%s: the review loop', (kind) => {
  it('every way a reviewer asks starts a cycle at once by webhook: conversation, inline comment, thread reply, review summaries, the label', async () => {
    const { rt, pr, send } = await world(kind, { maxRevisionsPerPr: 10 });
    const started: { way: string; cycle: string; trigger: string }[] = [];
    const take = async (way: string, answer: Promise<{ status: number; body: Record<string, unknown> }>) => {
      const cycle = startedBy(await answer);
      const job = (await rt.queues.propose.getJob(stageJobId(cycle, 'propose')))!;
      started.push({ way, cycle, trigger: (job.data as ProposeJob).revise!.trigger.id });
      await endWithoutRunning(rt, cycle);
    };

    const top = fake!.comment(pr, 'alice', '@prbot please reword the doc comment');
    await take('conversation', send(issueComment(kind, pr, top)));

    // A single inline comment: Gitea submits it as a review of its own with an empty body.
    const inline = fake!.comment(pr, 'alice', '@prbot use a named constant here', {
      kind: 'review',
      path: 'src/truncate.js',
    });
    const inlineId = kind === 'gitea' ? 0 : inline.id;
    await take(
      'inline comment',
      send(
        kind === 'gitea'
          ? reviewSubmitted(kind, pr, { id: inlineId, author: 'alice', body: '', state: 'comment' })
          : reviewComment(pr, inline),
      ),
    );

    // A reply in that comment's review thread: Gitea delivers it as an issue comment.
    const reply = fake!.comment(pr, 'bob', '@prbot and keep the old name as an alias', {
      kind: 'review',
      path: 'src/truncate.js',
      replyTo: inline.id,
    });
    await take(
      'thread reply',
      send(kind === 'gitea' ? issueComment(kind, pr, reply) : reviewComment(pr, { ...reply, inReplyTo: inline.id })),
    );

    // Review summaries: request changes and approve, each with a mention in its body.
    const rejected = fake!.review(pr, 'alice', 'Almost. @prbot please handle max < 1 too.', 'request_changes').review;
    await take('request changes', send(reviewSubmitted(kind, pr, { ...rejected, state: 'request_changes' })));
    const approved = fake!.review(pr, 'bob', 'LGTM once @prbot adds a test for the ellipsis.', 'approve').review;
    await take('approve', send(reviewSubmitted(kind, pr, { ...approved, state: 'approve' })));

    const p = fake!.pulls[0]!;
    if (kind === 'gitea') {
      fake!.labels.push({ id: 4242, name: 'prbot:revise' });
      p.labels.push(4242);
    } else p.labels.push('prbot:revise');
    await take('label', send(labeled(kind, pr, 'prbot:revise', 'alice')));

    const id = (k: 'issue' | 'review', n: number) => (kind === 'gitea' ? `comment-${n}` : `${k}-${n}`);
    expect(started.map((s) => [s.way, s.trigger])).toEqual([
      ['conversation', id('issue', top.id)],
      ['inline comment', id('review', inline.id)],
      ['thread reply', id('review', reply.id)],
      ['request changes', `summary-${rejected.id}`],
      ['approve', `summary-${approved.id}`],
      ['label', expect.stringMatching(/^label-prbot:revise-[0-9a-f]{12}-alice$/)],
    ]);
    // Each of them was claimed: produce's poll finds nothing left to start.
    expect((await produce(rt, defaultPolicy)).revisions).toEqual([]);
    expect(fake!.violations).toEqual([]);
  });

  it('review summaries and thread replies are also found by the poll (no webhook), each once', async () => {
    const { rt, pr } = await world(kind);
    const inline = fake!.comment(pr, 'carol', 'Why not slice?', { kind: 'review', path: 'src/truncate.js' });
    const reply = fake!.comment(pr, 'alice', '@prbot answer this: use slice', {
      kind: 'review',
      path: 'src/truncate.js',
      replyTo: inline.id,
    });
    const summary = fake!.review(pr, 'bob', '@prbot please also export it from the index', 'request_changes').review;
    const first = (await produce(rt, defaultPolicy)).revisions!;
    expect(first.map((r) => r.result)).toMatchObject([{ enqueued: true }, { enqueued: false, reason: 'queued' }]);
    const started = first[0]!.result as { cycleId: string };
    expect((await proposeJobs(rt)).map((j) => j.revise!.trigger.id)).toEqual([
      kind === 'gitea' ? `comment-${reply.id}` : `review-${reply.id}`,
    ]);
    await endWithoutRunning(rt, started.cycleId);
    // The next poll starts the queued summary (and judges nothing twice).
    expect((await produce(rt, defaultPolicy)).revisions).toEqual([]);
    expect((await proposeJobs(rt)).map((j) => j.revise!.trigger.id)).toEqual([`summary-${summary.id}`]);
    expect(fake!.violations).toEqual([]);
  });

  it("the label is found by the poll too: who put it on comes from the forge's events, a reader's label starts nothing, a writer's one cycle", async () => {
    const { rt, pr } = await world(kind);
    const before = [...fake!.pulls[0]!.labels];
    fake!.setPermission('mallory', 'read');
    fake!.label(pr, 'prbot:revise', 'mallory');
    expect((await produce(rt, defaultPolicy)).revisions!.map((r) => [r.label, r.result])).toEqual([
      [
        'prbot:revise',
        {
          enqueued: false,
          reason: 'no_write_access',
          detail: 'mallory has read access to the repository; revisions need write',
        },
      ],
    ]);
    expect((await produce(rt, defaultPolicy)).revisions).toEqual([]);
    // A writer puts it on (again): the newest event names them.
    fake!.label(pr, 'prbot:revise', 'alice');
    const [asked] = (await produce(rt, defaultPolicy)).revisions!;
    expect(asked).toMatchObject({ label: 'prbot:revise', result: { enqueued: true } });
    expect((await proposeJobs(rt)).map((j) => j.revise!.trigger)).toEqual([
      {
        kind: 'label',
        id: expect.stringMatching(/^label-prbot:revise-[0-9a-f]{12}-alice$/),
        author: 'alice',
        via: 'poll',
      },
    ]);
    // Taken off, as by the webhook path; the next poll starts nothing.
    expect(fake!.pulls[0]!.labels).toEqual(before);
    expect((await produce(rt, defaultPolicy)).revisions).toEqual([]);
    expect(fake!.violations).toEqual([]);
  });

  it('one comment seen by webhook, by poll and by redelivery makes exactly one cycle and one reply', async () => {
    const { rt, pr, opened, send } = await world(kind);
    // A reply inside a review thread: on Gitea the webhook calls it an issue comment, the API lists it under its review.
    const inline = fake!.comment(pr, 'carol', 'The doc comment is unclear.', {
      kind: 'review',
      path: 'src/truncate.js',
    });
    const reply = fake!.comment(pr, 'alice', '@prbot please say that max counts the ellipsis', {
      kind: 'review',
      path: 'src/truncate.js',
      replyTo: inline.id,
    });
    const delivery =
      kind === 'gitea' ? issueComment(kind, pr, reply) : reviewComment(pr, { ...reply, inReplyTo: inline.id });

    const cycle = startedBy(await send({ ...delivery, deliveryId: 'd-1' }));
    expect(await send({ ...delivery, deliveryId: 'd-1' })).toMatchObject({ status: 200, body: { duplicate: true } });
    // Gitea's "Redeliver" and a second hook send the same comment under a new delivery id.
    expect(await send({ ...delivery, deliveryId: 'd-2' })).toMatchObject({
      status: 202,
      body: { result: { enqueued: false, reason: 'duplicate' } },
    });
    // produce polls while the cycle waits, and again after it ended.
    expect((await produce(rt, defaultPolicy)).revisions).toEqual([]);
    workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    const [r] = await waitForOutcomes(rt, [cycle]);
    expect(r!.outcome).toBe('ok');
    await repliesReach(1);
    expect((await produce(rt, defaultPolicy)).revisions).toEqual([]);
    expect(await send({ ...delivery, deliveryId: 'd-3' })).toMatchObject({
      status: 202,
      body: { result: { enqueued: false, reason: 'duplicate' } },
    });

    const revises = await revisesOf(rt, opened.gap_id!);
    expect(revises.map((x) => x.cycle_id)).toEqual([cycle]);
    expect(botReplies()).toHaveLength(1);
    expect(await rt.queues.propose.getWaitingCount()).toBe(0);
    expect(fake!.violations).toEqual([]);
  });

  it('positive control: with the once-per-request claim switched off (in this process only), the same comment redelivered starts a second cycle', async () => {
    const { rt, pr, opened, send } = await world(kind);
    const asked = fake!.comment(pr, 'alice', '@prbot please say that max counts the ellipsis');
    const delivery = issueComment(kind, pr, asked);
    workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    reviseRequestDefence.claimOnce = false;
    let second: string;
    let first: string;
    try {
      first = startedBy(await send({ ...delivery, deliveryId: 'd-1' }));
      await waitForOutcomes(rt, [first]);
      // Gitea's "Redeliver": the same comment under a new delivery id.
      second = startedBy(await send({ ...delivery, deliveryId: 'd-2' }));
      await waitForOutcomes(rt, [second]);
    } finally {
      reviseRequestDefence.claimOnce = true;
    }
    expect(second).not.toBe(first);
    expect((await revisesOf(rt, opened.gap_id!)).map((x) => x.cycle_id).sort()).toEqual([first, second].sort());
  });

  it('two requests while a cycle runs: queued with a reply each, then two more cycles in order, each built on the last and each with its reply', async () => {
    const { rt, pr, opened, branch, send } = await world(kind);
    const first = fake!.comment(pr, 'alice', '@prbot first: reword the doc comment');
    const c1 = startedBy(await send(issueComment(kind, pr, first)));
    // The cycle holds the gap; two more requests arrive, one by webhook, one found by produce's poll.
    const second = fake!.comment(pr, 'bob', '@prbot second: mention the ellipsis');
    const r2 = await send(issueComment(kind, pr, second));
    expect(r2).toMatchObject({ status: 202, body: { result: { enqueued: false, reason: 'queued' } } });
    const third = fake!.review(pr, 'alice', '@prbot third: and a note on max < 1', 'request_changes').review;
    expect((await produce(rt, defaultPolicy)).revisions!.map((x) => x.result)).toMatchObject([
      { enqueued: false, reason: 'queued' },
    ]);
    const queued = (await rt.redis.lrange(rt.keys.reviseQueue(pr), 0, -1)).map(
      (x) => JSON.parse(x) as { cycleId: string; triggerId: string; revision: number },
    );
    expect(queued.map((q) => [q.triggerId, q.revision])).toEqual([
      [kind === 'gitea' ? `comment-${second.id}` : `issue-${second.id}`, 2],
      [`summary-${third.id}`, 3],
    ]);
    const waitingReplies = botReplies();
    expect(waitingReplies.map((c) => c.body)).toEqual([
      expect.stringContaining(
        '@bob your request is queued: revision 2 starts when the cycle now running on this pull request ends.',
      ),
      expect.stringContaining(
        '@alice your request is queued: revision 3 starts when the cycle now running on this pull request ends, after 1 request(s) queued before it.',
      ),
    ]);
    expect(waitingReplies.every((c) => !c.body.includes('@prbot'))).toBe(true);

    workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    const records = await waitForOutcomes(rt, [c1, ...queued.map((q) => q.cycleId)], 60_000);
    expect(records.map((r) => [r.outcome, r.revise_of?.revision])).toEqual([
      ['ok', 1],
      ['ok', 2],
      ['ok', 3],
    ]);
    // In order: each revision was built on the head the one before it pushed (fast-forwards).
    expect(records[0]!.base_commit).toBe(opened.bot_commit);
    expect(records[1]!.base_commit).toBe(records[0]!.bot_commit);
    expect(records[2]!.base_commit).toBe(records[1]!.bot_commit);
    expect((await git(['rev-parse', `refs/heads/${branch}`], { cwd: h!.bare })).stdout.trim()).toBe(
      records[2]!.bot_commit,
    );
    const replies = await repliesReach(5);
    expect(replies.slice(2).map((c) => c.body.split('\n')[1])).toEqual([
      expect.stringMatching(/^@alice revision 1 is pushed/),
      expect.stringMatching(/^@bob revision 2 is pushed/),
      expect.stringMatching(/^@alice revision 3 is pushed/),
    ]);
    expect(await rt.redis.llen(rt.keys.reviseQueue(pr))).toBe(0);
    expect(fake!.violations).toEqual([]);
  });

  it('a queued request whose start fails at the cycle end (the forge down) stays queued, and the next produce starts it', async () => {
    const { rt, pr, send } = await world(kind);
    const c1 = startedBy(await send(issueComment(kind, pr, fake!.comment(pr, 'alice', '@prbot first'))));
    expect((await send(issueComment(kind, pr, fake!.comment(pr, 'bob', '@prbot second')))).body.result).toMatchObject({
      reason: 'queued',
    });
    const [entry] = (await rt.redis.lrange(rt.keys.reviseQueue(pr), 0, -1)).map(
      (x) => JSON.parse(x) as { cycleId: string },
    );
    // The fault, for real: the forge answers 503 to every comment listing, which starting a request needs.
    fake!.failNext('GET', `/issues/${pr}/comments`, 1000, 503);
    workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    expect((await waitForOutcomes(rt, [c1]))[0]!.outcome).toBe('ok');
    await repliesReach(2); // "queued" and the first revision's
    expect(await rt.redis.llen(rt.keys.reviseQueue(pr))).toBe(1);
    expect(await rt.queues.propose.getJob(stageJobId(entry!.cycleId, 'propose'))).toBeUndefined();
    expect(
      fake!.requests.some(
        (q) =>
          q.path.startsWith(`/api/v1/repos/team/app/issues/${pr}/comments`) ||
          q.path.startsWith(`/repos/team/app/issues/${pr}/comments`),
      ),
    ).toBe(true);

    fake!.heal();
    await produce(rt, defaultPolicy);
    const [r2] = await waitForOutcomes(rt, [entry!.cycleId]);
    expect([r2!.outcome, r2!.revise_of?.revision, r2!.base_commit]).toEqual([
      'ok',
      2,
      (await getRecord(rt.redis, rt.keys, c1))!.bot_commit,
    ]);
    expect(await rt.redis.llen(rt.keys.reviseQueue(pr))).toBe(0);
    await repliesReach(3);
  });

  it('positive control: with the entry taken off the queue before its start (in this process only), a start that fails while the forge is down loses the request', async () => {
    const { rt, pr, send } = await world(kind);
    const c1 = startedBy(await send(issueComment(kind, pr, fake!.comment(pr, 'alice', '@prbot first'))));
    expect((await send(issueComment(kind, pr, fake!.comment(pr, 'bob', '@prbot second')))).body.result).toMatchObject({
      reason: 'queued',
    });
    const [entry] = (await rt.redis.lrange(rt.keys.reviseQueue(pr), 0, -1)).map(
      (x) => JSON.parse(x) as { cycleId: string },
    );
    fake!.failNext('GET', `/issues/${pr}/comments`, 1000, 503);
    reviseQueueDefence.keepUntilStarted = false;
    try {
      workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
      expect((await waitForOutcomes(rt, [c1]))[0]!.outcome).toBe('ok');
      await repliesReach(2);
      // With the forge still down, a produce tries the start (as the cycle end does): its comment listing fails.
      await produce(rt, defaultPolicy).catch(() => null);
      fake!.heal();
      await produce(rt, defaultPolicy);
    } finally {
      reviseQueueDefence.keepUntilStarted = true;
    }
    // Lost: off the queue, no propose job, no record, and the next produce has nothing to start.
    expect(await rt.redis.llen(rt.keys.reviseQueue(pr))).toBe(0);
    expect(await rt.queues.propose.getJob(stageJobId(entry!.cycleId, 'propose'))).toBeUndefined();
    expect((await produce(rt, defaultPolicy)).revisions).toEqual([]);
    expect(await getRecord(rt.redis, rt.keys, entry!.cycleId)).toBeNull();
  });

  it('the revision cap counts queued requests', async () => {
    const { rt, pr, send } = await world(kind, { maxRevisionsPerPr: 2 });
    const asks = ['one', 'two', 'three'].map((w) => fake!.comment(pr, 'alice', `@prbot ${w}`));
    const results = [];
    for (const c of asks) results.push((await send(issueComment(kind, pr, c))).body.result);
    expect(results).toMatchObject([
      { enqueued: true },
      { enqueued: false, reason: 'queued' },
      { enqueued: false, reason: 'revision_cap' },
    ]);
    expect(await rt.redis.llen(rt.keys.reviseQueue(pr))).toBe(1);
    expect(botReplies().at(-1)!.body).toContain('already made 2 revision(s)');
  });

  it('mentions that are not mentions start nothing (code span, a quoted request); the request reaches the model without the text it quotes', async () => {
    const { rt, pr, send } = await world(kind);
    const inCode = fake!.comment(pr, 'alice', 'Note to self: write `@prbot rename it` to ask the bot.');
    const quoted = fake!.comment(
      pr,
      'bob',
      '> @prbot please rename `truncate` to `clip`\n\nI disagree: keep the name.',
    );
    const block = fake!.comment(pr, 'alice', '```\n@prbot rename it\n```');
    for (const c of [inCode, quoted, block])
      expect(await send(issueComment(kind, pr, c))).toMatchObject({
        status: 202,
        body: { result: { enqueued: false, reason: 'no_mention' } },
      });
    const summary = fake!.review(pr, 'bob', '> @prbot please rename it\n\nNo, keep it.', 'comment').review;
    expect((await send(reviewSubmitted(kind, pr, { ...summary, state: 'comment' }))).status).toBe(202);
    expect((await produce(rt, defaultPolicy)).revisions).toEqual([]);
    expect(await proposeJobs(rt)).toEqual([]);

    // A reply that quotes the old request and asks for something else: the model gets only the new ask.
    const asks = fake!.comment(
      pr,
      'alice',
      '> @prbot please rename `truncate` to `clip`\n\n@prbot no renaming; only fix the doc comment.',
    );
    const cycle = startedBy(await send(issueComment(kind, pr, asks)));
    const job = (await rt.queues.propose.getJob(stageJobId(cycle, 'propose')))!.data as ProposeJob;
    const trigger = job.revise!.thread.find((t) => t.trigger)!;
    expect(trigger.body).toBe('@prbot no renaming; only fix the doc comment.');
    expect(JSON.stringify(job.revise!.thread.filter((t) => t.trigger))).not.toContain('clip');
    expect(await getRecord(rt.redis, rt.keys, cycle)).toBeNull();
    expect(fake!.violations).toEqual([]);
  });
});
