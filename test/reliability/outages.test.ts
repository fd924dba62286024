import { afterEach, expect, it } from 'vitest';
import { createRuntime, stageRunnerDefences } from '@prbot/pipeline';
import { createLogger } from '@prbot/core';
import { startGiteaServer, type FakeForge, type Harness, type ModelServer } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { runAll } from '@prbot/worker';
import { produce } from '@prbot/control';
import { gapNumber, passingAnswer } from './answers.ts';
import { closeWorlds, recordRow, reliabilityWorld, scanSecrets, SECRET_ENV, SECRET_TOKEN } from './support.ts';

let h: Harness | undefined;
let server: ModelServer | undefined;
let forge: FakeForge | undefined;
afterEach(async () => {
  stageRunnerDefences.giveUp = true;
  await closeWorlds();
  await forge?.stop();
  h = server = forge = undefined;
});

async function world(gaps: number, extra: Record<string, unknown> = {}) {
  let down: 'no' | '500' | 'silent' = 'no';
  let healAfter = Number.POSITIVE_INFINITY;
  ({ h, server } = await reliabilityWorld({
    gaps,
    script: (req, n) => {
      if (n >= healAfter) down = 'no';
      return down === '500' ? { status: 500 } : down === 'silent' ? { hang: true } : passingAnswer(gapNumber(req));
    },
    config: {
      models: { timeoutMs: 300 },
      // A cap below the attempts: an outage's failed calls are not billed (issue 13), yet each is
      // a request, and the cap bounds requests (issue 27): 2 per cycle, then model_failed.
      budget: { perCycle: { calls: 2 } },
      queues: { propose: { attempts: 3, backoff: { delay: 100 } }, pr: { attempts: 3, backoff: { delay: 100 } } },
      ...extra,
    },
  }));
  return { set: (d: typeof down) => (down = d), healAfter: (requests: number) => (healAfter = requests) };
}

it('model server answering 500, then not at all: jobs back off and retry, end model_failed; when it returns, new cycles succeed', async () => {
  const m = await world(2);
  m.set('500');
  const during = (await runAll(h!.rt)).records;
  const reqsDuring = server!.requests.length;
  m.set('silent');
  // A fresh gap wording is not needed: the failed gaps are tried again by the next produce.
  const silent = (await runAll(h!.rt)).records;
  const spent = await h!.rt.budget.today();
  const cycleCalls = await Promise.all(
    [...during, ...silent].map(async (r) =>
      Number((await h!.rt.redis.hget(h!.rt.keys.budgetCycle(r.cycle_id), 'calls')) ?? 0),
    ),
  );
  m.set('no');
  const after = (await runAll(h!.rt)).records;
  recordRow({
    fault: 'model outage: HTTP 500, then no answer (timeouts), then back; per-cycle cap 2 calls, 3 attempts',
    injections: 2,
    inFlight: 2,
    lost: 6 - during.length - silent.length - after.length,
    duplicates: 0,
    notes: `during 500s: ${during.map((r) => r.outcome).join(', ')} after ${reqsDuring} requests (at most 2 per cycle: the cap bounds requests, 3 attempts with backoff); silent: ${silent.map((r) => r.outcome).join(', ')}; budget charged for the outage: ${spent.calls.used} calls, ${spent.tokens.used} tokens; back: ${after.map((r) => r.outcome).join(', ')}`,
  });
  // Every failed call was refunded whole: the day and each cycle's cap untouched.
  expect([spent.calls.used, spent.tokens.used]).toEqual([0, 0]);
  expect(cycleCalls).toEqual([0, 0, 0, 0]);
  expect(during.map((r) => r.outcome)).toEqual(['model_failed', 'model_failed']);
  expect(during[0]!.reason).toMatch(
    /this cycle has made its 2 model requests \(failed and rate-limited ones included\)|every rung is unavailable: loop\/m: HTTP 500/,
  );
  // 2 requests per cycle (the cap), whatever the attempts: refunded calls still count as requests.
  expect(reqsDuring, during.map((r) => r.reason).join(' | ')).toBeLessThanOrEqual(4);
  expect(reqsDuring).toBeGreaterThanOrEqual(2);
  expect(silent.map((r) => r.outcome)).toEqual(['model_failed', 'model_failed']);
  expect(silent[0]!.reason).toMatch(/no answer within 300 ms|this cycle has made its 2 model requests/);
  expect(after.map((r) => r.outcome)).toEqual(['ok', 'ok']);
  expect((await h!.rt.budget.today()).calls.used).toBe(2);
}, 120_000);

