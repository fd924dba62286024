import { afterEach, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '@prbot/pipeline';
import { produceRepos } from '@prbot/control';
import { defaultPolicy } from '@prbot/policy';
import { startModelServer, type ModelServer } from '@prbot/test-support';
import { startWorkers } from '../../src/workers.ts';
import { cassetteScript, waitForOutcomes } from '../helpers.ts';
import { reposWorld, type ReposWorld } from '../repos-world.ts';

const TRUNCATE =
  'Add a `truncate(text, max)` helper in src/truncate.js that shortens text to max characters with an ellipsis';
const PAD = 'Add a `pad(text, n)` helper in src/pad.js';

let world: ReposWorld | undefined;
let server: ModelServer | undefined;
afterEach(async () => {
  await world?.cleanup();
  await server?.close();
  world = server = undefined;
});

describe("a repository's share of the day's budget", () => {
  it('stops that repository only: its second call is refused by its share while the other repository, and the global bucket, go on', async () => {
    server = await startModelServer(await cassetteScript());
    world = await reposWorld({ alpha: [TRUNCATE, PAD], beta: [TRUNCATE, PAD] }, server);
    const cfg = await world.config({
      budget: { callsPerDay: 20 },
      repos: [
        { name: 'alpha', url: world.remotes.alpha, budget: { calls: 1 } },
        { name: 'beta', url: world.remotes.beta },
      ],
    });
    const rt = await world.open(cfg);
    const workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    try {
      const runs = await produceRepos(rt, defaultPolicy);
      const ids = runs.flatMap((r) =>
        'report' in r ? r.report.lines.filter((l) => l.action === 'enqueued').map((l) => l.cycleId!) : [],
      );
      expect(ids).toHaveLength(4);
      const done = await waitForOutcomes(rt, ids, 90_000);
      const of = (repo: string) => done.filter((r) => r.repo === repo);
      // alpha: one cycle had its call, the other was refused by alpha's share, not the day's.
      // (The cassette answers the pad gap with nothing usable: that cycle's outcome is the model's.)
      expect(of('alpha').filter((r) => r.outcome === 'skipped_cost')).toHaveLength(1);
      const refused = of('alpha').find((r) => r.outcome === 'skipped_cost')!;
      expect(refused.reason).toMatch(/alpha's daily call share spent \(1\/1/);
      expect(refused.reason).not.toMatch(/daily budget of 20/);
      // beta has no share: both its cycles asked the model (whatever the cassette's answer made of them).
      expect(of('beta').every((r) => r.outcome !== 'skipped_cost')).toBe(true);
      expect(server.requests.length).toBe(3);
    } finally {
      await workers.close(2000);
    }
  }, 180_000);
});
