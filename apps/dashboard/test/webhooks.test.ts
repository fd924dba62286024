import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, cycleRecord } from '@prbot/core';
import { createRuntime, recordOutcome, type Runtime } from '@prbot/pipeline';
import { git, parsePrd } from '@prbot/repo';
import { prMarkerDefence, signedMarker, webhookRepoDefence } from '@prbot/forge';
import { defaultPolicy } from '@prbot/policy';
import {
  dashboardIssueDefence,
  produce,
  settledPrs,
  verifiesMarker,
  webhookBookkeeping,
  type ProduceReport,
} from '@prbot/control';
import {
  createHarness,
  deliverWebhook,
  repoWithGaps,
  startGiteaServer,
  startGithubServer,
  type FakeForge,
  type FakeForgeOptions,
  type Harness,
  commentPayload,
  issueEditedPayload,
  labeledPayload,
  prClosedPayload,
} from '@prbot/test-support';
import { createDashboard } from '../src/server.ts';
import { type WebhookActions, webhookDefences } from '../src/webhooks.ts';

type Kind = 'gitea' | 'github';
const TOKEN = 'forge-0123456789abcdef-TOKEN';
const SECRET = 'whsec-0123456789abcdef';
const GAP_TEXT = 'Add a `reverse(text)` helper in src/reverse.js';
const GAP_ID = (await parsePrd(`- [ ] ${GAP_TEXT} [bot-eligible]\n`))[0]!.id;

let h: Harness | undefined;
let fake: FakeForge | undefined;
const servers: Server[] = [];
const runtimes: Runtime[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) s.close();
  for (const r of runtimes.splice(0)) await r.close().catch(() => {});
  await h?.cleanup();
  await fake?.stop();
  h = fake = undefined;
});

/** A runtime whose forge is a spec-validating Gitea or GitHub stand-in, pushing to the harness's bare repo. */
async function world(
  kind: Kind,
  o: {
    dashboardIssue?: boolean;
    revise?: boolean;
    env?: Record<string, string>;
    fake?: Partial<FakeForgeOptions>;
  } = {},
) {
  h = await createHarness({
    repo: await repoWithGaps([GAP_TEXT]),
    config: {
      policy: { coolDownMs: 3_600_000, noopCoolDownMs: 3_600_000 },
      dashboardIssue: { enabled: o.dashboardIssue ?? false },
      revise: { enabled: o.revise ?? false },
    },
  });
  fake = await (kind === 'gitea' ? startGiteaServer : startGithubServer)({
    owner: 'team',
    repo: 'app',
    token: TOKEN,
    bare: h.bare,
    ...o.fake,
  });
  const common = {
    owner: 'team',
    repo: 'app',
    tokenEnv: 'FORGE_TOKEN',
    remote: h.bare,
    branchPrefix: 'bot/',
    draftPrefix: 'WIP: ',
    labels: [],
    maxOpen: 5,
    maxPerHour: 10,
    limitRetryMs: 300_000,
    timeoutMs: 5000,
  };
  const forge = kind === 'gitea' ? { kind, baseUrl: fake.url, ...common } : { kind, apiUrl: fake.url, ...common };
  const cfg = { ...h.cfg, forge } as typeof h.cfg;
  const env = { FORGE_TOKEN: TOKEN, PRBOT_WEBHOOK_SECRET: SECRET, PRBOT_JOB_KEY: process.env.PRBOT_JOB_KEY!, ...o.env };
  const rt = createRuntime(cfg, { role: 'worker', env, log: createLogger('silent', { pretty: false }) });
  runtimes.push(rt);
  return rt;
}

