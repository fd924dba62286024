import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gapId, type CycleRecord } from '@prbot/core';
import { jobKeyFrom, QUEUE_NAMES, stageJob, stageJobId, type Runtime } from '@prbot/pipeline';
import { produceRepos } from '@prbot/control';
import { defaultPolicy } from '@prbot/policy';
import { startModelServer, type ModelServer } from '@prbot/test-support';
import { startWorkers } from '../../src/workers.ts';
import { produceProcessor } from '../../src/stages/produce.ts';
import { waitForOutcomes } from '../helpers.ts';
import { PAD, padScript, producerCli, reposWorld, type ReposWorld, TRUNCATE } from '../repos-world.ts';

let world: ReposWorld | undefined;
let server: ModelServer | undefined;
afterEach(async () => {
  await world?.cleanup();
  await server?.close();
  world = server = undefined;
});

/** Every PR file the local forge wrote, as `<repo dir>/<file>` (the legacy repository's at the top). */
async function prFiles(prDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(prDir, { withFileTypes: true }).catch(() => []))
    if (e.isDirectory()) for (const f of await readdir(path.join(prDir, e.name))) out.push(`${e.name}/${f}`);
    else out.push(e.name);
  return out.sort();
}

describe('many repositories, one deployment', () => {
  it('three remotes with their own PRDs and test commands: per-repo records and PRs, the same gap in two repos is two PRs, a per-repo PR limit holds, an unconfigured repository ends its cycle by name', async () => {
    server = await startModelServer(await padScript());
    world = await reposWorld({ alpha: [TRUNCATE, PAD], beta: [TRUNCATE], gamma: [TRUNCATE, PAD] }, server);
    const cfg = await world.config({
      repos: [
        { name: 'alpha', url: world.remotes.alpha },
        { name: 'beta', url: world.remotes.beta, tests: { commands: [['node', '--test', '--test-reporter=dot']] } },
        { name: 'gamma', url: world.remotes.gamma, limits: { maxOpen: 1 } },
      ],
    });
    const rt = await world.open(cfg);
    const views = await rt.views();
    // No single-repository deployment ran here: every repository is scoped.
    expect([...views.values()].map((v) => v.repo.legacy)).toEqual([false, false, false]);
    const workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    try {
      const runs = await produceRepos(rt, defaultPolicy);
      const enqueued = (repo: string) => {
        const r = runs.find((x) => x.repo === repo)!;
        if ('error' in r) throw new Error(r.error);
        return r.report.lines.filter((l) => l.action === 'enqueued');
      };
      expect(runs.map((r) => r.repo)).toEqual(['alpha', 'beta', 'gamma']);
      const [a, b, g] = [enqueued('alpha'), enqueued('beta'), enqueued('gamma')];
      expect([a.length, b.length, g.length]).toEqual([2, 1, 2]);
      // The same line in alpha and beta: two gaps, two ids, neither the unscoped one.
      const aTrunc = a.find((l) => l.gap.text === TRUNCATE)!;
      const bTrunc = b[0]!;
      expect(aTrunc.gap.id).toBe(gapId(TRUNCATE, 'alpha'));
      expect(bTrunc.gap.id).toBe(gapId(TRUNCATE, 'beta'));
      expect(new Set([aTrunc.gap.id, bTrunc.gap.id, gapId(TRUNCATE)]).size).toBe(3);

      const done = await waitForOutcomes(
        rt,
        [...a, ...b].map((l) => l.cycleId!),
        90_000,
      );
      expect(done.map((r) => [r.repo, r.outcome])).toEqual([
        ['alpha', 'ok'],
        ['alpha', 'ok'],
        ['beta', 'ok'],
      ]);
      // Each repository's own test command ran.
      const cmd = (r: CycleRecord) => r.tests.filter((t) => t.phase === 'test').map((t) => t.argv);
      expect(cmd(done[0]!)).toEqual([['node', '--test']]);
      expect(cmd(done[2]!)).toEqual([['node', '--test', '--test-reporter=dot']]);
      // The JSON records carry the repository too. The file is written just after the outcome
      // reaches Redis (recordOutcome), so it may lag the wait above by a moment.
      const file = path.join(world.dir, 'cycles', `${done[2]!.cycle_id}.json`);
      for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
      const json = JSON.parse(await readFile(file, 'utf8')) as CycleRecord;
      expect(json.repo).toBe('beta');

      // gamma: one PR open at most; its second cycle waits at the pr stage, not ended.
      const gFirst = await Promise.race(
        g.map(async (l) => (await waitForOutcomes(rt, [l.cycleId!], 90_000).catch(() => null)) && l),
      );
      expect(gFirst).toBeTruthy();
      const gOther = g.find((l) => l !== gFirst)!;
      const gv = views.get('gamma')!;
      for (let i = 0; i < 400; i++) {
        const j = await rt.queues.pr.getJob(stageJobId(gOther.cycleId!, 'pr'));
        if (j && (await j.getState()) === 'delayed') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await (await rt.queues.pr.getJob(stageJobId(gOther.cycleId!, 'pr')))!.getState()).toBe('delayed');
      expect(await rt.redis.zcard(gv.keys.prOpen())).toBe(1);
      expect(await rt.redis.zcard(views.get('alpha')!.keys.prOpen())).toBe(2);

      // PRs: each repository's in its own directory, truncate twice (alpha and beta).
      const prs = await prFiles(world.prDir);
      expect(prs.filter((p) => p.startsWith('alpha/'))).toHaveLength(2);
      expect(prs.filter((p) => p.startsWith('beta/'))).toHaveLength(1);
      expect(prs.filter((p) => p.startsWith('gamma/'))).toHaveLength(1);
      expect(prs.filter((p) => /^(alpha|beta)\/.*truncate/.test(p))).toHaveLength(2);

      // A signed job naming a repository this deployment does not serve: ended by name, nothing run.
      const ghost = { ...aTrunc, cycleId: 'c0000000000ghost01' };
      const before = server.requests.length;
      const j = stageJob(
        'propose',
        ghost.cycleId,
        {
          cycleId: ghost.cycleId,
          repo: 'gone',
          gap: aTrunc.gap,
          baseCommit: done[0]!.base_commit!,
          createdAt: Date.now(),
          dryRun: false,
          notes: [],
        },
        jobKeyFrom(rt.env, rt.cfg.jobs.keyEnv),
      );
      await rt.queues.propose.add(j.name, j.data, j.opts);
      const [ghostRecord] = await waitForOutcomes(rt, [ghost.cycleId], 30_000);
      expect(ghostRecord).toMatchObject({ outcome: 'skipped_policy', repo: 'gone' });
      expect(ghostRecord!.reason).toMatch(
        /repository "gone" is not configured in this deployment \(configured: alpha, beta, gamma\)/,
      );
      expect(server.requests.length).toBe(before);
    } finally {
      await workers.close(2000);
    }
  }, 240_000);

  it('produce for every repository: one whose PRD is missing is its own line and the others go on; --repo picks one', async () => {
    server = await startModelServer(await padScript());
    world = await reposWorld({ alpha: [PAD], beta: [PAD] }, server);
    const cfg = await world.config({
      repos: [
        { name: 'alpha', url: world.remotes.alpha, prd: 'docs/NOPE.md' },
        { name: 'beta', url: world.remotes.beta },
      ],
    });
    const rt: Runtime = await world.open(cfg);
    const runs = await produceRepos(rt, defaultPolicy);
    expect(runs[0]).toMatchObject({
      repo: 'alpha',
      error: expect.stringMatching(/the PRD docs\/NOPE\.md does not exist/),
    });
    expect(runs[1]).toMatchObject({ repo: 'beta' });
    expect('report' in runs[1]! && runs[1].report.lines.map((l) => l.action)).toEqual(
      ['in_flight'].length ? ['enqueued'] : [],
    );
    const one = await produceRepos(rt, defaultPolicy, { repo: 'beta' });
    expect(one.map((r) => r.repo)).toEqual(['beta']);
    // A scheduled produce job runs every repository the same way.
    const job = await rt.queues.produce.add('produce', {});
    const scheduled = (await produceProcessor(rt, defaultPolicy)(job)) as { repos: Record<string, unknown>[] };
    expect(scheduled.repos).toEqual([
      { repo: 'alpha', error: expect.stringMatching(/the PRD docs\/NOPE\.md does not exist/) },
      { repo: 'beta', outcome: null, reason: expect.any(String), enqueued: 0 },
    ]);
    expect((await rt.queues.produce.getJobLogs(job.id!)).logs).toEqual([
      expect.stringMatching(/^repo alpha: produce failed: the PRD docs\/NOPE\.md/),
      expect.stringMatching(/^repo beta: in_flight /),
    ]);
    await expect(produceRepos(rt, defaultPolicy, { repo: 'delta' })).rejects.toThrow(
      /no repository named "delta"; configured: alpha, beta/,
    );
  }, 60_000);

  it('the CLI: pause --repo holds one repository, status shows a row per repository, produce --repo runs one, resume lets it go', async () => {
    server = await startModelServer(await padScript());
    world = await reposWorld({ alpha: [PAD], beta: [PAD] }, server);
    const cfg = await world.config({
      repos: [
        { name: 'alpha', url: world.remotes.alpha },
        { name: 'beta', url: world.remotes.beta },
      ],
    });
    const cli = producerCli(cfg.file);
    expect((await cli('pause', '--repo', 'beta')).stdout).toBe('repo beta: paused');
    expect((await cli('pause', '--repo', 'delta')).stderr).toMatch(
      /no repository named "delta"; configured: alpha, beta/,
    );
    const produced = await cli('produce', '--json');
    expect(produced.exitCode).toBe(0);
    const runs = JSON.parse(produced.stdout) as {
      repo: string;
      report: { outcome: string | null; reason: string; lines: { action: string }[] };
    }[];
    expect(runs.map((r) => [r.repo, r.report.outcome, r.report.lines.map((l) => l.action)])).toEqual([
      ['alpha', null, ['enqueued']],
      ['beta', 'skipped_pause', []],
    ]);
    expect(runs[1]!.report.reason).toMatch(/repository beta is paused/);
    const st = JSON.parse((await cli('status', '--json')).stdout) as { repositories: unknown[] };
    expect(st.repositories).toEqual([
      { repo: 'alpha', legacy: false, paused: false, inFlight: 1, prsOpen: 0 },
      { repo: 'beta', legacy: false, paused: true, inFlight: 0, prsOpen: 0 },
    ]);
    expect((await cli('status')).stdout).toMatch(/\nbeta +paused +0 +0/);
    expect((await cli('resume', '--repo', 'beta')).stdout).toBe('repo beta: resumed');
    const one = await cli('produce', '--repo', 'beta');
    expect(one.stdout).toMatch(/^repo beta:\nenqueued /);
    expect(one.stdout).not.toContain('repo alpha');
  }, 120_000);
});
