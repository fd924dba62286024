import { afterEach, describe, expect, it } from 'vitest';
import type { CycleRecord } from '@prbot/core';
import { QUEUE_NAMES } from '@prbot/pipeline';
import { produceRepos } from '@prbot/control';
import { defaultPolicy } from '@prbot/policy';
import {
  startGiteaServer,
  startGithubServer,
  startModelServer,
  type FakeForge,
  type ModelServer,
} from '@prbot/test-support';
import { startWorkers } from '../../src/workers.ts';
import { waitForOutcomes } from '../helpers.ts';
import { PAD, padScript, reposWorld, TRUNCATE, type ReposWorld } from '../repos-world.ts';

const GITEA_TOKEN = 'gitea-tok-0123456789-SECRET';
const GITHUB_TOKEN = 'github-tok-0123456789-SECRET';

let world: ReposWorld | undefined;
let server: ModelServer | undefined;
const forges: FakeForge[] = [];
afterEach(async () => {
  for (const f of forges.splice(0)) await f.stop();
  await world?.cleanup();
  await server?.close();
  world = server = undefined;
});

describe('one deployment over three forges', () => {
  it('a Gitea, a GitHub and a local repository with their own PRDs, test commands, limits and budget shares: each PR on its own forge, the same gap text in each is three gaps', async () => {
    server = await startModelServer(await padScript());
    world = await reposWorld({ api: [TRUNCATE], web: [TRUNCATE, PAD], tools: [TRUNCATE, PAD] }, server);
    const gitea = await startGiteaServer({ owner: 'team', repo: 'api', token: GITEA_TOKEN, bare: world.remotes.api! });
    const github = await startGithubServer({
      owner: 'team',
      repo: 'web',
      token: GITHUB_TOKEN,
      bare: world.remotes.web!,
    });
    forges.push(gitea, github);
    const common = { timeoutMs: 5000, limitRetryMs: 300_000 };
    const cfg = await world.config({
      repos: [
        {
          name: 'api',
          url: world.remotes.api,
          forge: {
            kind: 'gitea',
            baseUrl: gitea.url,
            owner: 'team',
            repo: 'api',
            tokenEnv: 'GITEA_TOKEN',
            remote: world.remotes.api,
            ...common,
          },
          tests: { commands: [['node', '--test', '--test-reporter=dot']] },
        },
        {
          name: 'web',
          url: world.remotes.web,
          forge: {
            kind: 'github',
            apiUrl: github.url,
            owner: 'team',
            repo: 'web',
            tokenEnv: 'GITHUB_TOKEN',
            remote: world.remotes.web,
            ...common,
          },
          // web's share of the day: one call, so its second gap is refused by the share alone.
          budget: { calls: 1 },
        },
        { name: 'tools', url: world.remotes.tools, limits: { maxOpen: 1 } },
      ],
    });
    const rt = await world.open(cfg, { GITEA_TOKEN, GITHUB_TOKEN });
    const workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    try {
      const runs = await produceRepos(rt, defaultPolicy);
      const ids = (repo: string) => {
        const r = runs.find((x) => x.repo === repo)!;
        if ('error' in r) throw new Error(r.error);
        return r.report.lines.filter((l) => l.action === 'enqueued').map((l) => l.cycleId!);
      };
      const [api, web, tools] = [ids('api'), ids('web'), ids('tools')];
      expect([api.length, web.length, tools.length]).toEqual([1, 2, 2]);
      // The same gap text in three repositories: three gaps, three ids.
      const truncIds = runs.flatMap((r) =>
        'report' in r ? r.report.lines.filter((l) => l.gap.text === TRUNCATE).map((l) => l.gap.id) : [],
      );
      expect(new Set(truncIds).size).toBe(3);
      const done = await waitForOutcomes(rt, [...api, ...web], 120_000);
      const of = (repo: string) => done.filter((r: CycleRecord) => r.repo === repo);
      // api on Gitea: its own test command ran, its PR is on the Gitea stand-in, as a draft.
      expect(of('api').map((r) => r.outcome)).toEqual(['ok']);
      expect(
        of('api')[0]!
          .tests.filter((t) => t.phase === 'test')
          .map((t) => t.argv),
      ).toEqual([['node', '--test', '--test-reporter=dot']]);
      expect(gitea.pulls).toHaveLength(1);
      expect(gitea.pulls[0]!.title).toMatch(/^WIP: /);
      // web on GitHub: one cycle had the share's one call and its PR is on the GitHub stand-in;
      // the other was stopped by web's share alone.
      expect(
        of('web')
          .map((r) => r.outcome)
          .sort(),
      ).toEqual(['ok', 'skipped_cost']);
      expect(of('web').find((r) => r.outcome === 'skipped_cost')!.reason).toMatch(
        /web's daily call share spent \(1\/1/,
      );
      expect(github.pulls).toHaveLength(1);
      expect(github.pulls[0]!.draft).toBe(true);
      // tools (local, at most one PR open): one cycle ends ok, the other waits at the pr stage.
      let ended: CycleRecord[] = [];
      for (let i = 0; i < 600 && ended.length === 0; i++) {
        ended = (await Promise.all(tools.map((id) => waitForOutcomes(rt, [id], 1).catch(() => [])))).flat();
        if (ended.length === 0) await new Promise((r) => setTimeout(r, 200));
      }
      expect(ended.map((r) => r.outcome)).toEqual(['ok']);
      const other = tools.find((id) => id !== ended[0]!.cycle_id)!;
      for (let i = 0; i < 600; i++) {
        const j = await rt.queues.pr.getJob(`${other}-pr`);
        if (j && (await j.getState()) === 'delayed') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await (await rt.queues.pr.getJob(`${other}-pr`))?.getState()).toBe('delayed');
      expect(gitea.violations).toEqual([]);
      expect(github.violations).toEqual([]);
      // Neither forge ever saw the other's token.
      expect(gitea.requests.every((q) => !String(q.authorization ?? '').includes(GITHUB_TOKEN))).toBe(true);
      expect(github.requests.every((q) => !String(q.authorization ?? '').includes(GITEA_TOKEN))).toBe(true);
    } finally {
      await workers.close(2000);
    }
  }, 240_000);
});
