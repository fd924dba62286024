--[[
  Replace a reservation's token bound with the tokens the provider reported.
  A negative delta refunds what was reserved and not used. Counts never go below zero.

  KEYS[1] day bucket hash (the day of the reservation, not of the settlement)
  KEYS[2] cycle bucket hash
  KEYS[3] optional: the repository's share bucket of that day (settled with the day's, in the same
          script, so the two never disagree)
  ARGV[1] delta tokens (actual - reserved)
  ARGV[2] delta calls (0 after a real call; -1 when it was refunded: failed without an answer, or never made)
  ARGV[3] the settlement's id, or '': an id already applied changes nothing (a retried settle)
  ARGV[4] delta requests (-1 only when the reserved call was never sent; absent = 0)
  ARGV[5] now in ms, or '' (absent) for the server's TIME: the hour whose 'hc:'/'ht:' figures of the
          day bucket take the deltas (the burn chart; a settlement after midnight lands on hour 0
          of the reservation's day, whose totals stay right)

  Returns the day's tokens after settling.
]]
if ARGV[3] ~= nil and ARGV[3] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then
  if redis.call('HSETNX', KEYS[2], 'op:' .. ARGV[3], 1) == 0 then
    return tonumber(redis.call('HGET', KEYS[1], 'tokens') or '0')
  end
end
local delta = tonumber(ARGV[1])
local calls = tonumber(ARGV[2])
local requests = tonumber(ARGV[4] or '0')
local function settle(key)
  if redis.call('EXISTS', key) == 0 then return 0 end
  local t = redis.call('HINCRBY', key, 'tokens', delta)
  if t < 0 then redis.call('HSET', key, 'tokens', 0); t = 0 end
  if calls ~= 0 and redis.call('HINCRBY', key, 'calls', calls) < 0 then redis.call('HSET', key, 'calls', 0) end
  if requests ~= 0 and redis.call('HINCRBY', key, 'requests', requests) < 0 then redis.call('HSET', key, 'requests', 0) end
  return t
end
local day = settle(KEYS[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  local now
  if ARGV[5] ~= nil and ARGV[5] ~= '' then
    now = tonumber(ARGV[5])
  else
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  local hour = math.floor((now % 86400000) / 3600000)
  if redis.call('HINCRBY', KEYS[1], 'ht:' .. hour, delta) < 0 then redis.call('HSET', KEYS[1], 'ht:' .. hour, 0) end
  if calls ~= 0 and redis.call('HINCRBY', KEYS[1], 'hc:' .. hour, calls) < 0 then
    redis.call('HSET', KEYS[1], 'hc:' .. hour, 0)
  end
end
settle(KEYS[2])
if KEYS[3] then settle(KEYS[3]) end
return day
