import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '@prbot/config';
import { createLogger, cycleRecord, newCycleId } from '@prbot/core';
import { deleteMatching, openRuntime, recordOutcome, type Runtime } from '@prbot/pipeline';
import { TEST_REDIS_URL } from '@prbot/test-support';
import { createDashboard } from '../src/server.ts';

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

describe('the overview with many repositories', () => {
  it('names the repository of every recent cycle and narrows to one by ?repo=, which takes only configured names', async () => {
    const prefix = `{prbot-rf${randomBytes(4).toString('hex')}}`;
    const cfg = parseConfig(
      {
        redis: { url: TEST_REDIS_URL, prefix },
        models: { providers: { local: { kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1' } }, propose: ['local/m'] },
        repos: [
          { name: 'api', url: '/srv/api.git' },
          { name: 'web', url: '/srv/web.git' },
        ],
      },
      '/x/prbot.config.json',
      {},
    );
    rt = await openRuntime(cfg, { role: 'service', log: createLogger('silent', { pretty: false }) });
    const now = Date.now();
    const rec = (repo: string, text: string, i: number) =>
      cycleRecord({
        cycle_id: newCycleId(now - 1000 + i),
        repo,
        gap_id: `g00000000000${i}`,
        gap_text: text,
        gap_line: 3,
        outcome: 'ok',
        reason: 'seeded',
        stage: 'pr',
        started_at: new Date(now).toISOString(),
        ended_at: new Date(now).toISOString(),
        dry_run: false,
      });
    await recordOutcome(rt.records, rec('api', 'Add api thing', 1));
    await recordOutcome(rt.records, rec('web', 'Add web thing', 2));
    server = createDashboard(rt, { auth: null, readOnly: true, secureCookies: false }).listen(0, '127.0.0.1');
    await new Promise((r) => server!.once('listening', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const rows = async (q: string) => {
      const page = await (await fetch(`${url}/${q}`)).text();
      return [...page.matchAll(/<td data-repo="([^"]*)">[^<]*<\/td><td>[^<]*<\/td><td>([^<]*)<\/td>/g)].map((m) => [
        m[1],
        m[2],
      ]);
    };
    expect((await rows('')).sort()).toEqual([
      ['api', 'Add api thing'],
      ['web', 'Add web thing'],
    ]);
    expect(await rows('?repo=web')).toEqual([['web', 'Add web thing']]);
    // Not a configured name: the whole page, not an empty one, and the name is not echoed into it.
    const odd = await (await fetch(`${url}/?repo=${encodeURIComponent('<b>x</b>')}`)).text();
    expect(odd).not.toContain('<b>x</b>');
    expect((await rows('?repo=nope')).length).toBe(2);
    expect(await (await fetch(`${url}/`)).text()).toContain('data-testid="repo-filter"');
  });
});
