--[[
  Reserve one model call and an upper bound of tokens, against today's bucket and the cycle's,
  and, when the caller names one, a repository's share of the day: all of them or none.
  Atomic: N concurrent callers against a bucket of M calls get exactly min(N, M) grants.

  Every reservation also counts one request ('requests' field), and requests are never given
  back for a call that was sent: a failed or rate-limited call is refunded for billing (calls,
  tokens) but still counts toward the same caps as a request, so a provider answering 5xx or
  429 for ever gets at most the day's and the cycle's calls in requests, and its cycles end.

  "Today" is the UTC day of the Redis server's clock (TIME), not of the calling worker: two
  workers whose clocks disagree around midnight still spend one bucket. The caller cannot
  name a key computed here (Redis Cluster wants every key declared), so it passes the day
  buckets of yesterday, today and tomorrow by its own clock, with the number of its own day,
  and the script spends the one that matches the server's day. (It compares day numbers: every
  reservation runs this script, and formatting a civil date here cost more than the comparison.)

  KEYS[1..3] day bucket hashes {calls, tokens, requests, hc:<hour>, ht:<hour>}, for the caller's days -1, 0, +1
  KEYS[4]    cycle bucket hash {calls, tokens, requests, op:<id>...}
  KEYS[5..7] optional: the repository's share buckets for the same three days
  ARGV[1] calls per day        ARGV[2] tokens per day
  ARGV[3] calls per cycle      ARGV[4] tokens per cycle
  ARGV[5] tokens to reserve    ARGV[6] day key ttl (s)   ARGV[7] cycle key ttl (s)
  ARGV[8] now in ms, or '' to use the server's TIME (set only by tests with an injected clock)
  ARGV[9] the reservation's id, or '': a repeat of a granted id grants again without charging
          (a retry after a lost reply or an unconfirmed write must not charge twice)
  ARGV[10] the caller's day: days since 1970-01-01 of KEYS[2]
  ARGV[11] the share's calls per day   ARGV[12] the share's tokens per day (with KEYS[5..7])

  Returns {code, calls, tokens, server day (days since 1970-01-01)}, the figures being the day's
  (the share's for -8, -9, -10):
   1 granted (figures after the reservation)
  -1 day calls exhausted   -2 day tokens exhausted
  -3 cycle calls exhausted -4 cycle tokens exhausted
  -6 day requests exhausted -7 cycle requests exhausted (calls refunded, requests sent)
  -8 share calls exhausted -9 share tokens exhausted -10 share requests exhausted
  -5 the caller's clock is more than a day away from the server's (no bucket matches)
]]
local now
if ARGV[8] ~= '' then
  now = tonumber(ARGV[8])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local days = math.floor(now / 86400000)
local i = days - tonumber(ARGV[10]) + 2
if i < 1 or i > 3 then return {-5, 0, 0, days} end
local dayKey = KEYS[i]
local shareKey = KEYS[4 + i]
-- The day's hours, for the dashboard's burn chart: 'hc:<h>' calls and 'ht:<h>' tokens charged in
-- hour h of the server's day, read and written with the day's figures (no extra Redis call).
local hour = math.floor((now % 86400000) / 3600000)
local hc, ht = 'hc:' .. hour, 'ht:' .. hour

local day = redis.call('HMGET', dayKey, 'calls', 'tokens', 'requests', hc, ht)
local dayCalls = tonumber(day[1] or '0')
local dayTokens = tonumber(day[2] or '0')
-- The id's marker is read with the cycle's figures: one call, not a separate HEXISTS.
local op = ARGV[9] ~= '' and ('op:' .. ARGV[9]) or nil
local cyc = op and redis.call('HMGET', KEYS[4], 'calls', 'tokens', 'requests', op)
  or redis.call('HMGET', KEYS[4], 'calls', 'tokens', 'requests')
if cyc[4] then return {1, dayCalls, dayTokens, days} end
local dayRequests = tonumber(day[3] or '0')
local cycCalls = tonumber(cyc[1] or '0')
local cycTokens = tonumber(cyc[2] or '0')
local cycRequests = tonumber(cyc[3] or '0')
local want = tonumber(ARGV[5])

if dayCalls + 1 > tonumber(ARGV[1]) then return {-1, dayCalls, dayTokens, days} end
if dayRequests + 1 > tonumber(ARGV[1]) then return {-6, dayRequests, dayTokens, days} end
if dayTokens + want > tonumber(ARGV[2]) then return {-2, dayCalls, dayTokens, days} end
local shareCalls, shareTokens, shareRequests
if shareKey then
  local s = redis.call('HMGET', shareKey, 'calls', 'tokens', 'requests')
  shareCalls = tonumber(s[1] or '0')
  shareTokens = tonumber(s[2] or '0')
  shareRequests = tonumber(s[3] or '0')
  if shareCalls + 1 > tonumber(ARGV[11]) then return {-8, shareCalls, shareTokens, days} end
  if shareRequests + 1 > tonumber(ARGV[11]) then return {-10, shareRequests, shareTokens, days} end
  if shareTokens + want > tonumber(ARGV[12]) then return {-9, shareCalls, shareTokens, days} end
end
if cycCalls + 1 > tonumber(ARGV[3]) then return {-3, dayCalls, dayTokens, days} end
if cycRequests + 1 > tonumber(ARGV[3]) then return {-7, cycRequests, dayTokens, days} end
if cycTokens + want > tonumber(ARGV[4]) then return {-4, dayCalls, dayTokens, days} end

-- The script is atomic, so computing the new figures here and writing each bucket with one
-- HSET is the same as HINCRBYs, at a fraction of the Redis calls (see BENCHMARKS.md).
dayCalls = dayCalls + 1
dayTokens = dayTokens + want
redis.call('HSET', dayKey, 'calls', dayCalls, 'tokens', dayTokens, 'requests', dayRequests + 1,
  hc, tonumber(day[4] or '0') + 1, ht, tonumber(day[5] or '0') + want)
if op then
  redis.call('HSET', KEYS[4], 'calls', cycCalls + 1, 'tokens', cycTokens + want, 'requests', cycRequests + 1, op, 1)
else
  redis.call('HSET', KEYS[4], 'calls', cycCalls + 1, 'tokens', cycTokens + want, 'requests', cycRequests + 1)
end
-- A TTL once, when the key is born.
if dayCalls == 1 then redis.call('EXPIRE', dayKey, tonumber(ARGV[6])) end
if cycCalls == 0 then redis.call('EXPIRE', KEYS[4], tonumber(ARGV[7])) end
if shareKey then
  redis.call('HSET', shareKey, 'calls', shareCalls + 1, 'tokens', shareTokens + want, 'requests', shareRequests + 1)
  if shareCalls == 0 then redis.call('EXPIRE', shareKey, tonumber(ARGV[6])) end
end
return {1, dayCalls, dayTokens, days}
