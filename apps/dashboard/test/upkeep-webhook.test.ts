// Upkeep on a push to the base branch (issue 25): a verified `push` delivery (the forges' real
// payload shapes, specs/webhooks) runs the upkeep produce runs, at once; a push to another branch
// does nothing.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@prbot/core';
import { signedMarker } from '@prbot/forge';
import { createRuntime, gapHistory, type Runtime } from '@prbot/pipeline';
import { webhookBookkeeping } from '@prbot/control';
import {
  createHarness,
  deliverWebhook,
  githubWebhookProblem,
  repoWithGaps,
  startGiteaServer,
  startGithubServer,
  webhookFixture,
  type FakeForge,
  type Harness,
} from '@prbot/test-support';
import { createDashboard } from '../src/index.ts';

type Kind = 'gitea' | 'github';
const TOKEN = 'forge-0123456789abcdef-TOKEN';
const SECRET = 'whsec-0123456789abcdef';
let h: Harness | undefined;
let fake: FakeForge | undefined;
const servers: Server[] = [];
let rt: Runtime | undefined;

afterEach(async () => {
  for (const s of servers.splice(0)) s.close();
  await rt?.close().catch(() => {});
  await h?.cleanup();
  await fake?.stop();
  h = fake = rt = undefined;
});

function pushPayload(kind: Kind, ref: string): Record<string, unknown> {
  const p = webhookFixture(kind, 'push');
  const repository = { ...(p.repository as object), full_name: 'team/app', name: 'app' };
  return { ...p, ref, repository };
}

describe.each<Kind>(['gitea', 'github'])('%s: a push webhook runs upkeep', (kind) => {
  it('a push to the base branch closes an open bot PR whose gap left the PRD; a push elsewhere does nothing', async () => {
    h = await createHarness({ repo: await repoWithGaps(['Add a `reverse(text)` helper in src/reverse.js']) });
    fake = await (kind === 'gitea' ? startGiteaServer : startGithubServer)({
      owner: 'team',
      repo: 'app',
      token: TOKEN,
      bare: h.bare,
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
    rt = createRuntime({ ...h.cfg, forge } as typeof h.cfg, {
      role: 'worker',
      env: { FORGE_TOKEN: TOKEN, PRBOT_WEBHOOK_SECRET: SECRET, PRBOT_JOB_KEY: process.env.PRBOT_JOB_KEY! },
      log: createLogger('silent', { pretty: false }),
    });
    // A bot PR (signed marker) for a gap that is not in the PRD.
    const gone = 'g0123456789ab';
    fake.seedPull({ head: 'bot/old-gap-c0000001', body: `An old change.\n\n${signedMarker('c00000000001', gone)}` });
    const server = createDashboard(rt, {
      auth: { user: 'admin', password: 'pw' },
      readOnly: true,
      secureCookies: false,
      webhooks: { ...webhookBookkeeping(rt), revise: async () => ({ enqueued: false, reason: 'disabled' }) },
    }).listen(0, '127.0.0.1');
    servers.push(server);
    await new Promise((r) => server.once('listening', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;

    const elsewhere = pushPayload(kind, 'refs/heads/feature');
    if (kind === 'github') expect(githubWebhookProblem('push', elsewhere)).toBeNull();
    const ignored = await deliverWebhook(url, {
      kind,
      event: 'push',
      eventType: 'push',
      payload: elsewhere,
      secret: SECRET,
    });
    expect(ignored).toMatchObject({ status: 202, body: { event: 'push', result: { ran: false } } });
    expect(fake.pulls[0]!.state).toBe('open');

    const onBase = pushPayload(kind, 'refs/heads/main');
    if (kind === 'github') expect(githubWebhookProblem('push', onBase)).toBeNull();
    const r = await deliverWebhook(url, { kind, event: 'push', eventType: 'push', payload: onBase, secret: SECRET });
    expect(r).toMatchObject({
      status: 202,
      body: { event: 'push', result: { ran: true, lines: [{ branch: 'bot/old-gap-c0000001', action: 'closed' }] } },
    });
    expect(fake.pulls[0]!.state).toBe('closed');
    expect(fake.comments.filter((c) => c.author === 'prbot-bot').map((c) => c.body)).toEqual([
      expect.stringContaining('no longer in docs/PRD.md'),
    ]);
    expect((await gapHistory(rt.redis, rt.keys, gone, 5)).map((x) => x.outcome)).toEqual(['closed_unwanted']);
    expect(fake.violations).toEqual([]);
  });
});
