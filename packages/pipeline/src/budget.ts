import type { RedisClient as Redis } from './redis.ts';
import { nextUtcMidnight, utcDay, type Clock, isRedisTransient } from '@prbot/core';
import type { Config } from '@prbot/config';
import type { Keys } from './keys.ts';
import { withScripts } from './lua-scripts.ts';
import type { Refusal, RefusalReason, Reservation } from '@prbot/model';
import { randomUUID } from 'node:crypto';
import type { ReplicaWait } from './replica-wait.ts';

export type BudgetLimits = Config['budget'];

export interface BudgetToday {
  day: string;
  calls: { used: number; cap: number; left: number };
  tokens: { used: number; cap: number; left: number };
  resetsAt: string;
  /** Calls and tokens charged in each UTC hour of the day so far (hours with none left out). */
  hours: { hour: number; calls: number; tokens: number }[];
}

const REASONS: Record<number, RefusalReason> = {
  [-1]: 'day_calls',
  [-2]: 'day_tokens',
  [-3]: 'cycle_calls',
  [-4]: 'cycle_tokens',
  [-6]: 'day_calls',
  [-7]: 'cycle_calls',
  [-8]: 'repo_calls',
  [-9]: 'repo_tokens',
  [-10]: 'repo_calls',
};
/** Codes of a cap reached by requests (failed calls count as requests, not as spending). */
const BY_REQUESTS = new Set([-6, -7, -10]);
const DAY_MS = 86_400_000;

/** The worker's clock is more than a day away from the Redis server's: no bucket to spend. */
export class ClockSkewError extends Error {
  override readonly name = 'ClockSkewError';
}

/**
 * The daily cloud budget: an atomic token bucket in Redis (calls and tokens per UTC day) plus a
 * per-cycle cap, so one runaway gap cannot spend the day. No policy can lift it: the propose
 * stage asks here before any policy function runs.
 *
 * The day is the Redis server's (TIME inside the script), so workers whose clocks drift apart
 * still share one bucket and roll over together. A `clock` given here replaces the server's
 * time; only tests pass one (to cross UTC midnight on demand). Production passes none.
 */
/**
 * The request cap, switchable for one purpose: the positive control in
 * apps/worker/test/e2e/request-caps.test.ts turns it off in its own process (a failed call is then
 * refunded request and all, as `release` does) to show a provider answering 429 for ever is
 * asked past every cap. No variable or config field reaches it.
 */
export const requestCapDefence = { on: true };

/**
 * One repository's share of the day, reserved in the same script as the day's bucket (both or
 * neither) and settled with it. Its bucket is keyed by the repository's name and the same UTC day.
 */
export interface RepoShare {
  repo: string;
  callsPerDay: number;
  tokensPerDay: number;
}

export class Budget {
  private readonly redis;
  /** The day buckets of the last local day asked for: key strings built once per day, not per call. */
  private dayKeys: { day: number; keys: [string, string, string] } | null = null;
  constructor(
    redis: Redis,
    private readonly keys: Keys,
    private readonly limits: BudgetLimits,
    private readonly clock?: Clock,
    private readonly replicas?: ReplicaWait,
  ) {
    this.redis = withScripts(redis);
  }

  /**
   * One budget write, tried again under the same id until Redis took it and (when replicas are
   * configured) a replica confirmed it: a reply lost in a failover, or a write the new master
   * never received, is written again without charging twice (the scripts skip an id they have).
   * Bounded: past a minute a Redis error goes to the caller (which waits Redis out with a fresh
   * id), and a write Redis took but no replica confirmed stands unconfirmed (logged by `replicas`).
   */
  private async once<T>(
    what: string,
    write: (op: string) => Promise<T>,
    wrote: (r: T) => boolean = () => true,
  ): Promise<T> {
    const op = randomUUID();
    const deadline = Date.now() + 60_000;
    let wait = 100;
    for (;;) {
      try {
        const mark = this.replicas?.mark() ?? 0;
        const r = await write(op);
        // A refusal wrote nothing, so there is nothing for a replica to confirm.
        if (!this.replicas || !wrote(r) || (await this.replicas.confirm(what, mark)) || Date.now() + wait > deadline)
          return r;
      } catch (err) {
        if (!isRedisTransient(err) || Date.now() + wait > deadline) throw err;
      }
      await new Promise((res) => setTimeout(res, wait));
      wait = Math.min(wait * 2, 2000);
    }
  }

