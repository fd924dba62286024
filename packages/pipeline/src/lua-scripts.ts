import { readFileSync } from 'node:fs';
import type { RedisClient as Redis } from './redis.ts';

/**
 * Loads each Lua file in ./lua once per connection as a named command (EVALSHA with a
 * fallback to EVAL, handled by ioredis). One script per atomic operation, as BullMQ does.
 */
const SCRIPTS = {
  budgetReserve: { file: 'budget-reserve.lua', keys: -1 },
  budgetSettle: { file: 'budget-settle.lua', keys: -1 },
  recordOutcome: { file: 'record-outcome.lua', keys: 7 },
  acquireGaps: { file: 'acquire-gaps.lua', keys: -1 },
  releaseGaps: { file: 'release-gaps.lua', keys: -1 },
  prAdmit: { file: 'pr-admit.lua', keys: 2 },
  cycleLedger: { file: 'cycle-ledger.lua', keys: 3 },
  refreshGaps: { file: 'refresh-gaps.lua', keys: -1 },
} as const;

type ScriptName = keyof typeof SCRIPTS;
type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;
export type ScriptedRedis = Redis & Record<ScriptName, ScriptFn>;

const loaded = new WeakSet<Redis>();
const sources = new Map<ScriptName, string>();

export function withScripts(redis: Redis): ScriptedRedis {
  if (!loaded.has(redis)) {
    for (const [name, s] of Object.entries(SCRIPTS) as [ScriptName, (typeof SCRIPTS)[ScriptName]][]) {
      if (!sources.has(name)) sources.set(name, readFileSync(new URL(`./lua/${s.file}`, import.meta.url), 'utf8'));
      if (s.keys >= 0) redis.defineCommand(name, { numberOfKeys: s.keys, lua: sources.get(name)! });
      else redis.defineCommand(name, { lua: sources.get(name)! });
    }
    loaded.add(redis);
  }
  return redis as ScriptedRedis;
}
