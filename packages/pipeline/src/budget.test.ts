import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Budget, ClockSkewError, type BudgetLimits } from './budget.ts';
import { utcDay } from '@prbot/core';
import { keys } from './keys.ts';
import { TEST_REDIS_URL } from '@prbot/test-support';

const limits: BudgetLimits = {
  callsPerDay: 20,
  tokensPerDay: 160_000,
  onExhausted: 'skip',
  perCycle: { calls: 100, tokens: 1_000_000 },
};
let redis: Redis;
const prefix = `{prbot-b${randomBytes(4).toString('hex')}}`;

beforeAll(() => {
  redis = new Redis(TEST_REDIS_URL);
});
afterAll(async () => {
  const ks = await redis.keys(`${prefix}:*`);
  if (ks.length) await redis.del(...ks);
  await redis.quit();
});

function budget(l: Partial<BudgetLimits> = {}, now = () => Date.UTC(2026, 10, 24, 12)) {
  return new Budget(redis, keys(`${prefix}-${randomBytes(3).toString('hex')}`), { ...limits, ...l }, now);
}

describe('budget', () => {
  it('grants exactly 20 of 50 concurrent reservations against a bucket of 20', async () => {
    const b = budget();
    // Separate connections so the 50 requests really interleave at the server.
    const conns = Array.from({ length: 10 }, () => new Redis(TEST_REDIS_URL));
    const budgets = conns.map(
      (c) =>
        new Budget(c, (b as unknown as { keys: ReturnType<typeof keys> }).keys, limits, () =>
          Date.UTC(2026, 10, 24, 12),
        ),
    );
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => budgets[i % 10]!.reserve(`c${i}`, 1000)));
    await Promise.all(conns.map((c) => c.quit()));
    expect(results.filter((r) => r.granted)).toHaveLength(20);
    const refused = results.filter((r) => !r.granted);
    expect(refused).toHaveLength(30);
    expect(refused[0]).toMatchObject({ reason: 'day_calls', retryAt: Date.UTC(2026, 10, 25) });
    expect((await b.today()).calls).toEqual({ used: 20, cap: 20, left: 0 });
  });

  it('settling refunds reserved tokens that were not used', async () => {
    const b = budget();
    const r = await b.reserve('c1', 5000);
    if (!r.granted) throw new Error('refused');
    expect((await b.today()).tokens.used).toBe(5000);
    await b.settle(r, 1200);
    expect((await b.today()).tokens).toMatchObject({ used: 1200, left: 160_000 - 1200 });
  });

  it('release gives back the call and its tokens', async () => {
    const b = budget();
    const r = await b.reserve('c1', 800);
    if (!r.granted) throw new Error('refused');
    await b.release(r);
    const t = await b.today();
    expect([t.calls.used, t.tokens.used]).toEqual([0, 0]);
  });

  it('refuses tokens beyond the day cap', async () => {
    const b = budget({ tokensPerDay: 10_000 });
    expect((await b.reserve('c1', 8000)).granted).toBe(true);
    const r = await b.reserve('c2', 4000);
    expect(r).toMatchObject({ granted: false, reason: 'day_tokens' });
  });

  it('rolls over at UTC midnight', async () => {
    let now = Date.UTC(2026, 10, 24, 23, 59, 59);
    const b = budget({ callsPerDay: 2 }, () => now);
    expect((await b.reserve('a', 1)).granted).toBe(true);
    expect((await b.reserve('b', 1)).granted).toBe(true);
    expect((await b.reserve('c', 1)).granted).toBe(false);
    expect((await b.today()).resetsAt).toBe('2026-11-25T00:00:00.000Z');
    now = Date.UTC(2026, 10, 25, 0, 0, 0);
    expect((await b.today()).calls.used).toBe(0);
    expect((await b.reserve('d', 1)).granted).toBe(true);
  });

  it('caps one cycle next to the day, and a cycle refusal never lifts', async () => {
    const b = budget({ perCycle: { calls: 2, tokens: 100_000 } });
    expect((await b.reserve('same', 10)).granted).toBe(true);
    expect((await b.reserve('same', 10)).granted).toBe(true);
    expect(await b.reserve('same', 10)).toMatchObject({ granted: false, reason: 'cycle_calls', retryAt: null });
    expect((await b.reserve('other', 10)).granted).toBe(true);
  });

  describe("the day is the Redis server's, not the worker's", () => {
    afterEach(() => vi.useRealTimers());
    async function serverNow(): Promise<number> {
      const [sec, us] = await redis.time();
      return Number(sec) * 1000 + Math.floor(Number(us) / 1000);
    }

    it('a worker whose clock runs 20 hours ahead still spends the server day', async () => {
      const k = keys(`${prefix}-${randomBytes(3).toString('hex')}`);
      const server = await serverNow();
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(server + 20 * 3600_000);
      const b = new Budget(redis, k, limits); // no clock: production wiring
      const r = await b.reserve('c1', 10);
      vi.useRealTimers();
      if (!r.granted) throw new Error('refused');
      expect(r.day).toBe(utcDay(await serverNow()));
      expect(await redis.hget(k.budgetDay(utcDay(await serverNow())), 'calls')).toBe('1');
      expect((await b.today()).day).toBe(utcDay(await serverNow()));
    });

    it('two workers a day apart share one bucket: a clock off by more than a day is refused by name', async () => {
      const k = keys(`${prefix}-${randomBytes(3).toString('hex')}`);
      const server = await serverNow();
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(server + 3 * 86_400_000);
      const b = new Budget(redis, k, limits);
      const err = await b.reserve('c1', 10).catch((e: unknown) => e);
      vi.useRealTimers();
      expect(err).toBeInstanceOf(ClockSkewError);
      expect((err as Error).message).toMatch(/more than a day away from the Redis server's/);
      expect(await redis.keys(`${k.budgetDay('*')}`)).toEqual([]);
    });
  });
});
