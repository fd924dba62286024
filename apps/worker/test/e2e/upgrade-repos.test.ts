import { readdir } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { gapId } from '@prbot/core';
import { canonicalUrl } from '@prbot/config';
import { gapHistory, jobKeyFrom, QUEUE_NAMES, signJob, stageJobId, type Runtime } from '@prbot/pipeline';
import { produce, produceRepos } from '@prbot/control';
import { defaultPolicy } from '@prbot/policy';
import { startModelServer, type ModelServer } from '@prbot/test-support';
import { startWorkers } from '../../src/workers.ts';
import { cassetteScript, waitForOutcomes } from '../helpers.ts';
import { reposWorld, type ReposWorld } from '../repos-world.ts';

const TRUNCATE =
  'Add a `truncate(text, max)` helper in src/truncate.js that shortens text to max characters with an ellipsis';
/** The demo cassette's answer to this one fails the tests: a gap with history. */
const REVERSE = 'Add a `reverse(text)` helper in src/reverse.js';

let world: ReposWorld | undefined;
let server: ModelServer | undefined;
const fault = process.env.PRBOT_FAULT;
afterEach(async () => {
  if (fault === undefined) delete process.env.PRBOT_FAULT;
  else process.env.PRBOT_FAULT = fault;
  await world?.cleanup();
  await server?.close();
  world = server = undefined;
});

/** The user prompts the model server was sent for the reverse gap, from request `from` on. */
function reversePrompts(from: number): string[] {
  return server!.requests
    .slice(from)
    .map((r) => r.body.messages.map((m) => m.content).join('\n'))
    .filter((p) => p.includes(`Gap from docs/PRD.md: ${REVERSE}`));
}

async function prFiles(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }).catch(() => [] as string[]))
    .map(String)
    .filter((f) => f.endsWith('.json'));
}

async function scopedKeys(rt: Runtime, prefix: string): Promise<string[]> {
  return rt.redis.keys(`${prefix}:bot:repo:*`);
}

/**
 * Today's deployment, as the code before many repositories left it: a single `repo:` config, a
 * merged-or-open PR (truncate), a gap with a failed cycle in its history (reverse), and that gap's
 * next cycle in flight with its propose job enqueued by the old code (no `repo` in it) and no
 * worker running. No legacy-repo marker: the old code never wrote one.
 */
async function oldDeployment(): Promise<{
  cycleInFlight: string;
  singleCfg: Awaited<ReturnType<ReposWorld['config']>>;
}> {
  const w = world!;
  const singleCfg = await w.config({ repo: { url: w.remotes.legacy } });
  const rt = await w.open(singleCfg);
  const workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
  try {
    const first = await produce(rt, defaultPolicy);
    const ids = first.lines.filter((l) => l.action === 'enqueued').map((l) => l.cycleId!);
    const records = await waitForOutcomes(rt, ids, 90_000);
    expect(records.map((r) => [r.gap_id, r.outcome])).toEqual([
      [gapId(TRUNCATE), 'ok'],
      [gapId(REVERSE), 'tests_failed'],
    ]);
  } finally {
    await workers.close(2000);
  }
  // The layout of old, byte for byte: unscoped keys and unscoped gap ids.
  expect(await scopedKeys(rt, w.prefix)).toEqual([]);
  expect(rt.keys.history(gapId(REVERSE))).toBe(`${w.prefix}:bot:history:${gapId(REVERSE)}`);
  expect(await rt.redis.llen(`${w.prefix}:bot:history:${gapId(REVERSE)}`)).toBe(1);
  await rt.redis.del(`${w.prefix}:bot:legacy-repo`);

  // The next cycle of reverse, enqueued and not started: the workers are stopped.
  const again = await produce(rt, defaultPolicy);
  expect(again.lines.map((l) => [l.gap.id, l.action])).toEqual([
    [gapId(TRUNCATE), 'awaiting_review'],
    [gapId(REVERSE), 'enqueued'],
  ]);
  const cycleInFlight = again.lines[1]!.cycleId!;
  // produce settled the open PR under the unscoped gap id.
  expect(await rt.redis.hexists(`${w.prefix}:bot:gap-prs`, gapId(TRUNCATE))).toBe(1);
  // The old code's job: no `repo` field, signed as it signed it.
  const job = (await rt.queues.propose.getJob(stageJobId(cycleInFlight, 'propose')))!;
  const { _sig: _drop, repo, ...old } = job.data as Record<string, unknown>;
  expect(repo).toBe('upstream');
  await job.updateData(signJob('propose', old, jobKeyFrom(rt.env, rt.cfg.jobs.keyEnv)));
  await rt.close();
  return { cycleInFlight, singleCfg };
}