/** The dashboard server behind basic auth and read-only, as deployed beyond loopback. */
async function serve(rt: Runtime, webhooks?: WebhookActions): Promise<string> {
  const server = createDashboard(rt, {
    auth: { user: 'admin', password: 'pw' },
    readOnly: true,
    secureCookies: false,
    webhooks,
  }).listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((r) => server.once('listening', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function recorder() {
  const calls: [string, unknown][] = [];
  let failNext = 0;
  const actions: WebhookActions = {
    revise: async (input) => {
      calls.push(['revise', input]);
      if (failNext-- > 0) throw new Error('redis went away');
      return { enqueued: true, cycleId: 'c0000000000001' };
    },
    prClosed: async (e) => void calls.push(['prClosed', e]),
    dashboardIssueEdited: async (e) => void calls.push(['dashboardIssueEdited', e]),
  };
  return { calls, actions, failNext: (n: number) => (failNext = n) };
}

async function deliveryKeys(rt: Runtime): Promise<string[]> {
  return rt.redis.keys(`${rt.cfg.redis.prefix}:bot:webhook-delivery:*`);
}

/** Ends the cycle produce enqueued, as a stage would. */
async function end(
  rt: Runtime,
  line: ProduceReport['lines'][number] | { cycleId: string; gap: { id: string; text: string; line: number } },
  outcome: 'tests_failed' | 'ok',
): Promise<void> {
  const t = new Date(rt.clock()).toISOString();
  await recordOutcome(
    rt.records,
    cycleRecord({
      cycle_id: line.cycleId!,
      gap_id: line.gap.id,
      gap_text: line.gap.text,
      gap_line: line.gap.line,
      outcome,
      reason: 'test',
      stage: 'test',
      started_at: t,
      ended_at: t,
      dry_run: false,
    }),
  );
  await rt.queues.propose.obliterate({ force: true });
}

describe.each<Kind>(['gitea', 'github'])('%s webhooks', (kind) => {
  const comment = () =>
    commentPayload(kind, { pr: 1, commentId: 55, author: 'reviewer', body: '@prbot please rename it' });
  const event = 'issue_comment';
  const eventType = 'pull_request_comment';

  it('a bad or missing signature → 401 and nothing enqueued; a signed delivery passes basic auth and read-only', async () => {
    const rt = await world(kind);
    const rec = recorder();
    const url = await serve(rt, rec.actions);
    for (const bad of [
      { secret: 'not-the-secret' },
      {},
      { secret: SECRET, signature: 'sha256=' + '0'.repeat(64) },
      { secret: SECRET, signature: 'garbage' },
    ]) {
      const r = await deliverWebhook(`${url}/webhooks`, { kind, event, eventType, payload: comment(), ...bad });
      expect(r.status).toBe(401);
    }
    expect(rec.calls).toEqual([]);
    expect(await deliveryKeys(rt)).toEqual([]);
    expect(await rt.queues.propose.count()).toBe(0);

    const ok = await deliverWebhook(`${url}/webhooks`, { kind, event, eventType, payload: comment(), secret: SECRET });
    expect(ok.status).toBe(202);
    expect(rec.calls).toEqual([
      [
        'revise',
        {
          pr: 1,
          trigger: {
            kind: 'comment',
            commentId: 55,
            commentKind: 'issue',
            author: 'reviewer',
            body: '@prbot please rename it',
          },
          via: 'webhook',
        },
      ],
    ]);
    // The rest of the dashboard still asks for its password.
    expect((await fetch(`${url}/api/overview`)).status).toBe(401);
    // Signed but form-encoded: refused with what to change.
    const form = await deliverWebhook(`${url}/webhooks`, {
      kind,
      event,
      eventType,
      payload: comment(),
      secret: SECRET,
      contentType: 'application/x-www-form-urlencoded',
    });
    expect(form).toMatchObject({ status: 415, body: { error: expect.stringMatching(/application\/json/) } });
    if (kind === 'gitea') {
      // Forgejo's own header names.
      const fj = await deliverWebhook(`${url}/webhooks`, {
        kind,
        event: 'pull_request',
        eventType: 'pull_request_label',
        payload: labeledPayload(kind, { pr: 1, label: 'prbot:revise', actor: 'reviewer' }),
        secret: SECRET,
        forgejo: true,
      });
      expect(fj.status).toBe(202);
      expect(rec.calls.at(-1)).toEqual([
        'revise',
        { pr: 1, trigger: { kind: 'label', label: 'prbot:revise', actor: 'reviewer' }, via: 'webhook' },
      ]);
    }
  });

  it('without the secret in the environment every delivery is refused (503), signed or not', async () => {
    const rt = await world(kind, { env: { PRBOT_WEBHOOK_SECRET: '' } });
    const rec = recorder();
    const url = await serve(rt, rec.actions);
    const r = await deliverWebhook(`${url}/webhooks`, { kind, event, eventType, payload: comment(), secret: '' });
    expect(r).toMatchObject({ status: 503, body: { error: expect.stringMatching(/PRBOT_WEBHOOK_SECRET/) } });
    expect(rec.calls).toEqual([]);
  });

  it('positive control: with the secret requirement switched off (in this process only), a delivery signed with the empty secret is dispatched', async () => {
    const rt = await world(kind, { env: { PRBOT_WEBHOOK_SECRET: '' } });
    const rec = recorder();
    const url = await serve(rt, rec.actions);
    webhookDefences.secretRequired = false;
    let status: number;
    try {
      // Anyone can compute an HMAC keyed with the empty string.
      status = (await deliverWebhook(`${url}/webhooks`, { kind, event, eventType, payload: comment(), secret: '' }))
        .status;
    } finally {
      webhookDefences.secretRequired = true;
    }
    expect(status).toBe(202);
    expect(rec.calls.map(([name]) => name)).toEqual(['revise']);
  });

  it('the body cap: a signed body over webhooks.maxBodyBytes → 413, nothing dispatched; positive control: with the cap raised above it (config), the same body is dispatched', async () => {
    const rt = await world(kind);
    const payload = { ...(comment() as Record<string, unknown>), pad: 'x'.repeat(rt.cfg.webhooks.maxBodyBytes) };
    const d = { kind, event, eventType, payload, secret: SECRET };
    const rec = recorder();
    const url = await serve(rt, rec.actions);
    expect((await deliverWebhook(`${url}/webhooks`, d)).status).toBe(413);
    expect(rec.calls).toEqual([]);

    // The same runtime with the cap at its highest allowed value (25 MiB): the router reads it when built.
    const raised: Runtime = {
      ...rt,
      cfg: { ...rt.cfg, webhooks: { ...rt.cfg.webhooks, maxBodyBytes: 25 * 1024 * 1024 } },
    };
    const rec2 = recorder();
    const url2 = await serve(raised, rec2.actions);
    expect((await deliverWebhook(`${url2}/webhooks`, d)).status).toBe(202);
    expect(rec2.calls.map(([name]) => name)).toEqual(['revise']);
  });

  it("another repository's delivery answers 404 and enqueues nothing; positive control: with the repository filter switched off (in this process only), it is dispatched", async () => {
    const rt = await world(kind);
    const rec = recorder();
    const url = await serve(rt, rec.actions);
    const other = () => {
      const p = comment() as { repository: { full_name: string } };
      p.repository.full_name = 'team/other';
      return p;
    };
    const on = await deliverWebhook(`${url}/webhooks`, { kind, event, eventType, payload: other(), secret: SECRET });
    expect(on).toMatchObject({
      status: 404,
      body: { error: expect.stringMatching(/repository "team\/other" is not one this deployment serves/) },
    });
    expect(rec.calls).toEqual([]);
    webhookRepoDefence.sameRepo = false;
    let off: Awaited<ReturnType<typeof deliverWebhook>>;
    try {
      off = await deliverWebhook(`${url}/webhooks`, { kind, event, eventType, payload: other(), secret: SECRET });
    } finally {
      webhookRepoDefence.sameRepo = true;
    }
    expect(off.status).toBe(202);
    expect(rec.calls.map(([name]) => name)).toEqual(['revise']);
  });

  it('positive control: with the signature check switched off (in this process only), the same forged deliveries are dispatched', async () => {
    const rt = await world(kind);
    const rec = recorder();
    const url = await serve(rt, rec.actions);
    webhookDefences.signature = false;
    const statuses: number[] = [];
    try {
      for (const bad of [
        { secret: 'not-the-secret' },
        {},
        { secret: SECRET, signature: 'sha256=' + '0'.repeat(64) },
        { secret: SECRET, signature: 'garbage' },
      ]) {
        const r = await deliverWebhook(`${url}/webhooks`, { kind, event, eventType, payload: comment(), ...bad });
        statuses.push(r.status);
      }
    } finally {
      webhookDefences.signature = true;
    }
    expect(statuses).toEqual([202, 202, 202, 202]);
    expect(rec.calls.map(([name]) => name)).toEqual(['revise', 'revise', 'revise', 'revise']);
  });

  it('positive control: with the delivery claim switched off (in this process only), the same delivery twice is dispatched twice', async () => {
    const rt = await world(kind);
    const rec = recorder();
    const url = await serve(rt, rec.actions);
    const d = {
      kind,
      event,
      eventType,
      payload: comment(),
      secret: SECRET,
      deliveryId: 'f7a9c1de-0000-4000-8000-0000000000aa',
    };
    webhookDefences.deliveryOnce = false;
    try {
      expect((await deliverWebhook(`${url}/webhooks`, d)).status).toBe(202);
      expect((await deliverWebhook(`${url}/webhooks`, d)).status).toBe(202);
    } finally {
      webhookDefences.deliveryOnce = true;
    }
    expect(rec.calls).toHaveLength(2);
  });

  it('the same delivery twice → one dispatch; a dispatch that failed is dispatched again on redelivery', async () => {
    const rt = await world(kind);
    const rec = recorder();
    const url = await serve(rt, rec.actions);
    const d = {
      kind,
      event,
      eventType,
      payload: comment(),
      secret: SECRET,
      deliveryId: 'f7a9c1de-0000-4000-8000-000000000001',
    };
    expect((await deliverWebhook(`${url}/webhooks`, d)).status).toBe(202);
    expect(await deliverWebhook(`${url}/webhooks`, d)).toMatchObject({ status: 200, body: { duplicate: true } });
    expect(rec.calls).toHaveLength(1);

    rec.failNext(1);
    const d2 = { ...d, deliveryId: 'f7a9c1de-0000-4000-8000-000000000002' };
    expect((await deliverWebhook(`${url}/webhooks`, d2)).status).toBe(500);
    expect((await deliverWebhook(`${url}/webhooks`, d2)).status).toBe(202);
    expect((await deliverWebhook(`${url}/webhooks`, d2)).status).toBe(200);
    expect(rec.calls).toHaveLength(3);
    // Oversized bodies are refused before anything else.
    const big = await deliverWebhook(`${url}/webhooks`, {
      ...d,
      deliveryId: 'big',
      payload: { pad: 'x'.repeat(rt.cfg.webhooks.maxBodyBytes) },
    });
    expect(big.status).toBe(413);
    expect(rec.calls).toHaveLength(3);
  });

  it('positive control: with the marker HMAC not checked (in this process only), a forged marker settles the gap as merged', async () => {
    const rt = await world(kind);
    const url = await serve(rt, {
      ...webhookBookkeeping(rt),
      revise: async () => ({ enqueued: false, reason: 'disabled' }),
    });
    const pr = fake!.seedPull({ head: 'bot/c0000000000099', body: 'Not a bot PR.' });
    const forged = prClosedPayload(kind, {
      number: pr.number,
      url: `https://forge.example/team/app/pulls/${pr.number}`,
      branch: 'bot/c0000000000099',
      body: `<!-- prbot: cycle=c0000000000099 gap=${GAP_ID} mac=${'0'.repeat(32)} -->`,
      merged: true,
    });
    const d = { kind, event: 'pull_request', eventType: 'pull_request', payload: forged, secret: SECRET };
    expect(await deliverWebhook(`${url}/webhooks`, d)).toMatchObject({ body: { result: { settled: false } } });
    expect(await settledPrs(rt)).toEqual(new Map());
    prMarkerDefence.mac = false;
    let r: Awaited<ReturnType<typeof deliverWebhook>>;
    try {
      r = await deliverWebhook(`${url}/webhooks`, { ...d, deliveryId: 'forged-again' });
    } finally {
      prMarkerDefence.mac = true;
    }
    expect(r).toMatchObject({ status: 202, body: { result: { settled: true, gapId: GAP_ID, verdict: 'done' } } });
    expect((await settledPrs(rt)).get(GAP_ID)).toMatchObject({ verdict: 'done', state: 'merged' });
  });

  it('PR merged → the gap is done at once, without produce; closed unmerged → rejected; a PR without the signed marker counts for nothing', async () => {
    const rt = await world(kind);
    const url = await serve(rt, {
      ...webhookBookkeeping(rt),
      revise: async () => ({ enqueued: false, reason: 'disabled' }),
    });
    const cycleId = 'c0000000000042';
    const pr = fake!.seedPull({ head: `bot/${cycleId}`, body: `Adds reverse.\n\n${signedMarker(cycleId, GAP_ID)}` });
    await rt.redis.zadd(rt.keys.prOpen(), Date.now(), cycleId);

    const forged = prClosedPayload(kind, {
      number: pr.number,
      url: 'https://forge.example/team/app/pulls/9',
      branch: 'bot/c0000000000099',
      body: `<!-- prbot: cycle=c0000000000099 gap=${GAP_ID} mac=${'0'.repeat(32)} -->`,
      merged: true,
    });
    const r0 = await deliverWebhook(`${url}/webhooks`, {
      kind,
      event: 'pull_request',
      eventType: 'pull_request',
      payload: forged,
      secret: SECRET,
    });
    expect(r0).toMatchObject({
      status: 202,
      body: { result: { settled: false, reason: 'the PR body carries no valid prbot marker' } },
    });
    expect(await settledPrs(rt)).toEqual(new Map());

    const merged = prClosedPayload(kind, {
      number: pr.number,
      url: `https://forge.example/team/app/pulls/${pr.number}`,
      branch: pr.head,
      body: pr.body,
      merged: true,
    });
    const r = await deliverWebhook(`${url}/webhooks`, {
      kind,
      event: 'pull_request',
      eventType: 'pull_request',
      payload: merged,
      secret: SECRET,
    });
    expect(r).toMatchObject({
      status: 202,
      body: { event: 'pr_closed', result: { settled: true, gapId: GAP_ID, verdict: 'done' } },
    });
    expect((await settledPrs(rt)).get(GAP_ID)).toMatchObject({
      verdict: 'done',
      state: 'merged',
      via: 'webhook',
      cycleId,
    });
    // Its slot of forge.maxOpen is free again.
    expect(await rt.redis.zscore(rt.keys.prOpen(), cycleId)).toBeNull();

    // The forge agrees; produce then reads the same verdict (one bookkeeping, two triggers).
    fake!.close(pr.number, true);
    const report = await produce(rt, defaultPolicy);
    expect(report.lines).toMatchObject([{ gap: { id: GAP_ID }, action: 'merged' }]);
    expect(await rt.queues.propose.count()).toBe(0);

    const other = 'c0000000000043';
    const pr2 = fake!.seedPull({ head: `bot/${other}`, body: `x\n${signedMarker(other, 'g0123456789ab')}` });
    const closed = prClosedPayload(kind, {
      number: pr2.number,
      url: `https://forge.example/team/app/pulls/${pr2.number}`,
      branch: pr2.head,
      body: pr2.body,
      merged: false,
    });
    const r2 = await deliverWebhook(`${url}/webhooks`, {
      kind,
      event: 'pull_request',
      eventType: 'pull_request',
      payload: closed,
      secret: SECRET,
    });
    expect(r2).toMatchObject({
      status: 202,
      body: { result: { settled: true, gapId: 'g0123456789ab', verdict: 'rejected' } },
    });
    expect(fake!.violations).toEqual([]);
  });
});

describe.each<Kind>(['gitea', 'github'])('%s webhook → revise cycle', (kind) => {
  it("a writer's mention → one signed revise cycle (the entry point polling uses); the same delivery or the same comment again → no second; a reader → none", async () => {
    const rt = await world(kind, { revise: true });
    const url = await serve(rt); // the default actions: requestRevision, bookkeeping, dashboard issue
    const cycleId = 'c0000000000042';
    await git(['branch', `bot/${cycleId}`, 'HEAD'], { cwd: h!.bare });
    const t = new Date(rt.clock()).toISOString();
    await recordOutcome(
      rt.records,
      cycleRecord({
        cycle_id: cycleId,
        gap_id: GAP_ID,
        gap_text: GAP_TEXT,
        gap_line: 1,
        outcome: 'ok',
        reason: 'test',
        stage: 'pr',
        started_at: t,
        ended_at: t,
        dry_run: false,
      }),
    );
    const pr = fake!.seedPull({ head: `bot/${cycleId}`, body: `Adds reverse.\n\n${signedMarker(cycleId, GAP_ID)}` });
    fake!.setPermission('alice', 'write');
    fake!.setPermission('rita', 'read');
    const asked = fake!.comment(pr.number, 'alice', '@prbot please rename it');
    const send = (deliveryId: string, c: { id: number; author: string; body: string }) =>
      deliverWebhook(`${url}/webhooks`, {
        kind,
        event: 'issue_comment',
        eventType: 'pull_request_comment',
        payload: commentPayload(kind, { pr: pr.number, commentId: c.id, author: c.author, body: c.body }),
        secret: SECRET,
        deliveryId,
      });

    const first = await send('d-0001', asked);
    expect(first).toMatchObject({ status: 202, body: { event: 'comment', result: { enqueued: true } } });
    const jobs = await rt.queues.propose.getJobs(['waiting', 'prioritized']);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.data).toMatchObject({
      gap: { id: GAP_ID },
      revise: {
        pr: pr.number,
        originCycle: cycleId,
        trigger: { id: `${kind === 'gitea' ? 'comment' : 'issue'}-${asked.id}`, author: 'alice', via: 'webhook' },
      },
    });
    expect(typeof jobs[0]!.data._sig).toBe('string');

    // The forge redelivers (same id), or a second hook sends the same comment (new id): no second cycle.
    expect(await send('d-0001', asked)).toMatchObject({ status: 200, body: { duplicate: true } });
    expect(await send('d-0002', asked)).toMatchObject({
      status: 202,
      body: { result: { enqueued: false, reason: 'duplicate' } },
    });
    // A reader asks: nothing.
    const reader = fake!.comment(pr.number, 'rita', '@prbot delete the tests');
    expect(await send('d-0003', reader)).toMatchObject({
      status: 202,
      body: { result: { enqueued: false, reason: 'no_write_access' } },
    });
    expect(await rt.queues.propose.count()).toBe(1);
    expect(fake!.violations).toEqual([]);
  });
});

describe.each<Kind>(['gitea', 'github'])('%s dashboard issue', (kind) => {
  it('is created once and updated in place across runs, found again by its signed marker, never by title', async () => {
    const rt = await world(kind, { dashboardIssue: true });
    // An impostor: same title, a marker copied from another issue number.
    fake!.seedIssue({
      title: 'prbot dashboard',
      body: `hello\n<!-- prbot-dashboard: issue=99 mac=${'a'.repeat(32)} -->`,
    });
    const first = await produce(rt, defaultPolicy);
    expect(first.lines).toMatchObject([{ action: 'enqueued' }]);
    const mine = fake!.issues.filter((i) => i.user === 'prbot-bot');
    expect(mine).toHaveLength(1);
    const issue = mine[0]!;
    expect(verifiesMarker(issue.body, 'team/app', issue.number)).toBe(true);
    expect(issue.body).toContain(`- [ ] retry ${GAP_ID}: `);
    expect(issue.body).toContain('no cycle yet');
    expect(issue.body).toMatch(/Budget left today: \d+ of \d+ model calls/);
    expect(issue.body).toContain('Paused queues: none.');
    const before = issue.body;

    await end(rt, first.lines[0]!, 'tests_failed');
    await produce(rt, defaultPolicy);
    expect(fake!.issues.filter((i) => i.user === 'prbot-bot')).toHaveLength(1);
    expect(issue.body).not.toBe(before);
    expect(issue.body).toContain('last outcome: tests_failed');

    // prbot's own record lost: the issue is found again by its marker, not created twice.
    await rt.redis.del(rt.keys.dashboardIssue());
    await produce(rt, defaultPolicy);
    expect(fake!.issues.filter((i) => i.user === 'prbot-bot')).toHaveLength(1);
    expect(fake!.requests.filter((r) => r.method === 'POST' && /\/issues$/.test(r.path))).toHaveLength(1);
    expect(fake!.violations).toEqual([]);
  });

  it('positive control: with the signed marker switched off (in this process only: found by title, as before), the impostor is adopted', async () => {
    const rt = await world(kind, { dashboardIssue: true });
    const impostor = fake!.seedIssue({
      title: 'prbot dashboard',
      body: `hello\n<!-- prbot-dashboard: issue=99 mac=${'a'.repeat(32)} -->`,
    });
    dashboardIssueDefence.signedMarker = false;
    try {
      await produce(rt, defaultPolicy);
    } finally {
      dashboardIssueDefence.signedMarker = true;
    }
    // prbot wrote its dashboard into the impostor's issue and made none of its own.
    expect(fake!.issues.filter((i) => i.user === 'prbot-bot')).toHaveLength(0);
    expect(impostor.user).toBe('someone');
    expect(impostor.body).toContain(`- [ ] retry ${GAP_ID}: `);
  });

  it("a token without the issue permission: produce goes on, no issue is written, the forge's 403 is the reason", async () => {
    const fakeOpts: Partial<FakeForgeOptions> =
      kind === 'gitea'
        ? { scopes: ['write:repository', 'read:user'] }
        : { grant: { permissions: { contents: 'write', pull_requests: 'write', metadata: 'read' } } };
    const rt = await world(kind, { dashboardIssue: true, fake: fakeOpts });
    const report = await produce(rt, defaultPolicy);
    expect(report.lines).toMatchObject([{ action: 'enqueued' }]);
    expect(fake!.issues).toEqual([]);
    expect(fake!.requests.some((r) => /\/issues/.test(r.path) && r.status === 403)).toBe(true);
    const { updateDashboardIssueQuietly } = await import('@prbot/control');
    expect(await updateDashboardIssueQuietly(rt, { via: 'produce' })).toMatchObject({
      updated: false,
      reason: expect.stringMatching(/403/),
    });
  });

  it('ticking a retry box re-enqueues that gap once, past its cool-down; the box comes back unticked', async () => {
    const rt = await world(kind, { dashboardIssue: true });
    const first = await produce(rt, defaultPolicy);
    await end(rt, first.lines[0]!, 'tests_failed');
    // Cooling down for an hour: produce alone enqueues nothing.
    expect((await produce(rt, defaultPolicy)).lines).toMatchObject([{ action: 'cooling_down' }]);
    expect(await rt.queues.propose.count()).toBe(0);

    const issue = fake!.issues.find((i) => i.user === 'prbot-bot')!;
    fake!.editIssue(issue.number, issue.body.replace(`- [ ] retry ${GAP_ID}`, `- [x] retry ${GAP_ID}`));
    await produce(rt, defaultPolicy);
    const jobs = await rt.queues.propose.getJobs(['waiting', 'prioritized', 'delayed']);
    expect(jobs.map((j) => (j.data as { gap: { id: string } }).gap.id)).toEqual([GAP_ID]);
    expect(issue.body).toContain(`- [ ] retry ${GAP_ID}`);
    expect(issue.body).toMatch(new RegExp(`retry ${GAP_ID}: enqueued cycle c[0-9a-z]+`));

    // Once: the next runs see an unticked box and the cool-down again.
    const job = jobs[0]!;
    await end(
      rt,
      {
        cycleId: (job.data as { cycleId: string }).cycleId,
        gap: (job.data as { gap: { id: string; text: string; line: number } }).gap,
      },
      'tests_failed',
    );
    await produce(rt, defaultPolicy);
    await produce(rt, defaultPolicy);
    expect(await rt.queues.propose.count()).toBe(0);
    expect(fake!.violations).toEqual([]);
  });

  it('an issues-edited webhook honours pause and retry from a user with write access, and nothing from one without', async () => {
    const rt = await world(kind, { dashboardIssue: true });
    const writers = new Set(['maintainer']);
    const url = await serve(rt, {
      ...webhookBookkeeping(rt, { canWrite: async (login) => writers.has(login) }),
      revise: async () => ({ enqueued: false, reason: 'disabled' }),
    });
    const first = await produce(rt, defaultPolicy);
    await end(rt, first.lines[0]!, 'tests_failed');
    const issue = fake!.issues.find((i) => i.user === 'prbot-bot')!;
    const edited = (editor: string) =>
      deliverWebhook(`${url}/webhooks`, {
        kind,
        event: 'issues',
        eventType: 'issues',
        payload: issueEditedPayload(kind, { issue: issue.number, editor, body: issue.body }),
        secret: SECRET,
      });

    // Someone without write access ticks retry: nothing enqueued, and the issue says why.
    fake!.editIssue(issue.number, issue.body.replace(`- [ ] retry ${GAP_ID}`, `- [x] retry ${GAP_ID}`));
    expect((await edited('drive-by')).status).toBe(202);
    expect(await rt.queues.propose.count()).toBe(0);
    expect(issue.body).toContain('drive-by has no write access to team/app');
    expect(issue.body).toContain(`- [ ] retry ${GAP_ID}`);

    // A maintainer ticks pause: the stage queues pause, and the box becomes "resume bot".
    fake!.editIssue(issue.number, issue.body.replace('- [ ] pause bot', '- [x] pause bot'));
    const r = await edited('maintainer');
    expect(r).toMatchObject({ status: 202, body: { result: { updated: true, requests: ['pause bot'] } } });
    expect(await rt.queues.propose.isPaused()).toBe(true);
    expect(await rt.queues.pr.isPaused()).toBe(true);
    expect(issue.body).toContain('- [ ] resume bot');
    expect(issue.body).toContain('Paused queues: propose, apply, test, pr.');

    // prbot's own edit coming back as a webhook changes nothing.
    const writes = () => fake!.requests.filter((q) => q.method !== 'GET').length;
    const writesBefore = writes();
    expect(await edited('prbot-bot')).toMatchObject({ status: 202, body: { result: { updated: false } } });
    expect(writes()).toBe(writesBefore);

    // The maintainer ticks retry: enqueued once (pausing holds jobs, it does not refuse them).
    fake!.editIssue(
      issue.number,
      issue.body
        .replace(`- [ ] retry ${GAP_ID}`, `- [x] retry ${GAP_ID}`)
        .replace('- [ ] resume bot', '- [x] resume bot'),
    );
    expect(await edited('maintainer')).toMatchObject({
      status: 202,
      body: { result: { updated: true, requests: [`retry ${GAP_ID}`, 'resume bot'] } },
    });
    expect(await rt.queues.propose.count()).toBe(1);
    expect(await rt.queues.propose.isPaused()).toBe(false);
    expect(await edited('maintainer')).toMatchObject({ status: 202, body: { result: { updated: false } } });
    expect(await rt.queues.propose.count()).toBe(1);
    expect(fake!.violations).toEqual([]);
  });

  it("positive control: with the editor's write access not checked (in this process only), a drive-by's tick enqueues", async () => {
    const rt = await world(kind, { dashboardIssue: true });
    const url = await serve(rt, {
      ...webhookBookkeeping(rt, { canWrite: async () => false }),
      revise: async () => ({ enqueued: false, reason: 'disabled' }),
    });
    const first = await produce(rt, defaultPolicy);
    await end(rt, first.lines[0]!, 'tests_failed');
    const issue = fake!.issues.find((i) => i.user === 'prbot-bot')!;
    fake!.editIssue(issue.number, issue.body.replace(`- [ ] retry ${GAP_ID}`, `- [x] retry ${GAP_ID}`));
    dashboardIssueDefence.editorWriteAccess = false;
    try {
      const r = await deliverWebhook(`${url}/webhooks`, {
        kind,
        event: 'issues',
        eventType: 'issues',
        payload: issueEditedPayload(kind, { issue: issue.number, editor: 'drive-by', body: issue.body }),
        secret: SECRET,
      });
      expect(r.status).toBe(202);
    } finally {
      dashboardIssueDefence.editorWriteAccess = true;
    }
    expect(await rt.queues.propose.count()).toBe(1);
  });
});
