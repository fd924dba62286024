import { readdir } from 'node:fs/promises';
import { afterEach, expect, it } from 'vitest';
import { runAll } from '@prbot/worker';
import { gapNumber, passingAnswer } from './answers.ts';
import { closeWorlds, recordRow, reliabilityWorld, scanSecrets } from './support.ts';

afterEach(closeWorlds);

/**
 * Issue 13's row: every provider answers 5xx or 429 for a whole outage, with a per-cycle cap of
 * 2 model calls. Failed calls are refunded (the day's budget does not pay for the outage), but
 * each is a request, and the cap bounds requests (issue 27): each cycle asks twice, then ends
 * model_failed.
 * The outage lasts PRBOT_OUTAGE_MS (default 60 s, the issue's figure; vitest.reliability.config.ts
 * sets 20 s for CI), and in any case until the first wave of retries has ended: the outage
 * outlasts every retry by construction. The backoff scales with it.
 */
const OUTAGE_MS = Number(process.env.PRBOT_OUTAGE_MS ?? 60_000);
const GAPS = 4;

it(
  `every provider answering 5xx/429 for ${OUTAGE_MS / 1000} s or more (past every retry), per-cycle cap 2 calls: model_failed, nothing charged; back, each gap gets one call and its PR`,
  async () => {
    let outageEnds = Number.POSITIVE_INFINITY;
    let n = 0;
    const { h, server } = await reliabilityWorld({
      gaps: GAPS,
      script: (req) => {
        if (Date.now() >= outageEnds) return passingAnswer(gapNumber(req));
        // Both providers down: mostly 502/503, every fourth request a 429 that pauses the queue 1 s.
        n++;
        if (n % 4 === 0) return { status: 429, headers: { 'retry-after': '1' } };
        return { status: n % 2 ? 503 : 502 };
      },
      providers: ['primary', 'fallback'],
      config: {
        models: { timeoutMs: 2000 },
        budget: { perCycle: { calls: 2 } },
        // 4 attempts a tenth of the outage apart (6 s for 60 s), plus 429 pauses: every attempt of
        // the first wave falls inside the outage, spread over its first half.
        queues: {
          propose: {
            attempts: 4,
            backoff: { type: 'fixed', delay: Math.round(OUTAGE_MS / 10) },
            limiter: { max: 100, duration: 1000 },
          },
        },
      },
    });
    const rt = h.rt;
    const started = Date.now();

    // The providers stay down for OUTAGE_MS, and longer if the first wave of retries has not ended
    // by then (a loaded machine): every attempt of it falls inside the outage, by construction
    // rather than by a race against the clock, which failed on a loaded 2-core machine.
    const during = await runAll(rt, { timeoutMs: OUTAGE_MS + 240_000 });
    const reqsDuring = server.requests.length;
    const spentDuring = await rt.budget.today();
    const cycleCalls = await Promise.all(
      during.records.map(async (r) => Number((await rt.redis.hget(rt.keys.budgetCycle(r.cycle_id), 'calls')) ?? 0)),
    );
    const endedAt = Date.now();
    outageEnds = Math.max(started + OUTAGE_MS, endedAt);
    const outageS = Math.round((outageEnds - started) / 1000);

    // The rest of the fault's length, not a wait for an event: the providers stay down until it ends.
    await new Promise((r) => setTimeout(r, Math.max(0, outageEnds - Date.now())));
    const before = server.requests.length;
    // A deadline, not a speed claim: four whole cycles on a loaded 2-core machine took over 60 s.
    const after = await runAll(rt, { timeoutMs: 240_000 });
    const callsAfter = server.requests.length - before;
    const prs = (await readdir((h.cfg.forge as { prDir: string }).prDir).catch(() => [] as string[])).filter((f) =>
      f.endsWith('.json'),
    );

    const ids = [...during.records, ...after.records].map((r) => r.cycle_id);
    const lost = 2 * GAPS - during.records.length - after.records.length;
    const duplicates = ids.length - new Set(ids).size + Math.max(0, prs.length - GAPS) + Math.max(0, callsAfter - GAPS);
    const outcomes = (rs: typeof during.records) => [...new Set(rs.map((r) => r.outcome))].join(', ');
    recordRow({
      fault: `every provider answering 5xx/429 for ${outageS} s, per-cycle cap 2 calls = 2 requests (2 rungs, 4 attempts)`,
      injections: reqsDuring,
      inFlight: GAPS,
      lost,
      duplicates,
      notes: `during: ${during.records.length} × ${outcomes(during.records)} after ${reqsDuring} failed requests; budget charged ${spentDuring.calls.used} calls, ${spentDuring.tokens.used} tokens (per cycle: ${cycleCalls.join('/')} calls); back: ${after.records.length} × ${outcomes(after.records)}, ${callsAfter} model calls, ${prs.length} PRs. Outage length PRBOT_OUTAGE_MS=${OUTAGE_MS} (${outageS} s: the first wave ended ${Math.round((endedAt - started) / 1000)} s into it)`,
    });
    expect(during.records.map((r) => r.outcome)).toEqual(Array(GAPS).fill('model_failed'));
    for (const r of during.records)
      expect(r.reason).toMatch(
        /this cycle has made its 2 model requests \(failed and rate-limited ones included\)|every rung is unavailable: primary\/m: HTTP 50\d/,
      );
    // No more requests than the cap allows per cycle (failed ones count as requests), and nothing
    // charged: an outage is not spending.
    expect(reqsDuring).toBeLessThanOrEqual(2 * GAPS);
    expect([spentDuring.calls.used, spentDuring.tokens.used]).toEqual([0, 0]);
    expect(cycleCalls).toEqual(Array(GAPS).fill(0));
    expect(after.records.map((r) => r.outcome)).toEqual(Array(GAPS).fill('ok'));
    expect(callsAfter).toBe(GAPS);
    expect((await rt.budget.today()).calls.used).toBe(GAPS);
    expect(lost).toBe(0);
    expect(duplicates).toBe(0);
    expect(await scanSecrets(h, rt, [], 'model outage')).toBe(0);
  },
  OUTAGE_MS + 600_000,
);
