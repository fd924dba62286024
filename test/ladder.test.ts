import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Budget, keys } from '@prbot/pipeline';
import { type Reservation, ModelRateLimited, runLadder, type ModelsConfig } from '@prbot/model';
import { parseConfig } from '@prbot/config';
import { CycleEnded } from '@prbot/core';
import { startModelServer, type ModelServer, TEST_REDIS_URL } from '@prbot/test-support';

const KEY = 'sk-ladder-secret-0123456789';
const GOOD = JSON.stringify({
  summary: 'adds x',
  files: [{ path: 'src/x.js', is_new: true, content: 'export const x = 1;\n' }],
});
let server: ModelServer;
let redis: Redis;
const prefix = `{prbot-l${randomBytes(4).toString('hex')}}`;

beforeAll(async () => {
  server = await startModelServer();
  redis = new Redis(TEST_REDIS_URL);
});
afterAll(async () => {
  await server.close();
  const ks = await redis.keys(`${prefix}:*`);
  if (ks.length) await redis.del(...ks);
  await redis.quit();
});

function models(extra: Record<string, unknown> = {}): ModelsConfig {
  const raw = {
    repo: { url: '/r' },
    models: {
      providers: {
        loop: { kind: 'openai', baseUrl: server.baseUrl, keyEnv: 'LOOP_KEY' },
        plain: { kind: 'openai', baseUrl: server.baseUrl, structuredOutput: 'json_object' },
      },
      propose: ['loop/a', 'loop/b'],
      timeoutMs: 400,
      ...extra,
    },
  };
  return parseConfig(raw, 'c.json', {}).models;
}

async function ladder(
  m: ModelsConfig,
  rungs: string[],
  script: ModelServer['script'],
  o: { perCycleCalls?: number; cycle?: string; prefix?: string } = {},
) {
  server.requests.length = 0;
  server.script = script;
  const budget = new Budget(redis, keys(o.prefix ?? prefix), {
    callsPerDay: 1000,
    tokensPerDay: 10_000_000,
    onExhausted: 'skip',
    perCycle: { calls: o.perCycleCalls ?? 100, tokens: 10_000_000 },
  });
  const cycle = o.cycle ?? `c${randomBytes(6).toString('hex')}`;
  const first = (await budget.reserve(cycle, 5000)) as Reservation;
  const lb = {
    reserve: (t: number) => budget.reserve(cycle, t),
    settle: budget.settle.bind(budget),
    release: budget.release.bind(budget),
    refund: budget.refund.bind(budget),
  };
  const run = () =>
    runLadder(
      m,
      lb,
      {
        rungs,
        escalated: false,
        messages: [{ role: 'user', content: 'Gap from docs/PRD.md: add x' }],
        gap: { id: 'g000000000001', text: 'add x' },
        priorCycles: 0,
        firstReservation: first,
      },
      { LOOP_KEY: KEY },
      (p) => p,
    );
  return { run, budget, cycle };
}

async function failure(p: Promise<unknown>): Promise<CycleEnded> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CycleEnded) return err;
    throw err;
  }
  throw new Error('expected the ladder to fail');
}

