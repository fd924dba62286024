import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Budget, ClockSkewError, type BudgetLimits, type RepoShare } from './budget.ts';
import type { ReplicaWait } from './replica-wait.ts';
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

  it('a grant carries the day, the cycle, the tokens and the day totals after it', async () => {
    const b = budget();
    await b.reserve('c0', 100);
    expect(await b.reserve('c1', 250)).toEqual({
      granted: true,
      day: '2026-11-24',
      cycleId: 'c1',
      tokens: 250,
      callsUsed: 2,
      tokensUsed: 350,
    });
  });

  it('names each refusal with the numbers, and only day refusals say when to retry', async () => {
    const day = Date.UTC(2026, 10, 25);
    const calls = budget({ callsPerDay: 1 });
    await calls.reserve('a', 1);
    expect(await calls.reserve('b', 1)).toEqual({
      granted: false,
      reason: 'day_calls',
      retryAt: day,
      message: 'daily call budget spent (1/1 calls)',
    });
    const tokens = budget({ tokensPerDay: 1000 });
    await tokens.reserve('a', 600);
    expect(await tokens.reserve('b', 500)).toEqual({
      granted: false,
      reason: 'day_tokens',
      retryAt: day,
      message: 'daily token budget cannot cover 500 more tokens (600/1000 used)',
    });
    const cycle = budget({ perCycle: { calls: 1, tokens: 1000 } });
    await cycle.reserve('a', 1);
    expect(await cycle.reserve('a', 1)).toEqual({
      granted: false,
      reason: 'cycle_calls',
      retryAt: null,
      message: 'this cycle has used its 1 model calls',
    });
    expect(await cycle.reserve('b', 1001)).toEqual({
      granted: false,
      reason: 'cycle_tokens',
      retryAt: null,
      message: 'this cycle cannot spend 1001 more tokens (cap 1000 per cycle)',
    });
  });

  it('a refund gives back the call and its tokens but the request stays counted, against the day and the cycle', async () => {
    const day = budget({ callsPerDay: 1 });
    const r = await day.reserve('a', 800);
    if (!r.granted) throw new Error('refused');
    await day.refund(r);
    expect((await day.today()).calls.used).toBe(0);
    expect((await day.today()).tokens.used).toBe(0);
    expect(await day.reserve('b', 1)).toEqual({
      granted: false,
      reason: 'day_calls',
      retryAt: Date.UTC(2026, 10, 25),
      byRequests: true,
      message:
        'daily request cap reached (1/1 requests today, failed and rate-limited ones included: they are not billed but count as requests)',
    });
    const cycle = budget({ perCycle: { calls: 1, tokens: 1000 } });
    const c = await cycle.reserve('a', 10);
    if (!c.granted) throw new Error('refused');
    await cycle.refund(c);
    expect(await cycle.reserve('a', 10)).toEqual({
      granted: false,
      reason: 'cycle_calls',
      retryAt: null,
      byRequests: true,
      message: 'this cycle has made its 1 model requests (failed and rate-limited ones included)',
    });
    // A release (the call was never sent) gives the request back too.
    const rel = budget({ callsPerDay: 1 });
    const x = await rel.reserve('a', 5);
    if (!x.granted) throw new Error('refused');
    await rel.release(x);
    expect((await rel.reserve('b', 5)).granted).toBe(true);
  });

  it('today never shows a negative allowance when the caps were lowered below what was spent', async () => {
    const k = keys(`${prefix}-${randomBytes(3).toString('hex')}`);
    const now = () => Date.UTC(2026, 10, 24, 12);
    const before = new Budget(redis, k, { ...limits, callsPerDay: 3 }, now);
    for (const c of ['a', 'b', 'c']) await before.reserve(c, 100);
    const after = await new Budget(redis, k, { ...limits, callsPerDay: 2, tokensPerDay: 200 }, now).today();
    expect(after).toEqual({
      day: '2026-11-24',
      calls: { used: 3, cap: 2, left: 0 },
      tokens: { used: 300, cap: 200, left: 0 },
      resetsAt: '2026-11-25T00:00:00.000Z',
      hours: [{ hour: 12, calls: 3, tokens: 300 }],
    });
  });

  describe("a repository's share of the day, reserved with the day's bucket: both or neither", () => {
    const NOON = () => Date.UTC(2026, 10, 24, 12);
    const DAY = '2026-11-24';
    const share = (repo: string, callsPerDay: number, tokensPerDay = 1_000_000): RepoShare => ({
      repo,
      callsPerDay,
      tokensPerDay,
    });
    function world(l: Partial<BudgetLimits> = {}) {
      const k = keys(`${prefix}-${randomBytes(3).toString('hex')}`);
      const figures = async (key: string) => {
        const h = await redis.hgetall(key);
        return { calls: Number(h.calls ?? 0), tokens: Number(h.tokens ?? 0), requests: Number(h.requests ?? 0) };
      };
      return {
        k,
        limits: { ...limits, ...l },
        b: new Budget(redis, k, { ...limits, ...l }, NOON),
        day: () => figures(k.budgetDay(DAY)),
        repo: (name: string) => figures(k.budgetRepoDay(name, DAY)),
      };
    }

    it('a spent share stops that repository only, and its refusal charges neither bucket', async () => {
      const w = world();
      const a = share('org/a', 2);
      expect((await w.b.reserve('a1', 10, a)).granted).toBe(true);
      expect((await w.b.reserve('a2', 10, a)).granted).toBe(true);
      expect(await w.b.reserve('a3', 10, a)).toMatchObject({
        granted: false,
        reason: 'repo_calls',
        retryAt: Date.UTC(2026, 10, 25),
        message: "org/a's daily call share spent (2/2 calls)",
      });
      expect(await w.b.reserve('b1', 10, share('org/b', 2))).toMatchObject({ granted: true, repo: 'org/b' });
      expect(await w.day()).toEqual({ calls: 3, tokens: 30, requests: 3 });
      expect(await w.repo('org/a')).toEqual({ calls: 2, tokens: 20, requests: 2 });
      // Control: the same reservation without the share is granted: the share is what refused it.
      expect((await w.b.reserve('a3', 10)).granted).toBe(true);
    });

    it("a share's tokens are capped like the day's", async () => {
      const w = world();
      const a = share('org/a', 100, 1500);
      expect((await w.b.reserve('a1', 1000, a)).granted).toBe(true);
      expect(await w.b.reserve('a2', 1000, a)).toMatchObject({
        granted: false,
        reason: 'repo_tokens',
        message: "org/a's daily token share cannot cover 1000 more tokens (1000/1500 used)",
      });
      expect((await w.b.reserve('a2', 500, a)).granted).toBe(true);
      expect(await w.repo('org/a')).toEqual({ calls: 2, tokens: 1500, requests: 2 });
    });

    it('the spent day stops every repository, and no share is charged for the refusal', async () => {
      const w = world({ callsPerDay: 2 });
      expect((await w.b.reserve('a1', 10, share('org/a', 10))).granted).toBe(true);
      expect((await w.b.reserve('b1', 10, share('org/b', 10))).granted).toBe(true);
      for (const [c, r] of [
        ['a2', 'org/a'],
        ['b2', 'org/b'],
      ] as const)
        expect(await w.b.reserve(c, 10, share(r, 10))).toMatchObject({ granted: false, reason: 'day_calls' });
      expect(await w.repo('org/a')).toEqual({ calls: 1, tokens: 10, requests: 1 });
      expect(await w.repo('org/b')).toEqual({ calls: 1, tokens: 10, requests: 1 });
    });

    it('a cycle cap refuses before any share is charged', async () => {
      const w = world({ perCycle: { calls: 1, tokens: 1_000_000 } });
      expect((await w.b.reserve('c1', 10, share('org/a', 10))).granted).toBe(true);
      expect(await w.b.reserve('c1', 10, share('org/a', 10))).toMatchObject({ granted: false, reason: 'cycle_calls' });
      expect(await w.repo('org/a')).toEqual({ calls: 1, tokens: 10, requests: 1 });
    });

    /** 60 reservations from 10 connections, 30 per repository, all at once. */
    async function race(w: ReturnType<typeof world>, a: RepoShare, b: RepoShare) {
      const conns = Array.from({ length: 10 }, () => new Redis(TEST_REDIS_URL));
      const budgets = conns.map((c) => new Budget(c, w.k, w.limits, NOON));
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) => budgets[i % 10]!.reserve(`c${i}`, 1000, i % 2 ? b : a)),
      );
      await Promise.all(conns.map((c) => c.quit()));
      const granted = (repo: string) => results.filter((r) => r.granted && r.repo === repo).length;
      return { a: granted(a.repo), b: granted(b.repo) };
    }

    it('concurrent reservations from many connections never overshoot a share', async () => {
      const w = world();
      // org/a is bound by tokens (5 × 1000), org/b by calls (4); the day has room for both.
      const got = await race(w, share('org/a', 100, 5000), share('org/b', 4));
      expect(got).toEqual({ a: 5, b: 4 });
      expect(await w.repo('org/a')).toEqual({ calls: 5, tokens: 5000, requests: 5 });
      expect(await w.repo('org/b')).toEqual({ calls: 4, tokens: 4000, requests: 4 });
      expect(await w.day()).toEqual({ calls: 9, tokens: 9000, requests: 9 });
    });

    it('concurrent reservations from many connections never overshoot the day, and the shares agree with it', async () => {
      const w = world({ callsPerDay: 7 });
      const got = await race(w, share('org/a', 5), share('org/b', 5));
      // The day binds (7 < 5 + 5): exactly 7 grants, no share past its 5.
      expect(got.a + got.b).toBe(7);
      expect(got.a).toBeLessThanOrEqual(5);
      expect(got.b).toBeLessThanOrEqual(5);
      expect((await w.repo('org/a')).calls).toBe(got.a);
      expect((await w.repo('org/b')).calls).toBe(got.b);
      expect(await w.day()).toEqual({ calls: 7, tokens: 7000, requests: 7 });
    });

    it('settle, refund and release give back to the day and the share together', async () => {
      const w = world();
      const a = share('org/a', 10);
      const r = await w.b.reserve('c1', 5000, a);
      if (!r.granted) throw new Error('refused');
      await w.b.settle(r, 1200);
      expect(await w.day()).toEqual({ calls: 1, tokens: 1200, requests: 1 });
      expect(await w.repo('org/a')).toEqual({ calls: 1, tokens: 1200, requests: 1 });
      const r2 = await w.b.reserve('c2', 800, a);
      if (!r2.granted) throw new Error('refused');
      await w.b.refund(r2);
      // Refunded for billing, the request stays counted, in both.
      expect(await w.day()).toEqual({ calls: 1, tokens: 1200, requests: 2 });
      expect(await w.repo('org/a')).toEqual({ calls: 1, tokens: 1200, requests: 2 });
      const r3 = await w.b.reserve('c3', 300, a);
      if (!r3.granted) throw new Error('refused');
      await w.b.release(r3);
      expect(await w.day()).toEqual({ calls: 1, tokens: 1200, requests: 2 });
      expect(await w.repo('org/a')).toEqual({ calls: 1, tokens: 1200, requests: 2 });
    });

    it("a share's failed requests stop it like the day's do", async () => {
      const w = world();
      const a = share('org/a', 1);
      const r = await w.b.reserve('c1', 10, a);
      if (!r.granted) throw new Error('refused');
      await w.b.refund(r);
      expect(await w.b.reserve('c2', 10, a)).toMatchObject({
        granted: false,
        reason: 'repo_calls',
        byRequests: true,
        message: expect.stringMatching(/^org\/a's daily request share reached \(1\/1 requests today/),
      });
    });

    it("without a share the keys are exactly the day's and the cycle's", async () => {
      const w = world();
      const r = await w.b.reserve('c1', 10);
      expect(r).not.toHaveProperty('repo');
      if (!r.granted) throw new Error('refused');
      await w.b.settle(r, 5);
      const all = await redis.keys(`${w.k.budgetDay('').slice(0, -'budget:'.length)}*`);
      expect(all.sort()).toEqual([w.k.budgetDay(DAY), w.k.budgetCycle('c1')].sort());
    });
  });

  describe('one write, confirmed on a replica, charged once', () => {
    /** A replica wait whose answers are scripted; `mark` may throw to stand for a Redis error. */
    function scripted(confirms: boolean[], marks: (() => number)[] = []) {
      const seen = { marks: 0, confirms: [] as string[] };
      const w: ReplicaWait = {
        mark: () => (marks[seen.marks++] ?? (() => 0))(),
        confirm: async (what) => {
          seen.confirms.push(what);
          return confirms.shift() ?? true;
        },
        counts: { confirmed: 0, unconfirmed: 0, skipped: 0 },
      };
      return { w, seen };
    }
    const limited = (w: ReplicaWait) =>
      new Budget(
        redis,
        keys(`${prefix}-${randomBytes(3).toString('hex')}`),
        limits,
        () => Date.UTC(2026, 10, 24, 12),
        w,
      );

    it('an unconfirmed reservation is written again under its id and charged once', async () => {
      const { w, seen } = scripted([false, false, true]);
      const b = limited(w);
      expect(await b.reserve('c1', 100)).toMatchObject({ granted: true, callsUsed: 1, tokensUsed: 100 });
      expect(seen.confirms).toEqual(['a budget reservation', 'a budget reservation', 'a budget reservation']);
      expect((await b.today()).calls.used).toBe(1);
    });

    it('settle, refund and release wait for their own confirmation', async () => {
      const { w, seen } = scripted([]);
      const b = limited(w);
      const r = await b.reserve('c1', 100);
      if (!r.granted) throw new Error('refused');
      await b.settle(r, 40);
      await b.refund({ ...r, tokens: 40 });
      const r2 = await b.reserve('c2', 10);
      if (!r2.granted) throw new Error('refused');
      await b.release(r2);
      expect(seen.confirms).toEqual([
        'a budget reservation',
        'a budget settlement',
        'a budget refund',
        'a budget reservation',
        'a budget release',
      ]);
      expect((await b.today()).tokens.used).toBe(0);
    });

    it('a refusal wrote nothing, so no replica is waited on for it', async () => {
      const { w, seen } = scripted([]);
      const b = new Budget(
        redis,
        keys(`${prefix}-${randomBytes(3).toString('hex')}`),
        { ...limits, callsPerDay: 1 },
        () => Date.UTC(2026, 10, 24, 12),
        w,
      );
      expect((await b.reserve('c1', 1)).granted).toBe(true);
      expect((await b.reserve('c2', 1)).granted).toBe(false);
      expect(seen.confirms).toEqual(['a budget reservation']);
    });

    it('a transient Redis error is waited out; any other error goes to the caller at once', async () => {
      const transient = () => {
        throw new Error('LOADING Redis is loading the dataset in memory');
      };
      const { w, seen } = scripted([], [transient, transient]);
      expect(await limited(w).reserve('c1', 1)).toMatchObject({ granted: true });
      expect(seen.marks).toBe(3);
      const fatal = scripted(
        [],
        [
          () => {
            throw new Error('ERR unknown command');
          },
        ],
      );
      await expect(limited(fatal.w).reserve('c1', 1)).rejects.toThrow('ERR unknown command');
      expect(fatal.seen.marks).toBe(1);
    });
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

    it("a worker whose clock is still on yesterday spends the server's day, and its repository's share of it", async () => {
      const k = keys(`${prefix}-${randomBytes(3).toString('hex')}`);
      const server = await serverNow();
      vi.useFakeTimers({ toFake: ['Date'] });
      // Noon of the server's yesterday: the server's day is the worker's tomorrow.
      vi.setSystemTime(Math.floor(server / 86_400_000) * 86_400_000 - 12 * 3600_000);
      const b = new Budget(redis, k, limits);
      const r = await b.reserve('c1', 10, { repo: 'org/a', callsPerDay: 5, tokensPerDay: 100 });
      vi.useRealTimers();
      const today = utcDay(await serverNow());
      expect(r).toMatchObject({ granted: true, day: today, repo: 'org/a' });
      expect(await redis.hget(k.budgetDay(today), 'calls')).toBe('1');
      expect(await redis.hget(k.budgetRepoDay('org/a', today), 'calls')).toBe('1');
    });

    it("a worker whose clock is already on tomorrow spends the server's day, and its repository's share of it", async () => {
      const k = keys(`${prefix}-${randomBytes(3).toString('hex')}`);
      const server = await serverNow();
      vi.useFakeTimers({ toFake: ['Date'] });
      // Noon of the server's tomorrow: the server's day is the worker's yesterday.
      vi.setSystemTime((Math.floor(server / 86_400_000) + 1) * 86_400_000 + 12 * 3600_000);
      const b = new Budget(redis, k, limits);
      const r = await b.reserve('c1', 10, { repo: 'org/a', callsPerDay: 5, tokensPerDay: 100 });
      vi.useRealTimers();
      const today = utcDay(await serverNow());
      expect(r).toMatchObject({ granted: true, day: today, repo: 'org/a' });
      expect(await redis.hget(k.budgetRepoDay('org/a', today), 'calls')).toBe('1');
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

describe('budget burn through the day', () => {
  it("keeps each UTC hour's calls and tokens: charged when reserved, adjusted by the settlement, given back by a refund", async () => {
    let t = Date.UTC(2026, 10, 24, 1, 30);
    const b = budget({}, () => t);
    const first = await b.reserve('cburn1', 1000);
    if (!first.granted) throw new Error('refused');
    await b.settle(first, 400);
    t = Date.UTC(2026, 10, 24, 5, 10);
    const second = await b.reserve('cburn2', 2000);
    const third = await b.reserve('cburn3', 500);
    if (!second.granted || !third.granted) throw new Error('refused');
    await b.refund(third);
    expect((await b.today()).hours).toEqual([
      { hour: 1, calls: 1, tokens: 400 },
      { hour: 5, calls: 1, tokens: 2000 },
    ]);
    // The hours add up to the day's figures.
    const today = await b.today();
    expect(today.calls.used).toBe(2);
    expect(today.tokens.used).toBe(2400);
  });
});
