import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LoadedConfig } from '@prbot/config';
import {
  discoveryDefence,
  formatStatus,
  produceRepos,
  repoStatus,
  requestRevision,
  status,
  webhookBookkeeping,
} from '@prbot/control';
import { keys, QUEUE_NAMES, type Runtime } from '@prbot/pipeline';
import { defaultPolicy } from '@prbot/policy';
import {
  commitAll,
  startGiteaServer,
  startModelServer,
  startOwnerRouter,
  type FakeForge,
  type ModelServer,
} from '@prbot/test-support';
import { startWorkers } from '../../src/workers.ts';
import { cassetteScript, waitForOutcomes } from '../helpers.ts';
import { producerCli, reposWorld, type ReposWorld } from '../repos-world.ts';

const TRUNCATE =
  'Add a `truncate(text, max)` helper in src/truncate.js that shortens text to max characters with an ellipsis';
const PAD = 'Add a `pad(text, n)` helper in src/pad.js';
const TOKEN = 'gitea-tok-discover-0123456789-SECRET';

let world: ReposWorld | undefined;
let server: ModelServer | undefined;
const stops: (() => Promise<void>)[] = [];
const FAULT = process.env.PRBOT_FAULT;
afterEach(async () => {
  if (FAULT === undefined) delete process.env.PRBOT_FAULT;
  else process.env.PRBOT_FAULT = FAULT;
  for (const s of stops.splice(0).reverse()) await s();
  await world?.cleanup();
  await server?.close();
  world = server = undefined;
});

interface Owner {
  cfg: LoadedConfig;
  /** Each repository's Gitea stand-in (its PRs); alpha's also lists the owner's repositories. */
  forges: Record<'alpha' | 'beta' | 'gamma' | 'delta', FakeForge>;
}

/**
 * Gitea owner `team` with four repositories: alpha and beta carry the topic `prbot`, gamma holds
 * `.prbot.yaml` on its default branch, delta neither; beta is excluded by a glob. A `repos:`
 * entry `home` (a local repository without gaps) is the deployment's own.
 */
async function owner(moreRepos: (forgeUrl: string) => object[] = () => []): Promise<Owner> {
  server = await startModelServer(await cassetteScript());
  world = await reposWorld(
    { home: [], alpha: [TRUNCATE], beta: [TRUNCATE], gamma: [TRUNCATE], delta: [TRUNCATE] },
    server,
  );
  const gammaCheckout = path.join(path.dirname(world.remotes.gamma!), 'checkout');
  await writeFile(path.join(gammaCheckout, '.prbot.yaml'), '# this repository is served by prbot\n');
  await commitAll(gammaCheckout, 'mark the repository for prbot', true);
  const start = async (repo: string, more: object = {}) => {
    const f = await startGiteaServer({
      owner: 'team',
      repo,
      token: TOKEN,
      bare: world!.remotes[repo]!,
      org: true,
      ...more,
    });
    stops.push(() => f.stop());
    return f;
  };
  const forges = {
    alpha: await start('alpha', {
      topics: ['prbot'],
      ownerRepos: [{ name: 'beta', topics: ['prbot'] }, { name: 'gamma' }, { name: 'delta', topics: ['tools'] }],
    }),
    beta: await start('beta'),
    gamma: await start('gamma'),
    delta: await start('delta'),
  };
  const router = await startOwnerRouter(forges.alpha, forges);
  stops.push(() => router.stop());
  const cfg = await world.config({
    repos: [{ name: 'home', url: world.remotes.home }, ...moreRepos(router.url)],
    discover: {
      forge: { kind: 'gitea', baseUrl: router.url, owner: 'team', tokenEnv: 'GITEA_TOKEN' },
      exclude: ['beta*'],
      // The stand-ins' git repositories are on disk; a real forge's are at <baseUrl>/team/<name>.git.
      url: path.join(world.dir, 'remotes', '{name}', 'upstream.git'),
    },
  });
  return { cfg, forges };
}

/** alpha's PRD gains a second gap (committed on its default branch): what a later produce would enqueue. */
async function addPadGap(): Promise<void> {
  const checkout = path.join(path.dirname(world!.remotes.alpha!), 'checkout');
  await writeFile(
    path.join(checkout, 'docs', 'PRD.md'),
    `# PRD\n\n- [ ] ${TRUNCATE} [bot-eligible]\n- [ ] ${PAD} [bot-eligible]\n`,
  );
  await commitAll(checkout, 'a second gap', true);
}

