--[[
  Take the in-flight lock of each gap that has none, in one round trip.

  KEYS[1..n] in-flight lock of each gap
  ARGV[1] ttl (s)   ARGV[2..n+1] the cycle id proposed for each gap

  Returns, per gap, the cycle id now holding it: the proposed id when it was free, otherwise
  the cycle already in flight.
]]
local out = {}
for i, key in ipairs(KEYS) do
  local cycle = ARGV[i + 1]
  if redis.call('SET', key, cycle, 'NX', 'EX', tonumber(ARGV[1])) then
    out[i] = cycle
  else
    out[i] = redis.call('GET', key) or cycle
  end
end
return out
