--[[
  Reserve one model call and an upper bound of tokens, against today's bucket and the cycle's.
  Atomic: N concurrent callers against a bucket of M calls get exactly min(N, M) grants.

  KEYS[1] day bucket hash   {calls, tokens}   (one key per UTC day)
  KEYS[2] cycle bucket hash {calls, tokens}
  ARGV[1] calls per day        ARGV[2] tokens per day
  ARGV[3] calls per cycle      ARGV[4] tokens per cycle
  ARGV[5] tokens to reserve    ARGV[6] day key ttl (s)   ARGV[7] cycle key ttl (s)

  Returns {code, day calls, day tokens}:
   1 granted (figures after the reservation)
  -1 day calls exhausted   -2 day tokens exhausted
  -3 cycle calls exhausted -4 cycle tokens exhausted
]]
local day = redis.call('HMGET', KEYS[1], 'calls', 'tokens')
local cyc = redis.call('HMGET', KEYS[2], 'calls', 'tokens')
local dayCalls = tonumber(day[1] or '0')
local dayTokens = tonumber(day[2] or '0')
local cycCalls = tonumber(cyc[1] or '0')
local cycTokens = tonumber(cyc[2] or '0')
local want = tonumber(ARGV[5])

if dayCalls + 1 > tonumber(ARGV[1]) then return {-1, dayCalls, dayTokens} end
if dayTokens + want > tonumber(ARGV[2]) then return {-2, dayCalls, dayTokens} end
if cycCalls + 1 > tonumber(ARGV[3]) then return {-3, dayCalls, dayTokens} end
if cycTokens + want > tonumber(ARGV[4]) then return {-4, dayCalls, dayTokens} end

-- The script is atomic, so computing the new figures here and writing each bucket with one
-- HSET is the same as four HINCRBYs, at half the Redis calls (measured: 0.65 -> see BENCHMARKS.md).
dayCalls = dayCalls + 1
dayTokens = dayTokens + want
redis.call('HSET', KEYS[1], 'calls', dayCalls, 'tokens', dayTokens)
redis.call('HSET', KEYS[2], 'calls', cycCalls + 1, 'tokens', cycTokens + want)
-- A TTL once, when the key is born.
if dayCalls == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6])) end
if cycCalls == 0 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[7])) end
return {1, dayCalls, dayTokens}