it('a short model outage is ridden out by the retries', async () => {
  const m = await world(1);
  m.set('500');
  // Heal once the first request has failed (not on a timer: a slow start would miss the outage).
  m.healAfter(1);
  const r = (await runAll(h!.rt)).records[0]!;
  expect(r.outcome).toBe('ok');
  expect(server!.requests.length).toBeGreaterThan(1);
  recordRow({
    fault: 'short model outage (the first request answers HTTP 500)',
    injections: 1,
    inFlight: 1,
    lost: 0,
    duplicates: 0,
    notes: `ok after ${server!.requests.length} requests`,
  });
});

it('positive control: the same short outage with the retries off (queues.propose.attempts 1) ends model_failed', async () => {
  const m = await world(1, {
    queues: { propose: { attempts: 1, backoff: { delay: 100 } }, pr: { attempts: 3, backoff: { delay: 100 } } },
  });
  m.set('500');
  m.healAfter(1);
  const r = (await runAll(h!.rt)).records[0]!;
  console.log(`retries off: ${r.outcome} after ${server!.requests.length} request(s): ${r.reason.slice(0, 100)}`);
  expect(server!.requests).toHaveLength(1);
  expect(r.outcome).toBe('model_failed');
});

/** One cycle against a Gitea stand-in (the forge outage rows): its runtime, the stand-in in `forge`. */
async function forgeWorld() {
  await world(1);
  forge = await startGiteaServer({ owner: 'team', repo: 'app', token: SECRET_TOKEN, bare: h!.bare });
  const cfg = {
    ...h!.cfg,
    forge: {
      kind: 'gitea' as const,
      baseUrl: forge.url,
      owner: 'team',
      repo: 'app',
      tokenEnv: 'FORGE_TOKEN',
      remote: h!.bare,
      branchPrefix: 'bot/',
      draftPrefix: 'WIP: ',
      labels: [],
      maxOpen: 10,
      maxPerHour: 10,
      limitRetryMs: 1000,
      timeoutMs: 2000,
    },
  };
  return createRuntime(cfg, { role: 'worker', env: SECRET_ENV, log: createLogger('silent', { pretty: false }) });
}

it('forge answering 502: the pr queue retries, ends pr_failed; when the forge is back, the gap gets its PR', async () => {
  const rt = await forgeWorld();
  const gitea = forge!;
  try {
    gitea.failNext('POST', '/pulls', 1000, 502);
    const down = (await runAll(rt)).records[0]!;
    gitea.heal();
    const back = (await runAll(rt)).records[0]!;
    recordRow({
      fault: 'forge outage: HTTP 502 on every PR create, then back',
      injections: 1,
      inFlight: 1,
      lost: 0,
      duplicates: Math.max(0, gitea.pulls.length - 1),
      notes: `down: ${down.outcome} (${down.reason.slice(0, 90)}…); back: ${back.outcome}; ${gitea.pulls.length} PR opened`,
    });
    expect(down.outcome).toBe('pr_failed');
    expect(down.reason).toMatch(/pr gave up after its retries: .*HTTP 502/);
    expect(back.outcome).toBe('ok');
    expect(gitea.pulls).toHaveLength(1);
    expect(await scanSecrets(h!, rt, [], 'forge outage')).toBe(0);
  } finally {
    await rt.close();
  }
  void defaultPolicy;
});

it('positive control: the same forge outage with the give-up path off (stageRunnerDefences.giveUp): the cycle gets no outcome and its gap stays taken', async () => {
  const rt = await forgeWorld();
  const gitea = forge!;
  try {
    gitea.failNext('POST', '/pulls', 1000, 502);
    stageRunnerDefences.giveUp = false;
    const down = await runAll(rt, { timeoutMs: 20_000 }).catch((e: unknown) => e as Error);
    stageRunnerDefences.giveUp = true;
    gitea.heal();
    const again = await produce(rt, defaultPolicy);
    const failed = await rt.queues.pr.getFailedCount();
    console.log(
      `give-up off: ${down instanceof Error ? down.message : 'ended'}; pr jobs failed ${failed}; next produce: ${again.lines.map((l) => l.action).join(', ')}`,
    );
    // The control: the pr job gave up but no outcome was recorded (the defended row: pr_failed),
    // and the gap is still taken, so the forge's return brings it no PR.
    expect(down).toBeInstanceOf(Error);
    expect((down as Error).message).toMatch(/cycles without an outcome/);
    expect(failed).toBe(1);
    expect(again.lines.filter((l) => l.action === 'enqueued')).toEqual([]);
    expect(gitea.pulls).toHaveLength(0);
  } finally {
    await rt.close();
  }
});
