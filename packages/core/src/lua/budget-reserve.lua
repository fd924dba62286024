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
local dayCalls = tonumber(redis.call('HGET', KEYS[1], 'calls') or '0')
local dayTokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or '0')
local cycCalls = tonumber(redis.call('HGET', KEYS[2], 'calls') or '0')
local cycTokens = tonumber(redis.call('HGET', KEYS[2], 'tokens') or '0')
local want = tonumber(ARGV[5])

if dayCalls + 1 > tonumber(ARGV[1]) then return {-1, dayCalls, dayTokens} end
if dayTokens + want > tonumber(ARGV[2]) then return {-2, dayCalls, dayTokens} end
if cycCalls + 1 > tonumber(ARGV[3]) then return {-3, dayCalls, dayTokens} end
if cycTokens + want > tonumber(ARGV[4]) then return {-4, dayCalls, dayTokens} end

dayCalls = redis.call('HINCRBY', KEYS[1], 'calls', 1)
dayTokens = redis.call('HINCRBY', KEYS[1], 'tokens', want)
redis.call('HINCRBY', KEYS[2], 'calls', 1)
redis.call('HINCRBY', KEYS[2], 'tokens', want)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[7]))
return {1, dayCalls, dayTokens}