describe('model ladder against a loopback OpenAI-compatible server', () => {
  it('success: the first rung answers; key only in the Authorization header; json_schema asked', async () => {
    const { run } = await ladder(models(), ['loop/a'], () => ({
      content: GOOD,
      usage: { prompt_tokens: 40, completion_tokens: 20, total_tokens: 60 },
    }));
    const r = await run();
    expect(r.proposal.files[0]!.path).toBe('src/x.js');
    expect(r.info).toMatchObject({ rung: 'loop/a', usage: { total_tokens: 60 }, usageEstimated: false });
    const req = server.requests[0]!;
    expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(req.body).toMatchObject({
      model: 'a',
      max_tokens: 4096,
      response_format: { type: 'json_schema', json_schema: { name: 'proposal', strict: true } },
    });
    expect(JSON.stringify(req.body)).not.toContain(KEY);
  });

  it('json_object for providers without schema support', async () => {
    const { run } = await ladder(models({ propose: ['plain/a'] }), ['plain/a'], () => ({ content: GOOD }));
    await run();
    expect(server.requests[0]!.body.response_format).toEqual({ type: 'json_object' });
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('500 falls to the next rung, and the record says which failed and why', async () => {
    const { run } = await ladder(models(), ['loop/a', 'loop/b'], (req) =>
      req.body.model === 'a' ? { status: 500 } : { content: GOOD },
    );
    const r = await run();
    expect(r.info.rung).toBe('loop/b');
    expect(r.info.attempts.map((a) => [a.rung, a.ok, a.error?.slice(0, 8)])).toEqual([
      ['loop/a', false, 'HTTP 500'],
      ['loop/b', true, undefined],
    ]);
  });

  it('a hung server times out and the next rung answers', async () => {
    const { run } = await ladder(models(), ['loop/a', 'loop/b'], (req) =>
      req.body.model === 'a' ? { hang: true } : { content: GOOD },
    );
    const r = await run();
    expect(r.info.rung).toBe('loop/b');
    expect(r.info.attempts[0]!.error).toBe('no answer within 400 ms');
  });

  it('unparseable text on every rung ends model_failed with the parse errors', async () => {
    const { run } = await ladder(models(), ['loop/a', 'loop/b'], () => ({
      content: 'Sure! Here is the change you asked for.',
    }));
    const e = await failure(run());
    expect(e.outcome).toBe('model_failed');
    expect(e.reason).toMatch(/loop\/a: answer is not JSON: .*; loop\/b: answer is not JSON/);
  });

  it('accepts JSON inside a fenced block', async () => {
    const { run } = await ladder(models(), ['loop/a'], () => ({
      content: 'Here you go:\n```json\n' + GOOD + '\n```\nThanks.',
    }));
    expect((await run()).proposal.summary).toBe('adds x');
  });

  it('usage missing: estimated, marked, and the budget settled with the estimate', async () => {
    const { run, budget } = await ladder(models(), ['loop/a'], () => ({ content: GOOD, usage: null }));
    const before = (await budget.today()).tokens.used;
    const r = await run();
    expect(r.info.usageEstimated).toBe(true);
    expect(r.info.usage.total_tokens).toBeGreaterThan(0);
    expect((await budget.today()).tokens.used).toBe(before - 5000 + r.info.usage.total_tokens);
  });

  it('a schema-invalid proposal puts the exact validation error in the reason', async () => {
    const bad = JSON.stringify({ summary: 'x', files: [{ path: 'a.js', is_new: 'yes', content: 'x' }] });
    const e = await failure((await ladder(models(), ['loop/a'], () => ({ content: bad }))).run());
    expect(e.reason).toContain(
      'answer does not match the proposal schema: files.0.is_new: Invalid input: expected boolean, received string',
    );
  });

  it('an error inside a 200 answer (OpenRouter) counts as a failed rung', async () => {
    const { run } = await ladder(models(), ['loop/a', 'loop/b'], (req) =>
      req.body.model === 'a'
        ? { body: JSON.stringify({ error: { code: 502, message: 'provider returned error' } }) }
        : { content: GOOD },
    );
    const r = await run();
    expect(r.info.attempts[0]!.error).toMatch(/error in a 200 answer: provider returned error/);
  });

  it('a disabled model is never called', async () => {
    const m = models({ disabled: { 'loop/a': 'HTTP 500 upstream since Monday' } });
    const { run } = await ladder(m, ['loop/a', 'loop/b'], () => ({ content: GOOD }));
    const r = await run();
    expect(server.requests.map((q) => q.body.model)).toEqual(['b']);
    expect(r.info.attempts[0]).toEqual({
      rung: 'loop/a',
      ok: false,
      error: 'disabled in config: HTTP 500 upstream since Monday',
      ms: 0,
    });
  });

  it('429 with Retry-After stops the ladder and asks the queue to wait that long', async () => {
    const { run } = await ladder(models(), ['loop/a', 'loop/b'], () => ({
      status: 429,
      headers: { 'retry-after': '7' },
    }));
    const err = await run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelRateLimited);
    expect((err as ModelRateLimited).waitMs).toBe(7000);
    expect(server.requests).toHaveLength(1);
  });

  it('never puts the key in an error message', async () => {
    const e = await failure(
      (
        await ladder(models(), ['loop/a'], () => ({
          status: 401,
          body: JSON.stringify({ error: { message: 'invalid key' } }),
        }))
      ).run(),
    );
    expect(e.reason).toContain('HTTP 401: invalid key');
    expect(e.reason).not.toContain(KEY);
  });
});

describe('outages are not spending', () => {
  it('5xx, 429, timeouts are refunded for billing, yet each counts as a request: a cycle capped at 2 calls is asked for 2, then refused', async () => {
    const own = `${prefix}-o${randomBytes(3).toString('hex')}`;
    const cycle = `c${randomBytes(6).toString('hex')}`;
    const failures: ModelServer['script'][] = [
      () => ({ status: 500 }),
      () => ({ status: 429, headers: { 'retry-after': '1' } }),
      () => ({ hang: true }),
      () => ({ status: 503 }),
    ];
    let requests = 0;
    let refused: unknown = null;
    for (const script of failures) {
      server.requests.length = 0;
      server.script = script;
      const budget = new Budget(redis, keys(own), {
        callsPerDay: 1000,
        tokensPerDay: 10_000_000,
        onExhausted: 'skip',
        perCycle: { calls: 2, tokens: 10_000_000 },
      });
      // Each attempt of the propose job reserves its first call before the ladder, as propose.ts does.
      const first = await budget.reserve(cycle, 5000);
      if (!first.granted) {
        refused = first;
        break;
      }
      const lb = {
        reserve: (t: number) => budget.reserve(cycle, t),
        settle: budget.settle.bind(budget),
        release: budget.release.bind(budget),
        refund: budget.refund.bind(budget),
      };
      const err = await runLadder(
        models(),
        lb,
        {
          rungs: ['loop/a', 'loop/b'],
          escalated: false,
          messages: [{ role: 'user', content: 'Gap from docs/PRD.md: add x' }],
          gap: { id: 'g000000000001', text: 'add x' },
          priorCycles: 0,
          firstReservation: first,
        },
        { LOOP_KEY: KEY },
        (p) => p,
      ).catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(CycleEnded);
      requests += server.requests.length;
      const t = await budget.today();
      expect([t.calls.used, t.tokens.used]).toEqual([0, 0]); // nothing billed
    }
    // Two requests reached the provider (the second rung of each attempt was refused its
    // reservation), then the cycle's next attempt was refused: the cap bounds requests.
    expect(requests).toBe(2);
    expect(refused).toMatchObject({
      granted: false,
      reason: 'cycle_calls',
      message: expect.stringMatching(
        /this cycle has made its 2 model requests \(failed and rate-limited ones included\)/,
      ),
    });
    expect(await redis.hgetall(keys(own).budgetCycle(cycle))).toMatchObject({ calls: '0', tokens: '0', requests: '2' });
  });

  it("a provider answering 429 for ever gets at most the day's calls in requests, across cycles", async () => {
    const own = `${prefix}-d${randomBytes(3).toString('hex')}`;
    server.requests.length = 0;
    server.script = () => ({ status: 429, headers: { 'retry-after': '0' } });
    const budget = new Budget(redis, keys(own), {
      callsPerDay: 6,
      tokensPerDay: 10_000_000,
      onExhausted: 'skip',
      perCycle: { calls: 4, tokens: 10_000_000 },
    });
    const lb = (cycle: string) => ({
      reserve: (t: number) => budget.reserve(cycle, t),
      settle: budget.settle.bind(budget),
      release: budget.release.bind(budget),
      refund: budget.refund.bind(budget),
    });
    const refusals: string[] = [];
    // Twenty cycles, each retried as its job would be (a 429 puts the job back, not an attempt).
    for (let c = 0; c < 20; c++) {
      const cycle = `c${randomBytes(6).toString('hex')}`;
      for (let attempt = 0; attempt < 10; attempt++) {
        const first = await budget.reserve(cycle, 5000);
        if (!first.granted) {
          refusals.push(first.reason);
          break;
        }
        const err = await runLadder(
          models(),
          lb(cycle),
          {
            rungs: ['loop/a', 'loop/b'],
            escalated: false,
            messages: [{ role: 'user', content: 'add x' }],
            gap: { id: 'g000000000001', text: 'add x' },
            priorCycles: 0,
            firstReservation: first,
          },
          { LOOP_KEY: KEY },
          (p) => p,
        ).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ModelRateLimited);
      }
    }
    expect(server.requests).toHaveLength(6);
    // Every cycle ended refused (none kept being put back): the first on its own cap, the rest on the day's.
    expect(refusals).toHaveLength(20);
    expect(new Set(refusals)).toEqual(new Set(['cycle_calls', 'day_calls']));
    expect((await budget.today()).calls.used).toBe(0);
  });

  it('an answered call is charged even when the answer is unusable', async () => {
    const own = `${prefix}-a${randomBytes(3).toString('hex')}`;
    const { run, budget } = await ladder(
      models(),
      ['loop/a'],
      () => ({ content: 'not json at all', usage: { prompt_tokens: 30, completion_tokens: 12, total_tokens: 42 } }),
      { prefix: own },
    );
    await failure(run());
    expect((await budget.today()).calls.used).toBe(1);
    expect((await budget.today()).tokens.used).toBe(42);
    // A body that is not even a chat completion keeps the reserved bound (usage unknown).
    const second = await ladder(models(), ['loop/a'], () => ({ body: '<html>gateway says hi</html>' }), {
      prefix: own,
    });
    await second.run().catch(() => {});
    expect((await budget.today()).calls.used).toBe(2);
    expect((await budget.today()).tokens.used).toBe(42 + 5000);
  });
});

describe('provider presets', () => {
  it('fill base URL, key variable and headers; a rung may name a preset directly', () => {
    const cfg = parseConfig(
      {
        repo: { url: '/r' },
        models: {
          providers: { or: { preset: 'openrouter' } },
          propose: ['or/x-ai/grok-4.1-fast', 'ollama_cloud/deepseek-v3.2'],
        },
      },
      'c.json',
      {},
    );
    expect(cfg.models.providers.or).toEqual({
      kind: 'openai',
      baseUrl: 'https://openrouter.ai/api/v1',
      keyEnv: 'OPENROUTER_API_KEY',
      headers: { 'X-Title': 'prbot' },
      structuredOutput: 'json_schema',
    });
    expect(cfg.models.providers.ollama_cloud).toMatchObject({
      baseUrl: 'https://ollama.com/v1',
      keyEnv: 'OLLAMA_API_KEY',
    });
  });
});
