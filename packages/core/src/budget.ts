import type { RedisClient as Redis } from './redis.ts';
import { nextUtcMidnight, systemClock, utcDay, type Clock } from './clock.ts';
import type { Config } from './config/index.ts';
import type { Keys } from './keys.ts';
import { withScripts } from './scripts.ts';

export type BudgetLimits = Config['budget'];

export interface Reservation {
  granted: true;
  day: string;
  cycleId: string;
  tokens: number;
  callsUsed: number;
  tokensUsed: number;
}

export type RefusalReason = 'day_calls' | 'day_tokens' | 'cycle_calls' | 'cycle_tokens';
export interface Refusal {
  granted: false;
  reason: RefusalReason;
  message: string;
  /** When a day refusal lifts (next UTC midnight); null for a cycle cap, which never lifts. */
  retryAt: number | null;
}

export interface BudgetToday {
  day: string;
  calls: { used: number; cap: number; left: number };
  tokens: { used: number; cap: number; left: number };
  resetsAt: string;
}

const REASONS: Record<number, RefusalReason> = { [-1]: 'day_calls', [-2]: 'day_tokens', [-3]: 'cycle_calls', [-4]: 'cycle_tokens' };

/**
 * The daily cloud budget: an atomic token bucket in Redis (calls and tokens per UTC day) plus a
 * per-cycle cap, so one runaway gap cannot spend the day. No policy can lift it: the propose
 * stage asks here before any policy function runs.
 */
export class Budget {
  private readonly redis;
  constructor(
    redis: Redis,
    private readonly keys: Keys,
    private readonly limits: BudgetLimits,
    private readonly clock: Clock = systemClock,
  ) {
    this.redis = withScripts(redis);
  }

  async reserve(cycleId: string, tokens: number): Promise<Reservation | Refusal> {
    const now = this.clock();
    const day = utcDay(now);
    const [code, calls, used] = (await this.redis.budgetReserve(
      this.keys.budgetDay(day),
      this.keys.budgetCycle(cycleId),
      this.limits.callsPerDay,
      this.limits.tokensPerDay,
      this.limits.perCycle.calls,
      this.limits.perCycle.tokens,
      tokens,
      3 * 86400,
      7 * 86400,
    )) as [number, number, number];
    if (code === 1) return { granted: true, day, cycleId, tokens, callsUsed: calls, tokensUsed: used };
    const reason = REASONS[code]!;
    const cycleCap = reason.startsWith('cycle');
    return {
      granted: false,
      reason,
      retryAt: cycleCap ? null : nextUtcMidnight(now),
      message: refusalMessage(reason, this.limits, tokens, { calls, tokens: used }),
    };
  }

  /** Replaces the reserved bound with what the provider reported; refunds the difference. */
  async settle(r: Reservation, actualTokens: number): Promise<void> {
    await this.redis.budgetSettle(this.keys.budgetDay(r.day), this.keys.budgetCycle(r.cycleId), Math.round(actualTokens - r.tokens), 0);
  }

  /** Gives a reservation back whole, when the call it was for is never made (a policy said no). */
  async release(r: Reservation): Promise<void> {
    await this.redis.budgetSettle(this.keys.budgetDay(r.day), this.keys.budgetCycle(r.cycleId), -r.tokens, -1);
  }

  async today(): Promise<BudgetToday> {
    const now = this.clock();
    const day = utcDay(now);
    const h = await this.redis.hgetall(this.keys.budgetDay(day));
    const calls = Number(h.calls ?? 0);
    const tokens = Number(h.tokens ?? 0);
    return {
      day,
      calls: { used: calls, cap: this.limits.callsPerDay, left: Math.max(0, this.limits.callsPerDay - calls) },
      tokens: { used: tokens, cap: this.limits.tokensPerDay, left: Math.max(0, this.limits.tokensPerDay - tokens) },
      resetsAt: new Date(nextUtcMidnight(now)).toISOString(),
    };
  }
}

function refusalMessage(reason: RefusalReason, l: BudgetLimits, want: number, used: { calls: number; tokens: number }): string {
  switch (reason) {
    case 'day_calls':
      return `daily call budget spent (${used.calls}/${l.callsPerDay} calls)`;
    case 'day_tokens':
      return `daily token budget cannot cover ${want} more tokens (${used.tokens}/${l.tokensPerDay} used)`;
    case 'cycle_calls':
      return `this cycle has used its ${l.perCycle.calls} model calls`;
    case 'cycle_tokens':
      return `this cycle cannot spend ${want} more tokens (cap ${l.perCycle.tokens} per cycle)`;
  }
}