describe('upgrade from one repository to many', () => {
  it('restarted on the new code with the config unchanged, then moved into repos: with a second repository: nothing lost, no second PR, the gap history in the prompt', async () => {
    server = await startModelServer(await cassetteScript());
    world = await reposWorld({ legacy: [TRUNCATE, REVERSE], second: [TRUNCATE] }, server);
    const { cycleInFlight, singleCfg } = await oldDeployment();

    // 1. Restart, config unchanged.
    const rt = await world.open(singleCfg);
    expect(rt.repo).toMatchObject({ name: 'upstream', legacy: true });
    const from = server.requests.length;
    const workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    try {
      const [inFlight] = await waitForOutcomes(rt, [cycleInFlight], 90_000);
      // The in-flight cycle ran to its end (the cassette's reverse fails its tests again).
      expect(inFlight).toMatchObject({ outcome: 'tests_failed', repo: 'upstream', gap_id: gapId(REVERSE) });
      const [prompt] = reversePrompts(from);
      expect(prompt).toContain('Prior attempts on this gap (newest first):\n1. ');
      expect(prompt).toContain('tests_failed');
      const again = await produce(rt, defaultPolicy);
      expect(again.lines.map((l) => [l.gap.id, l.action])).toEqual([
        [gapId(TRUNCATE), 'awaiting_review'],
        [gapId(REVERSE), 'enqueued'],
      ]);
    } finally {
      await workers.close(2000);
    }
    expect((await prFiles(world.prDir)).filter((f) => f.includes('truncate'))).toHaveLength(1);
    expect(await scopedKeys(rt, world.prefix)).toEqual([]);
    // Recorded for the move into repos:.
    expect(await rt.redis.get(`${world.prefix}:bot:legacy-repo`)).toBe(
      canonicalUrl(singleCfg, singleCfg.repositories[0]!),
    );

    // 2. The same repository moved into repos:, a second one added.
    const manyCfg = await world.config({
      repos: [{ url: world.remotes.legacy }, { name: 'second', url: world.remotes.second }],
    });
    const rt3 = await world.open(manyCfg);
    const views = await rt3.views();
    expect([...views.values()].map((v) => [v.repo.name, v.repo.legacy])).toEqual([
      ['upstream', true],
      ['second', false],
    ]);
    const workers3 = startWorkers(rt3, defaultPolicy, { queues: [...QUEUE_NAMES] });
    try {
      const runs = await produceRepos(rt3, defaultPolicy);
      const lines = runs.flatMap((r) => ('report' in r ? r.report.lines.map((l) => ({ repo: r.repo, ...l })) : []));
      expect(lines.map((l) => [l.repo, l.gap.id, l.action])).toEqual([
        ['upstream', gapId(TRUNCATE), 'awaiting_review'],
        // Enqueued by the restarted single-repository deployment, its workers stopped before it ran: in flight across the move.
        ['upstream', gapId(REVERSE), 'in_flight'],
        ['second', gapId(TRUNCATE, 'second'), 'enqueued'],
      ]);
      const records = await waitForOutcomes(
        rt3,
        lines.filter((l) => l.action !== 'awaiting_review').map((l) => l.cycleId!),
        90_000,
      );
      expect(records.map((r) => [r.repo, r.outcome])).toEqual([
        ['upstream', 'tests_failed'],
        ['second', 'ok'],
      ]);
      // Both earlier attempts of reverse in its third prompt (sent before or after the move: the
      // restarted deployment's workers may have started it before they stopped).
      const prompts = reversePrompts(from);
      expect(prompts).toHaveLength(2);
      const prompt = prompts[1];
      expect(prompt).toContain('Prior attempts on this gap (newest first):\n1. ');
      expect(prompt).toContain('\n2. ');
    } finally {
      await workers3.close(2000);
    }
    expect(await gapHistory(rt3.redis, views.get('upstream')!.keys, gapId(REVERSE), 10)).toHaveLength(3);
    // The legacy repository's PR directory and keys as they were; the second's scoped.
    const prs = await prFiles(world.prDir);
    expect(prs.filter((f) => !f.includes('/') && f.includes('truncate'))).toHaveLength(1);
    expect(prs.filter((f) => f.startsWith('second/') && f.includes('truncate'))).toHaveLength(1);
    const scoped = await scopedKeys(rt3, world.prefix);
    expect(scoped.length).toBeGreaterThan(0);
    expect(scoped.every((k) => k.startsWith(`${world!.prefix}:bot:repo:second:`))).toBe(true);

    // Without the marker, two repositories and unscoped data: refused with what to do, not guessed.
    await rt3.redis.del(`${world.prefix}:bot:legacy-repo`);
    await expect(world.open(manyCfg)).rejects.toThrow(/single-repository deployment .* not which repository it served/);
  }, 300_000);

  it('positive control: with the legacy layout switched off (PRBOT_FAULT=no-legacy-layout) the same restart loses the in-flight cycle and the history, and opens a second PR', async () => {
    server = await startModelServer(await cassetteScript());
    world = await reposWorld({ legacy: [TRUNCATE, REVERSE] }, server);
    const { cycleInFlight, singleCfg } = await oldDeployment();

    process.env.PRBOT_FAULT = 'no-legacy-layout';
    const rt = await world.open(singleCfg);
    expect(rt.repo).toMatchObject({ name: 'upstream', legacy: false });
    const workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    try {
      // The old job names no repository and no repository keeps the old layout: not run.
      const [inFlight] = await waitForOutcomes(rt, [cycleInFlight], 90_000);
      expect(inFlight!.outcome).toBe('skipped_policy');
      // The history is not found under the scoped gap id.
      expect(await gapHistory(rt.redis, rt.keys, gapId(REVERSE, 'upstream'), 10)).toHaveLength(0);
      const from = server.requests.length;
      const again = await produce(rt, defaultPolicy);
      const enqueued = again.lines.filter((l) => l.action === 'enqueued');
      // truncate's open PR is not recognised: enqueued again.
      expect(enqueued.map((l) => l.gap.text)).toEqual([TRUNCATE, REVERSE]);
      const records = await waitForOutcomes(
        rt,
        enqueued.map((l) => l.cycleId!),
        90_000,
      );
      expect(records[0]!.outcome).toBe('ok');
      expect(reversePrompts(from)[0]).toContain('Prior attempts on this gap: none.');
    } finally {
      await workers.close(2000);
    }
    expect((await prFiles(world.prDir)).filter((f) => f.includes('truncate'))).toHaveLength(2);
  }, 300_000);
});
