import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '@prbot/config';
import { createLogger, cycleRecord, newCycleId, type Outcome } from '@prbot/core';
import {
  acquireGapLocks,
  deleteMatching,
  keys,
  openRuntime,
  recordOutcome,
  type Runtime,
  writeDiscoveredSet,
} from '@prbot/pipeline';
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

async function twoRepos(): Promise<Runtime> {
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
  return openRuntime(cfg, { role: 'service', log: createLogger('silent', { pretty: false }) });
}

function seeded(repo: string, text: string, i: number, outcome: Outcome = 'ok') {
  const now = Date.now();
  return cycleRecord({
    cycle_id: newCycleId(now - 1000 + i),
    repo,
    gap_id: `g00000000000${i}`,
    gap_text: text,
    gap_line: 3,
    outcome,
    reason: 'seeded',
    stage: 'pr',
    started_at: new Date(now).toISOString(),
    ended_at: new Date(now).toISOString(),
    dry_run: false,
  });
}

async function serve(r: Runtime): Promise<string> {
  server = createDashboard(r, { auth: null, readOnly: true, secureCookies: false }).listen(0, '127.0.0.1');
  await new Promise((res) => server!.once('listening', res));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('the overview with many repositories', () => {
  it('names the repository of every recent cycle and narrows to one by ?repo=, which takes only configured names', async () => {
    rt = await twoRepos();
    await recordOutcome(rt.records, seeded('api', 'Add api thing', 1));
    await recordOutcome(rt.records, seeded('web', 'Add web thing', 2));
    const url = await serve(rt);
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

  it('/metrics splits outcomes and cycles in flight by repository; the unlabelled totals stay the sums', async () => {
    rt = await twoRepos();
    const views = await rt.views();
    await recordOutcome(rt.records, seeded('api', 'Add api thing', 1));
    await recordOutcome(rt.records, seeded('api', 'Fix api bug', 2, 'tests_failed'));
    const once = seeded('web', 'Add web thing', 3);
    await recordOutcome(rt.records, once);
    // Recorded twice (a re-run): counted once, by repository as in the total.
    await recordOutcome(rt.records, once);
    const web = views.get('web')!;
    await acquireGapLocks(web.redis, web.keys, [
      { gapId: 'g1', cycleId: 'c1' },
      { gapId: 'g2', cycleId: 'c2' },
    ]);
    const text = await (await fetch(`${await serve(rt)}/metrics`)).text();
    const series = (name: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`))
        .sort();
    expect(series('prbot_repo_outcomes_total')).toEqual([
      'prbot_repo_outcomes_total{repo="api",outcome="ok"} 1',
      'prbot_repo_outcomes_total{repo="api",outcome="tests_failed"} 1',
      'prbot_repo_outcomes_total{repo="web",outcome="ok"} 1',
    ]);
    expect(series('prbot_repo_cycles_in_flight')).toEqual([
      'prbot_repo_cycles_in_flight{repo="api"} 0',
      'prbot_repo_cycles_in_flight{repo="web"} 2',
    ]);
    expect(series('prbot_outcomes_total')).toEqual([
      'prbot_outcomes_total{outcome="ok"} 2',
      'prbot_outcomes_total{outcome="tests_failed"} 1',
    ]);
  });

  it('lists the discovered repositories, a drained one marked, and filters by their names', async () => {
    const prefix = `{prbot-rf${randomBytes(4).toString('hex')}}`;
    const cfg = parseConfig(
      {
        redis: { url: TEST_REDIS_URL, prefix },
        models: { providers: { local: { kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1' } }, propose: ['local/m'] },
        repos: [{ name: 'home', url: '/srv/home.git' }],
        discover: { forge: { kind: 'gitea', baseUrl: 'http://git.example', owner: 'team' } },
      },
      '/x/prbot.config.json',
      {},
    );
    rt = await openRuntime(cfg, { role: 'service', log: createLogger('silent', { pretty: false }) });
    const at = new Date().toISOString();
    const entry = (forgeRepo: string, state: 'served' | 'drained') =>
      ({ forgeRepo, base: 'main', via: 'topic', state, firstSeen: at, lastSeen: at }) as const;
    await writeDiscoveredSet(
      rt.redis,
      keys(prefix),
      new Map([
        ['team-api', entry('api', 'served')],
        ['team-web', entry('web', 'drained')],
      ]),
    );
    const page = await (await fetch(`${await serve(rt)}/`)).text();
    const card = /<div class="card" data-testid="discovered">(.*?)<\/div>/.exec(page)?.[1];
    expect(card).toBe(
      'discovered: <span data-discovered="team-api">team-api</span> · <span data-discovered="team-web">team-web <b>drained</b></span>',
    );
    expect(page).toContain('href="/?repo=team-web"');
  });
});
