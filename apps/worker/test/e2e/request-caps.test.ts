import { afterEach, expect, it } from 'vitest';
import { createHarness, startModelServer, type Harness, type ModelServer } from '@prbot/test-support';
import { openaiModels, repoWithGaps, runAll } from '../helpers.ts';

let h: Harness | undefined;
let server: ModelServer | undefined;

afterEach(async () => {
  await h?.cleanup();
  await server?.close();
  h = undefined;
  server = undefined;
});

/**
 * A provider that answers 429 for ever: each 429 puts the propose job back (not an attempt), and
 * failed calls are refunded for billing. Requests still count toward the caps, so the provider is
 * asked at most callsPerDay times, and every cycle ends (before, 72 requests under a daily cap of
 * 6, and the cycles never ended).
 */
it('a provider answering 429 for ever gets at most the daily cap in requests, and every cycle ends', async () => {
  server = await startModelServer(() => ({ status: 429, headers: { 'retry-after': '0' } }));
  const gaps = ['Add a helper a', 'Add a helper b', 'Add a helper c', 'Add a helper d'];
  const repo = await repoWithGaps(gaps);
  h = await createHarness({
    repo,
    env: { PRBOT_TEST_KEY: 'k' },
    config: {
      models: openaiModels(server),
      budget: { callsPerDay: 6, perCycle: { calls: 2 } },
      queues: { propose: { limiter: null } },
    },
  });
  const run = await runAll(h.rt, { timeoutMs: 60_000 });
  expect(run.records).toHaveLength(gaps.length);
  expect(server.requests.length).toBeLessThanOrEqual(6);
  // Each cycle ended on a cap of requests: its own (model_failed) or the day's (skipped_cost).
  for (const r of run.records)
    expect(r.reason).toMatch(/this cycle has made its 2 model requests|daily request cap reached/);
  for (const r of run.records) expect(['model_failed', 'skipped_cost']).toContain(r.outcome);
  // Nothing billed for the 429s.
  expect((await h.rt.budget.today()).calls.used).toBe(0);
});