  /** The scripts' "now": the injected test clock's, or '' for the Redis server's TIME. */
  private nowArg(): number | '' {
    return this.clock ? this.clock() : '';
  }

  /** Now by the injected test clock, or by the Redis server's clock. */
  private async now(): Promise<number> {
    if (this.clock) return this.clock();
    const [s, us] = await this.redis.time();
    return Number(s) * 1000 + Math.floor(Number(us) / 1000);
  }

  /** The day buckets of the caller's days -1, 0 and +1 (`local` is the caller's day number). */
  private bucketsAround(local: number): [string, string, string] {
    if (this.dayKeys?.day !== local) {
      const at = (d: number) => this.keys.budgetDay(utcDay(d * DAY_MS));
      this.dayKeys = { day: local, keys: [at(local - 1), at(local), at(local + 1)] };
    }
    return this.dayKeys.keys;
  }

  /**
   * One script call reserves a call and `tokens` against the day, the cycle and, with `share`,
   * the repository's share of the day: all of them or none. Nothing else goes to Redis here
   * (the server's time is read inside the script; a replica is waited on only after a grant).
   */
  async reserve(cycleId: string, tokens: number, share?: RepoShare): Promise<Reservation | Refusal> {
    // The local clock only chooses the three candidate buckets; the script picks by the server's day.
    const at = this.clock ? this.clock() : Date.now();
    const local = Math.floor(at / DAY_MS);
    const days = this.bucketsAround(local);
    const shares = share
      ? [-1, 0, 1].map((d) => this.keys.budgetRepoDay(share.repo, utcDay((local + d) * DAY_MS)))
      : [];
    const [code, calls, used, serverDay] = await this.once(
      'a budget reservation',
      (op) =>
        this.redis.budgetReserve(
          4 + shares.length,
          ...days,
          this.keys.budgetCycle(cycleId),
          ...shares,
          this.limits.callsPerDay,
          this.limits.tokensPerDay,
          this.limits.perCycle.calls,
          this.limits.perCycle.tokens,
          tokens,
          3 * 86400,
          7 * 86400,
          this.clock ? this.clock() : '',
          op,
          local,
          ...(share ? [share.callsPerDay, share.tokensPerDay] : []),
        ) as Promise<[number, number, number, number]>,
      ([c]) => c === 1,
    );
    const day = utcDay(serverDay * DAY_MS);
    if (code === 1)
      return {
        granted: true,
        day,
        cycleId,
        tokens,
        callsUsed: calls,
        tokensUsed: used,
        ...(share ? { repo: share.repo } : {}),
      };
    if (code === -5)
      throw new ClockSkewError(
        `this machine's clock (${new Date(at).toISOString()}) is more than a day away from the Redis server's (day ${day}); fix the clock (NTP)`,
      );
    const reason = REASONS[code]!;
    const cycleCap = reason.startsWith('cycle');
    return {
      granted: false,
      reason,
      retryAt: cycleCap ? null : (serverDay + 1) * DAY_MS,
      ...(BY_REQUESTS.has(code)
        ? { byRequests: true as const, message: requestCapMessage(code, this.limits, calls, share) }
        : { message: refusalMessage(reason, this.limits, tokens, { calls, tokens: used }, share) }),
    };
  }

  /** The script's keys of a reservation's day, cycle and (when it had one) repository share. */
  private settleKeys(r: Reservation): string[] {
    const ks = [this.keys.budgetDay(r.day), this.keys.budgetCycle(r.cycleId)];
    if (r.repo !== undefined) ks.push(this.keys.budgetRepoDay(r.repo, r.day));
    return [String(ks.length), ...ks];
  }

