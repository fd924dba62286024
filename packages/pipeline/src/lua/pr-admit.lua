--[[
  Admit a cycle to open a PR under the limits, atomically, before its branch is pushed.

  KEYS[1] zset: cycles holding an open-PR slot (member cycle id, score admitted at ms)
  KEYS[2] zset: PRs opened in the last hour (member cycle id, score ms)
  ARGV[1] cycle id   ARGV[2] max open   ARGV[3] max per hour   ARGV[4] now (ms)
  ARGV[5] grace (ms): an admission the forge does not show as open is dropped after this long
  ARGV[6] n: how many of the following ids are PRs the forge shows closed or merged;
          -1 when no listing is given (the slots are then checked as they stand)
  ARGV[7 .. 6+n] cycle ids of closed or merged bot PRs (their slots are freed at once)
  ARGV[7+n ..]   cycle ids of open bot PRs

  Returns {code, count, retry at ms}:
   1 admitted (or already holding a slot)
  -1 open limit reached  -2 hourly limit reached (retry at = when the oldest leaves the hour)
]]
local now = tonumber(ARGV[4])
local n = tonumber(ARGV[6])
if n >= 0 then
  for i = 7, 6 + n do redis.call('ZREM', KEYS[1], ARGV[i]) end
  local open = {}
  for i = 7 + n, #ARGV do open[ARGV[i]] = true end
  local held = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  for i = 1, #held, 2 do
    if not open[held[i]] and tonumber(held[i + 1]) < now - tonumber(ARGV[5]) and held[i] ~= ARGV[1] then
      redis.call('ZREM', KEYS[1], held[i])
    end
  end
end

if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {1, redis.call('ZCARD', KEYS[1]), 0} end
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[2]) then return {-1, count, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 3600000)
local hour = redis.call('ZCARD', KEYS[2])
if hour >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {-2, hour, tonumber(oldest[2]) + 3600000}
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[1])
return {1, count + 1, 0}