type Runs = Awaited<ReturnType<typeof produceRepos>>;
type Found = Parameters<NonNullable<NonNullable<Parameters<typeof produceRepos>[2]>['discovery']>>[0];

async function produceAll(rt: Runtime): Promise<{ runs: Runs; found: Found }> {
  let found: Found | undefined;
  const runs = await produceRepos(rt, defaultPolicy, { discovery: (d) => (found = d) });
  for (const r of runs) if ('error' in r) throw new Error(`${r.repo}: ${r.error}`);
  return { runs, found: found! };
}

function enqueued(runs: Runs, repo: string) {
  const r = runs.find((x) => x.repo === repo);
  if (!r || 'error' in r) throw new Error(`no produce of ${repo}`);
  return r.report.lines.filter((l) => l.action === 'enqueued');
}

/** Every Redis key of a repository's own (scoped) layout. */
async function keysOf(rt: Runtime, cfg: LoadedConfig, repo: string): Promise<string[]> {
  const pattern = keys(cfg.redis.prefix, repo)
    .prOpen()
    .replace(/pr-open$/, '*');
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await rt.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    out.push(...found);
    cursor = next;
  } while (cursor !== '0');
  return out.sort();
}

/** Propose jobs of a repository ever added (waiting, active, completed…): one per cycle started. */
async function cyclesOf(rt: Runtime, repo: string): Promise<number> {
  const jobs = await rt.queues.propose.getJobs(['waiting', 'prioritized', 'active', 'completed', 'failed', 'delayed']);
  return jobs.filter((j) => (j.data as { repo?: string }).repo === repo).length;
}

