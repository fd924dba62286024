import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '@prbot/config';
import { createLogger } from '@prbot/core';
import { deleteMatching, openRuntime, type Runtime } from '@prbot/pipeline';
import { commentPayload, deliverWebhook, TEST_REDIS_URL } from '@prbot/test-support';
import { createDashboard } from '../src/server.ts';
import type { WebhookActions } from '../src/webhooks.ts';

const SECRET = 'whsec-routing-0123456789';
let rt: Runtime | undefined;
let server: Server | undefined;
afterEach(async () => {
  server?.close();
  if (rt) {
    await deleteMatching(rt.redis, `${rt.cfg.redis.prefix}:*`);
    await rt.close();
  }
  rt = server = undefined;
});

/** A deployment over a Gitea repository and a GitHub one; each delivery's actions say whose view ran them. */
async function deployment() {
  const prefix = `{prbot-wr${randomBytes(4).toString('hex')}}`;
  const cfg = parseConfig(
    {
      redis: { url: TEST_REDIS_URL, prefix },
      models: { providers: { local: { kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1' } }, propose: ['local/m'] },
      repos: [
        {
          name: 'api',
          url: 'https://git.example.com/team/api.git',
          forge: { kind: 'gitea', baseUrl: 'https://git.example.com', owner: 'team', repo: 'api' },
        },
        {
          name: 'web',
          url: 'https://github.com/team/web.git',
          forge: { kind: 'github', owner: 'team', repo: 'web' },
        },
        { name: 'tools', url: '/srv/tools.git' },
      ],
    },
    '/x/prbot.config.json',
    {},
  );
  rt = await openRuntime(cfg, {
    role: 'service',
    env: { PRBOT_WEBHOOK_SECRET: SECRET },
    log: createLogger('silent', { pretty: false }),
  });
  const routed: string[] = [];
  const actions = (view: Runtime): WebhookActions => ({
    revise: async () => {
      routed.push(view.repo.name);
      return { enqueued: true, cycleId: 'c0000000000001' };
    },
    prClosed: async () => undefined,
    dashboardIssueEdited: async () => undefined,
  });
  server = createDashboard(rt, { auth: null, readOnly: false, secureCookies: false, webhooks: actions }).listen(
    0,
    '127.0.0.1',
  );
  await new Promise((r) => server!.once('listening', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`, routed };
}

const comment = (kind: 'gitea' | 'github', repo: string) => {
  const p = commentPayload(kind, { pr: 3, commentId: 7, author: 'reviewer', body: '@prbot rename it' }) as {
    repository: { full_name: string };
  };
  p.repository.full_name = repo;
  return p;
};
const send = (url: string, kind: 'gitea' | 'github', repo: string) =>
  deliverWebhook(url, {
    kind,
    event: 'issue_comment',
    eventType: 'pull_request_comment',
    payload: comment(kind, repo),
    secret: SECRET,
  });

describe('one webhook URL for every repository', () => {
  it('a delivery goes to the view of the repository its payload names, on the forge that sent it; any other answers 404 and runs nothing', async () => {
    const { url, routed } = await deployment();
    expect((await send(url, 'gitea', 'team/api')).status).toBe(202);
    expect((await send(url, 'github', 'Team/Web')).status).toBe(202);
    expect(routed).toEqual(['api', 'web']);
    // web lives on GitHub: a Gitea delivery naming it is not web's.
    const wrongForge = await send(url, 'gitea', 'team/web');
    expect(wrongForge).toMatchObject({ status: 404, body: { error: expect.stringMatching(/"team\/web" is not one/) } });
    const unknown = await send(url, 'github', 'team/nope');
    expect(unknown.status).toBe(404);
    expect(routed).toEqual(['api', 'web']);
  });
});
