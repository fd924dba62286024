import { afterEach, expect, it } from 'vitest';
import { Budget, QUEUE_NAMES } from '@prbot/pipeline';
import type { Harness, ModelServer } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { startWorkers } from '@prbot/worker';
import { gapNumber, passingAnswer } from './answers.ts';
import { closeWorlds, recordRow, reliabilityWorld, scanSecrets, SECRET_ENV } from './support.ts';

let h: Harness | undefined;
let server: ModelServer | undefined;
afterEach(async () => {
  await closeWorlds();
  h = server = undefined;
});

/**
 * Jobs racing for the budget: three times the bucket of 20 calls, every one in flight at once
 * (two worker sets of concurrency 50). Checked to fail with a non-atomic reserve (read, compare,
 * then HINCRBY from the worker): 60 racers got 29 calls through a bucket of 20.
 */
const WIDTH = 60;

async function race(budget: Record<string, unknown>, maxTokens: number) {
  // Usage as a real tokenizer reports it: ~3.5 characters a prompt token, the completion near max_tokens.
  ({ h, server } = await reliabilityWorld({
    gaps: WIDTH,
    script: (req) => {
      const prompt = Math.ceil(req.body.messages.map((m) => m.content).join('\n').length / 3.5);
      return {
        ...passingAnswer(gapNumber(req)),
        delayMs: 50,
        usage: { prompt_tokens: prompt, completion_tokens: maxTokens - 100, total_tokens: prompt + maxTokens - 100 },
      };
    },
    config: {
      models: { maxTokens },
      budget,
      policy: { maxGapsPerRun: WIDTH },
      queues: { propose: { concurrency: 50 } },
    },
  }));
  const rt = h.rt;
  // Two worker sets on separate connections: every reservation can be in flight at once.
  const a = startWorkers(rt, defaultPolicy, { queues: ['propose'] });
  const second = h.runtime({ env: SECRET_ENV });
  const b = startWorkers(second, defaultPolicy, { queues: ['propose'] });
  const ids = (await produce(rt, defaultPolicy)).lines.map((l) => l.cycleId!);
  // Let the propose jobs race; the cycles that got a call hand over to apply, which no one runs.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && (await rt.queues.propose.count()) + (await rt.queues.propose.getActiveCount()) > 0)
    await new Promise((r) => setTimeout(r, 50));
  await a.close(2000);
  await b.close(2000);
  return { rt, ids };
}

it(`${WIDTH} concurrent propose jobs against a bucket of 20 calls: exactly 20 requests reach the model server`, async () => {
  const { rt, ids } = await race({ callsPerDay: 20, tokensPerDay: 10_000_000 }, 1000);
  expect(ids).toHaveLength(WIDTH);
  const handedOver = await rt.queues.apply.count();
  const costSkips = Number(
    (await rt.redis.hget(rt.keys.stats(new Date().toISOString().slice(0, 10)), 'skipped_cost')) ?? 0,
  );
  recordRow({
    fault: `budget race: ${WIDTH} concurrent propose jobs, bucket of 20 calls`,
    injections: WIDTH,
    inFlight: WIDTH,
    lost: WIDTH - handedOver - costSkips,
    duplicates: Math.max(0, server!.requests.length - 20),
    notes: `${server!.requests.length} requests reached the model server; ${handedOver} handed over, ${costSkips} skipped_cost`,
  });
  expect(server!.requests).toHaveLength(20);
  expect(handedOver).toBe(20);
  expect(costSkips).toBe(WIDTH - 20);
  expect(await scanSecrets(h!, rt, [], 'budget race (calls)')).toBe(0);
  void QUEUE_NAMES;
}, 120_000);

it("tokens never go over the cap by more than one call's max_tokens", async () => {
  const cap = 30_000;
  const maxTokens = 1000;
  const { rt } = await race({ callsPerDay: 1000, tokensPerDay: cap }, maxTokens);
  const used = (await rt.budget.today()).tokens.used;
  recordRow({
    fault: `budget race: ${WIDTH} concurrent propose jobs, token cap 30,000`,
    injections: WIDTH,
    inFlight: WIDTH,
    lost: 0,
    duplicates: 0,
    notes: `${server!.requests.length} calls made; ${used} tokens used of ${cap} (allowed overshoot: one call's max_tokens, ${maxTokens})`,
  });
  expect(used).toBeLessThanOrEqual(cap + maxTokens);
  expect(server!.requests.length).toBeGreaterThan(5);
}, 120_000);

/**
 * The rows' positive control: the same race of 60 concurrent reservations on a real Redis, once
 * through the budget's atomic script (Budget.reserve) and once through the reserve it replaced
 * (read the bucket, compare with the cap, then HINCRBY from the worker: the defence off).
 */
it('positive control: 60 concurrent reservations through a non-atomic reserve (read, compare, HINCRBY) overrun the bucket; the atomic script does not', async () => {
  ({ h, server } = await reliabilityWorld({ gaps: 1 }));
  const rt = h.rt;
  const calls = 20;
  const cap = 30_000;
  const maxTokens = 1000;
  const limits = {
    calls: { callsPerDay: calls, tokensPerDay: 10_000_000 },
    tokens: { callsPerDay: 1000, tokensPerDay: cap },
  };
  const atomic = async (which: keyof typeof limits) => {
    const b = new Budget(rt.redis, rt.keys, {
      ...rt.cfg.budget,
      ...limits[which],
      perCycle: { calls: 1000, tokens: 10_000_000 },
    });
    const rs = await Promise.all(Array.from({ length: WIDTH }, (_, i) => b.reserve(`atomic-${which}-${i}`, maxTokens)));
    return rs.filter((r) => r.granted).length;
  };
  const naive = async (which: keyof typeof limits) => {
    const key = rt.keys.budgetDay(`naive-${which}`);
    const { callsPerDay, tokensPerDay } = limits[which];
    const rs = await Promise.all(
      Array.from({ length: WIDTH }, async () => {
        const [c, t] = (await rt.redis.hmget(key, 'calls', 'tokens')).map((v) => Number(v ?? 0));
        if (c! + 1 > callsPerDay || t! + maxTokens > tokensPerDay) return false;
        await rt.redis.multi().hincrby(key, 'calls', 1).hincrby(key, 'tokens', maxTokens).exec();
        return true;
      }),
    );
    const [c, t] = (await rt.redis.hmget(key, 'calls', 'tokens')).map((v) => Number(v ?? 0));
    await rt.redis.del(key);
    return { granted: rs.filter(Boolean).length, calls: c!, tokens: t! };
  };
  const atomicCalls = await atomic('calls');
  const naiveCalls = await naive('calls');
  await rt.redis.del(rt.keys.budgetDay(new Date().toISOString().slice(0, 10)));
  const atomicTokens = await atomic('tokens');
  const naiveTokens = await naive('tokens');
  console.log(
    `bucket of ${calls} calls: atomic ${atomicCalls} granted, non-atomic ${naiveCalls.granted}; token cap ${cap}: atomic ${atomicTokens * maxTokens} tokens reserved, non-atomic ${naiveTokens.tokens}`,
  );
  expect(atomicCalls).toBe(calls);
  expect(atomicTokens * maxTokens).toBeLessThanOrEqual(cap);
  // The control: without the atomic script the same race takes more than the bucket holds.
  expect(naiveCalls.granted).toBeGreaterThan(calls);
  expect(naiveTokens.tokens).toBeGreaterThan(cap + maxTokens);
}, 120_000);
