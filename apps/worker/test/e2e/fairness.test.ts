import { afterEach, describe, expect, it } from 'vitest';
import { QUEUE_NAMES, type Runtime } from '@prbot/pipeline';
import { produceRepos } from '@prbot/control';
import { defaultPolicy } from '@prbot/policy';
import { startModelServer, type ModelServer } from '@prbot/test-support';
import { startWorkers } from '../../src/workers.ts';
import { reposWorld, type ReposWorld } from '../repos-world.ts';

/** Gap n of a repository: its own helper file, so every proposal applies and every test passes. */
const gap = (repo: string, n: number) => `Add a helper ${repo}${n}() in src/${repo}${n}.js that returns ${n}`;

/** Answers each gap with the file it asks for. */
const script: ModelServer['script'] = (req) => {
  const prompt = req.body.messages.map((m) => m.content).join('\n');
  const m = /Gap from [^\n]*helper (\w+?)(\d+)\(\) in src\/\w+\.js/.exec(prompt);
  if (!m) return { content: '{"summary":"nothing","files":[]}' };
  const [, repo, n] = m;
  return {
    content: JSON.stringify({
      summary: `Adds ${repo}${n}().`,
      files: [{ path: `src/${repo}${n}.js`, is_new: true, content: `export const ${repo}${n} = () => ${n};\n` }],
    }),
  };
};

let world: ReposWorld | undefined;
let server: ModelServer | undefined;
let fault: string | undefined;
afterEach(async () => {
  if (fault === undefined) delete process.env.PRBOT_FAULT;
  else process.env.PRBOT_FAULT = fault;
  await world?.cleanup();
  await server?.close();
  world = server = undefined;
});

/** How many of `ids` have ended (one round trip). */
async function ended(rt: Runtime, ids: string[]): Promise<number> {
  const p = rt.redis.pipeline();
  for (const id of ids) p.exists(rt.keys.outcome(id));
  return ((await p.exec()) ?? []).filter(([, v]) => v === 1).length;
}

/**
 * Repository big with 2,000 gaps and small with 5 through one deployment with one test worker,
 * big produced first: how many of big's cycles ended when `until` says stop.
 */
async function run(until: (e: { big: number; small: number }) => boolean) {
  server = await startModelServer(script);
  world = await reposWorld(
    {
      big: Array.from({ length: 2000 }, (_, i) => gap('big', i + 1)),
      small: Array.from({ length: 5 }, (_, i) => gap('small', i + 1)),
    },
    server,
  );
  const cfg = await world.config({
    budget: { callsPerDay: 100_000, tokensPerDay: 1_000_000_000 },
    forge: { kind: 'local', prDir: world.prDir, maxOpen: 10_000, maxPerHour: 10_000 },
    queues: Object.fromEntries(
      ['propose', 'apply', 'test', 'pr', 'events', 'produce'].map((q) => [
        q,
        { backoff: { delay: 50 }, limiter: null, ...(q === 'test' ? { concurrency: 1 } : {}) },
      ]),
    ),
    tests: { commands: [['node', '-e', '0']] },
    policy: { coolDownMs: 0, noopCoolDownMs: 0, maxGapsPerRun: 5000 },
    repos: [
      { name: 'big', url: world.remotes.big },
      { name: 'small', url: world.remotes.small },
    ],
  });
  const rt = await world.open(cfg);
  const views = await rt.views();
  const workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
  try {
    const runs = await produceRepos(rt, defaultPolicy);
    const ids = (repo: string) => {
      const r = runs.find((x) => x.repo === repo)!;
      if ('error' in r) throw new Error(r.error);
      return r.report.lines.filter((l) => l.action === 'enqueued').map((l) => l.cycleId!);
    };
    const big = ids('big');
    const small = ids('small');
    expect([big.length, small.length]).toEqual([2000, 5]);
    const deadline = Date.now() + 150_000;
    for (;;) {
      const e = { big: await ended(views.get('big')!, big), small: await ended(views.get('small')!, small) };
      if (until(e)) return e;
      if (Date.now() > deadline) throw new Error(`no end in sight: ${JSON.stringify(e)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await workers.close(2000);
  }
}

describe('fair shares across repositories', () => {
  it("a repository with 5 gaps is not starved by one with 2,000: every one of its cycles ends before the big one's 50th", async () => {
    const e = await run((x) => x.small === 5 || x.big >= 50);
    expect(e.small).toBe(5);
    expect(e.big).toBeLessThan(50);
  }, 240_000);

  // The small repository's jobs sit behind all 2,000 of the big one's in every queue: 20 of those
  // ending with none of its own already shows the starvation (waiting for 50 costs a minute more).
  it('positive control: first come first served (PRBOT_FAULT=no-fair-order): the big repository ends 20 cycles before any of the small one', async () => {
    fault = process.env.PRBOT_FAULT;
    process.env.PRBOT_FAULT = [fault, 'no-fair-order'].filter(Boolean).join(',');
    const e = await run((x) => x.small > 0 || x.big >= 20);
    expect(e.big).toBeGreaterThanOrEqual(20);
    expect(e.small).toBe(0);
  }, 240_000);
});