  /** Replaces the reserved bound with what the provider reported; refunds the difference. */
  async settle(r: Reservation, actualTokens: number): Promise<void> {
    await this.once('a budget settlement', (op) =>
      this.redis.budgetSettle(...this.settleKeys(r), Math.round(actualTokens - r.tokens), 0, op, 0, this.nowArg()),
    );
  }

  /**
   * Gives a reservation back whole, request included: the call was never sent (a policy said
   * no, the queue was rate-limited before the request).
   */
  async release(r: Reservation): Promise<void> {
    await this.once('a budget release', (op) =>
      this.redis.budgetSettle(...this.settleKeys(r), -r.tokens, -1, op, -1, this.nowArg()),
    );
  }

  /**
   * A call that was sent and failed without an answer (5xx, 429, timeout, refused connection):
   * refunded for billing (an outage is not spending), but the request stays counted, so the
   * day's and the cycle's caps bound how often a failing provider is asked.
   */
  async refund(r: Reservation): Promise<void> {
    await this.once('a budget refund', (op) =>
      this.redis.budgetSettle(...this.settleKeys(r), -r.tokens, -1, op, requestCapDefence.on ? 0 : -1, this.nowArg()),
    );
  }

  async today(): Promise<BudgetToday> {
    const now = await this.now();
    const day = utcDay(now);
    const h = await this.redis.hgetall(this.keys.budgetDay(day));
    const calls = Number(h.calls ?? 0);
    const tokens = Number(h.tokens ?? 0);
    return {
      day,
      calls: { used: calls, cap: this.limits.callsPerDay, left: Math.max(0, this.limits.callsPerDay - calls) },
      tokens: { used: tokens, cap: this.limits.tokensPerDay, left: Math.max(0, this.limits.tokensPerDay - tokens) },
      resetsAt: new Date(nextUtcMidnight(now)).toISOString(),
      hours: Array.from({ length: 24 }, (_, hour) => ({
        hour,
        calls: Number(h[`hc:${hour}`] ?? 0),
        tokens: Number(h[`ht:${hour}`] ?? 0),
      })).filter((x) => x.calls !== 0 || x.tokens !== 0),
    };
  }
}

function requestCapMessage(code: number, l: BudgetLimits, requests: number, share?: RepoShare): string {
  if (code === -10)
    return `${share!.repo}'s daily request share reached (${requests}/${share!.callsPerDay} requests today, failed and rate-limited ones included: they are not billed but count as requests)`;
  return code === -6
    ? `daily request cap reached (${requests}/${l.callsPerDay} requests today, failed and rate-limited ones included: they are not billed but count as requests)`
    : `this cycle has made its ${l.perCycle.calls} model requests (failed and rate-limited ones included)`;
}

function refusalMessage(
  reason: RefusalReason,
  l: BudgetLimits,
  want: number,
  used: { calls: number; tokens: number },
  share?: RepoShare,
): string {
  switch (reason) {
    case 'day_calls':
      return `daily call budget spent (${used.calls}/${l.callsPerDay} calls)`;
    case 'day_tokens':
      return `daily token budget cannot cover ${want} more tokens (${used.tokens}/${l.tokensPerDay} used)`;
    case 'cycle_calls':
      return `this cycle has used its ${l.perCycle.calls} model calls`;
    case 'cycle_tokens':
      return `this cycle cannot spend ${want} more tokens (cap ${l.perCycle.tokens} per cycle)`;
    case 'repo_calls':
      return `${share!.repo}'s daily call share spent (${used.calls}/${share!.callsPerDay} calls)`;
    case 'repo_tokens':
      return `${share!.repo}'s daily token share cannot cover ${want} more tokens (${used.tokens}/${share!.tokensPerDay} used)`;
  }
}
