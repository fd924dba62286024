import { afterEach, expect, it } from 'vitest';
import { requestCapDefence } from '@prbot/pipeline';
import { createHarness, startModelServer, type Harness, type ModelServer } from '@prbot/test-support';
import { openaiModels, repoWithGaps, runAll } from '../helpers.ts';

let h: Harness | undefined;
let server: ModelServer | undefined;

afterEach(async () => {
  requestCapDefence.on = true;
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

/**
 * The positive control of the above, and of the reliability rows "model outage: HTTP 500 …" and
 * "every provider answering 5xx/429 …": the same provider with the request cap switched off (a
 * failed call refunded request and all, as before issue 27) is asked past the daily cap of 6.
 */
it('positive control: with failed requests refunded (the request cap off), the same 429s are asked past the daily cap and no cycle ends', async () => {
  // retry-after 1, not 0: a 429 with "retry-after: 0" makes BullMQ's rateLimit(0) fail ("invalid
  // expire time"), which spends an attempt and would end the cycles for a reason of its own.
  server = await startModelServer(() => ({ status: 429, headers: { 'retry-after': '1' } }));
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
  requestCapDefence.on = false;
  const err = await runAll(h.rt, { timeoutMs: 15_000 }).catch((e: unknown) => e);
  console.log(`request cap off: ${server.requests.length} requests under a daily cap of 6; ${(err as Error).message}`);
  // The control: the provider is asked past the day's cap (the defended run above: at most 6),
  // and no cycle ends while it answers 429.
  expect((err as Error).message).toMatch(/cycles without an outcome after 15000 ms/);
  expect(server.requests.length).toBeGreaterThan(6);
});