describe('discover: the marked repositories of an owner', () => {
  it('serves exactly the marked, unexcluded repositories; one that loses its topic is drained (no new cycles, its cycle in flight ends, its PR and keys stay) and served again when it returns', async () => {
    const { cfg, forges } = await owner();
    const prod = await world!.open(cfg, { GITEA_TOKEN: TOKEN });

    // 1. The first produce discovers alpha (topic) and gamma (file); beta is excluded, delta unmarked.
    const first = await produceAll(prod);
    expect(first.found.served).toEqual(['team-alpha', 'team-gamma']);
    expect(first.found.drained).toEqual([]);
    expect(first.found.left).toEqual(
      expect.arrayContaining([
        { name: 'beta', why: 'not matched by discover.include / discover.exclude' },
        { name: 'delta', why: 'no topic "prbot" and no .prbot.yaml on main' },
      ]),
    );
    expect(first.runs.map((r) => r.repo)).toEqual(['home', 'team-alpha', 'team-gamma']);
    const alpha1 = enqueued(first.runs, 'team-alpha');
    const gamma1 = enqueued(first.runs, 'team-gamma');
    expect(alpha1.map((l) => l.gap.text)).toEqual([TRUNCATE]);
    expect(gamma1.map((l) => l.gap.text)).toEqual([TRUNCATE]);

    // 2. alpha gains a gap and loses its topic while its cycle waits in the queue: the next
    //    produce drains it (the control below shows the same produce enqueuing the new gap).
    await addPadGap();
    forges.alpha.setTopics('alpha', []);
    const second = await produceAll(prod);
    expect(second.found.served).toEqual(['team-gamma']);
    expect(second.found.drained).toEqual(['team-alpha']);
    const drained = second.runs.find((r) => r.repo === 'team-alpha')!;
    expect(drained).toMatchObject({ drained: true, report: { lines: [] } });
    expect(await cyclesOf(prod, 'team-alpha')).toBe(1);

    // 3. Workers (opened now, never configured with alpha or gamma) finish both cycles: draft PRs.
    const wrt = await world!.open(cfg, { GITEA_TOKEN: TOKEN });
    const workers = startWorkers(wrt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    try {
      const done = await waitForOutcomes(
        prod,
        [...alpha1, ...gamma1].map((l) => l.cycleId!),
        120_000,
      );
      expect(done.map((r) => [r.repo, r.outcome])).toEqual([
        ['team-alpha', 'ok'],
        ['team-gamma', 'ok'],
      ]);
    } finally {
      await workers.close();
    }
    const alphaKeys = await keysOf(prod, cfg, 'team-alpha');
    expect(alphaKeys.length).toBeGreaterThan(0);
    for (const name of ['alpha', 'gamma'] as const) {
      expect(forges[name].pulls).toHaveLength(1);
      expect(forges[name].pulls[0]).toMatchObject({ state: 'open', title: expect.stringMatching(/^WIP: /) });
      expect(forges[name].violations).toEqual([]);
    }
    expect(forges.beta.pulls).toEqual([]);
    expect(forges.delta.pulls).toEqual([]);

    // 4. Still drained at the next produce: nothing enqueued, its PR left open, its state kept.
    const third = await produceAll(prod);
    expect(third.runs.find((r) => r.repo === 'team-alpha')).toMatchObject({ drained: true });
    expect(await cyclesOf(prod, 'team-alpha')).toBe(1);
    expect(forges.alpha.pulls[0]!.state).toBe('open');
    expect(forges.alpha.requests.filter((q) => q.method === 'PATCH')).toEqual([]);
    // Nor do a mention on its PR or a push to its base start anything (webhook routes).
    const alphaView = (await prod.views()).get('team-alpha')!;
    const asked = await requestRevision(alphaView, {
      pr: forges.alpha.pulls[0]!.number,
      trigger: { kind: 'comment', commentId: 1, author: 'reviewer', body: '@prbot please rename it' },
      via: 'webhook',
    });
    expect(asked).toMatchObject({ enqueued: false, reason: 'drained' });
    expect(await webhookBookkeeping(alphaView).basePushed!({ ref: 'refs/heads/main' })).toMatchObject({ ran: false });
    expect(forges.alpha.pulls[0]!.state).toBe('open');
    const ak = keys(cfg.redis.prefix, 'team-alpha');
    expect(await keysOf(prod, cfg, 'team-alpha')).toEqual(expect.arrayContaining(alphaKeys));
    expect(await prod.redis.exists(ak.history(alpha1[0]!.gap.id))).toBe(1);
    expect(await prod.redis.zcard(ak.prOpen())).toBe(1);
    const entry = JSON.parse((await prod.redis.hget(keys(cfg.redis.prefix).discovered(), 'team-alpha'))!) as {
      state: string;
    };
    expect(entry.state).toBe('drained');
    // status and the rows it prints: a line each.
    const rows = await repoStatus(prod);
    expect(rows.map((r) => [r.repo, r.discovered, r.drained])).toEqual([
      ['home', undefined, undefined],
      ['team-alpha', true, true],
      ['team-gamma', true, false],
    ]);
    expect(formatStatus({ ...(await status(prod)), repositories: rows })).toMatch(/^team-alpha \+\s+drained /m);

    // 5. The topic comes back: served again, its second gap enqueued (the first awaits review).
    forges.alpha.setTopics('alpha', ['prbot']);
    const back = await produceAll(prod);
    expect(back.found.served).toEqual(['team-alpha', 'team-gamma']);
    expect(enqueued(back.runs, 'team-alpha').map((l) => l.gap.text)).toEqual([PAD]);
  });

  it('POSITIVE CONTROL: with the drain off (PRBOT_FAULT=no-discover-drain) the repository that lost its topic gets a new cycle', async () => {
    const { cfg, forges } = await owner();
    const prod = await world!.open(cfg, { GITEA_TOKEN: TOKEN });
    const first = await produceAll(prod);
    expect(enqueued(first.runs, 'team-alpha').map((l) => l.gap.text)).toEqual([TRUNCATE]);
    await addPadGap();
    forges.alpha.setTopics('alpha', []);
    process.env.PRBOT_FAULT = 'no-discover-drain';
    const second = await produceAll(prod);
    // The harm the drain prevents: alpha is no longer marked, yet its second gap starts a cycle.
    expect(second.found.served).toEqual(['team-alpha', 'team-gamma']);
    expect(enqueued(second.runs, 'team-alpha').map((l) => l.gap.text)).toEqual([PAD]);
    expect(await cyclesOf(prod, 'team-alpha')).toBe(2);
  });

  it('a worker started before any produce serves a repository discovered after it started', async () => {
    const { cfg, forges } = await owner();
    const wrt = await world!.open(cfg, { GITEA_TOKEN: TOKEN });
    const workers = startWorkers(wrt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    try {
      expect([...(await wrt.views()).keys()]).toEqual(['home']);
      const prod = await world!.open(cfg, { GITEA_TOKEN: TOKEN });
      const { runs } = await produceAll(prod);
      const ids = [...enqueued(runs, 'team-alpha'), ...enqueued(runs, 'team-gamma')].map((l) => l.cycleId!);
      const done = await waitForOutcomes(prod, ids, 120_000);
      expect(done.map((r) => [r.repo, r.outcome])).toEqual([
        ['team-alpha', 'ok'],
        ['team-gamma', 'ok'],
      ]);
      expect([...(await wrt.views()).keys()]).toEqual(['home', 'team-alpha', 'team-gamma']);
      expect(forges.alpha.pulls).toHaveLength(1);
      expect(forges.gamma.pulls).toHaveLength(1);
    } finally {
      await workers.close();
    }
  });

  it('a listing that fails drains nothing: the set is kept and produced over; POSITIVE CONTROL: taken as an empty listing (discoveryDefence.keepOnFailure off), it drains every repository', async () => {
    const { cfg, forges } = await owner();
    const prod = await world!.open(cfg, { GITEA_TOKEN: TOKEN });
    await produceAll(prod);
    const failing = async () => {
      forges.alpha.failNext('GET', '/orgs/team/repos', 1000, 500, { body: { message: 'database is locked' } });
      let found: Found | undefined;
      const runs = await produceRepos(prod, defaultPolicy, { discovery: (d) => (found = d) });
      forges.alpha.heal();
      return { runs, found: found! };
    };
    const kept = await failing();
    expect(kept.found.error).toMatch(/listing the repositories of team failed, the discovered set is unchanged/);
    expect(kept.runs[0]).toMatchObject({
      repo: 'discover:team',
      error: expect.stringMatching(/500|database is locked/),
    });
    expect(kept.found).toMatchObject({ served: ['team-alpha', 'team-gamma'], drained: [] });
    expect(kept.runs.filter((r) => 'report' in r && r.drained)).toEqual([]);
    expect(kept.runs.map((r) => r.repo)).toEqual(['discover:team', 'home', 'team-alpha', 'team-gamma']);

    discoveryDefence.keepOnFailure = false;
    try {
      const lost = await failing();
      expect(lost.found).toMatchObject({ served: [], drained: ['team-alpha', 'team-gamma'] });
      expect(lost.runs.filter((r) => 'report' in r && r.drained).map((r) => r.repo)).toEqual([
        'team-alpha',
        'team-gamma',
      ]);
    } finally {
      discoveryDefence.keepOnFailure = true;
    }
  });

  it('the CLI: produce lists what it discovered and says which repository is drained; status marks both', async () => {
    const { cfg, forges } = await owner();
    const cli = producerCli(cfg.file, { GITEA_TOKEN: TOKEN });
    const first = await cli('produce');
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toMatch(/^repo team-alpha:\nenqueued /m);
    expect(first.stdout).toMatch(/^repo team-gamma:\nenqueued /m);
    expect(first.stdout).not.toMatch(/team-beta|team-delta/);
    forges.alpha.setTopics('alpha', []);
    const second = await cli('produce');
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toMatch(/^repo team-alpha: drained: team no longer lists or marks it; nothing enqueued/m);
    const st = await cli('status');
    expect(st.stdout).toMatch(/^team-alpha \+ +drained +1 +0$/m);
    expect(st.stdout).toMatch(/^team-gamma \+ +running +1 +0$/m);
    expect(st.stdout).toMatch(/^home +running +0 +0$/m);
  }, 120_000);

  it('a repos: entry wins a clash: the discovered repository it serves is left out, named, and served once', async () => {
    const { cfg, forges } = await owner((forgeUrl) => [
      {
        name: 'gamma-explicit',
        url: world!.remotes.gamma,
        forge: { kind: 'gitea', baseUrl: forgeUrl, owner: 'team', repo: 'gamma', remote: world!.remotes.gamma },
      },
    ]);
    const prod = await world!.open(cfg, { GITEA_TOKEN: TOKEN });
    const { runs, found } = await produceAll(prod);
    expect(found.served).toEqual(['team-alpha']);
    expect(found.left).toContainEqual({ name: 'gamma', why: 'served as the repos: entry "gamma-explicit"' });
    expect(runs.map((r) => r.repo)).toEqual(['home', 'gamma-explicit', 'team-alpha']);
    expect(enqueued(runs, 'gamma-explicit').map((l) => l.gap.text)).toEqual([TRUNCATE]);
    expect(forges.gamma.violations).toEqual([]);
  });
});
