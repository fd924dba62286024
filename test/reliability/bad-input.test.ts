import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, expect, it } from 'vitest';
import { commitAll, createHarness, REPO_ROOT, type Harness, repoWithGaps } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { NODE_TSX, recordRow } from './support.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const run = (app: 'producer' | 'worker', args: string[], env: Record<string, string>) =>
  execa(
    NODE_TSX[0],
    [
      ...NODE_TSX.slice(1),
      path.join(REPO_ROOT, 'apps', app, 'src', app === 'producer' ? 'cli.ts' : 'main.ts'),
      ...args,
    ],
    {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH!,
        ...(process.env.PRBOT_JOB_KEY ? { PRBOT_JOB_KEY: process.env.PRBOT_JOB_KEY } : {}),
        ...env,
      },
      extendEnv: false,
      reject: false,
      timeout: 30_000,
    },
  );

/** Keys under the test's prefix, less the `:meta` keys BullMQ writes when a Queue object opens. */
async function keyCount(hh: Harness): Promise<number> {
  return (await hh.rt.redis.keys(`${hh.prefix}:*`)).filter((k) => !k.endsWith(':meta')).length;
}

it('bad input gets a clear error and changes nothing', async () => {
  h = await createHarness();
  const before = await keyCount(h);
  const notes: string[] = [];

  // A malformed config file.
  const bad = path.join(h.dir, 'bad.json');
  await writeFile(bad, '{"repo": {"url": 42}, "budget": {"onExhausted": "panic"}');
  const c1 = await run('producer', ['produce'], { PRBOT_CONFIG: bad });
  expect(c1.exitCode).toBe(2);
  expect(c1.stderr).toMatch(/bad\.json[\s\S]*not valid JSON/);
  await writeFile(bad, '{"repo": {"url": 42}, "budget": {"onExhausted": "panic"}, "models": {"propose": ["x/y"]}}');
  const c2 = await run('worker', ['--config', bad], {});
  expect(c2.exitCode).toBe(2);
  expect(c2.stderr).toMatch(/repo\.url/);
  expect(c2.stderr).toMatch(/budget\.onExhausted/);
  notes.push('malformed config: exit 2 naming file and fields');

  // An unknown queue name.
  const q = await run('worker', ['--queues', 'propose,tset', '--config', h.configFile], {});
  expect(q.exitCode).toBe(2);
  expect(q.stderr).toMatch(/unknown queue "tset"/);
  notes.push('unknown queue: exit 2');

  expect(await keyCount(h)).toBe(before);

  // A PRD that is not there on the base branch.
  const missing = { ...h.rt, cfg: { ...h.rt.cfg, repo: { ...h.rt.cfg.repo, prd: 'docs/NOPE.md' } } };
  await expect(produce(missing, defaultPolicy)).rejects.toThrow(
    /the PRD docs\/NOPE\.md does not exist on main \([0-9a-f]{12}\)/,
  );
  expect(await h.rt.queues.propose.count()).toBe(0);
  notes.push('missing PRD: error names path and branch, nothing enqueued');

  // A PRD that is binary garbage: refused by name (not parsed for gaps), nothing enqueued.
  await writeFile(
    path.join(h.checkout, 'docs', 'PRD.md'),
    Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37) % 256)),
  );
  await commitAll(h.checkout, 'garbage PRD', true);
  await expect(produce(h.rt, defaultPolicy)).rejects.toThrow(/the PRD docs\/PRD\.md holds NUL bytes: it is not text/);
  expect(await h.rt.queues.propose.count()).toBe(0);
  notes.push('binary PRD: PrdUnreadable naming the file, nothing enqueued');
  recordRow({
    fault: 'bad input: malformed config, unknown queue, missing PRD, binary PRD',
    injections: 5,
    inFlight: 0,
    lost: 0,
    duplicates: 0,
    notes: notes.join('; '),
  });
});

it("a PRD with 10,000 tagged lines: produce takes the policy's share and reports the rest", async () => {
  const repo = await repoWithGaps(Array.from({ length: 10_000 }, (_, i) => `Gap ${i} in a huge PRD`));
  h = await createHarness({ repo });
  const started = Date.now();
  const report = await produce(h.rt, defaultPolicy);
  const ms = Date.now() - started;
  const enqueued = report.lines.filter((l) => l.action === 'enqueued').length;
  expect(enqueued).toBe(10);
  expect(report.lines.filter((l) => l.action === 'not_picked')).toHaveLength(9990);
  expect(await h.rt.queues.propose.count()).toBe(10);
  recordRow({
    fault: 'a PRD with 10,000 tagged lines',
    injections: 1,
    inFlight: 10,
    lost: 0,
    duplicates: 0,
    notes: `${enqueued} enqueued (policy.maxGapsPerRun), 9,990 reported as not picked, in ${ms} ms`,
  });
});

it('positive control: the same 10,000-line PRD with the per-run cap out of reach (policy.maxGapsPerRun 10,000) floods the propose queue', async () => {
  const repo = await repoWithGaps(Array.from({ length: 10_000 }, (_, i) => `Gap ${i} in a huge PRD`));
  h = await createHarness({ repo, config: { policy: { maxGapsPerRun: 10_000 } } });
  const report = await produce(h.rt, defaultPolicy);
  const enqueued = report.lines.filter((l) => l.action === 'enqueued').length;
  const queued = await h.rt.queues.propose.count();
  console.log(`cap off: ${enqueued} enqueued, ${queued} propose jobs waiting (each a model call)`);
  // The control: every tagged line became a cycle at once (the defended row: 10).
  expect(enqueued).toBe(10_000);
  expect(queued).toBe(10_000);
}, 300_000);
