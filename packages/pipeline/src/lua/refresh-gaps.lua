--[[
  Renew the in-flight locks of cycles that still have a live job (the reconciler's pass), so a
  lock lives as long as its cycle: a pr job deferred for days keeps its gap.

  KEYS[1..n] in-flight lock of each gap
  ARGV[1] ttl (s)   ARGV[2..n+1] the cycle id that must hold each lock

  Returns the number of locks renewed.
]]
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i + 1] then
    redis.call('EXPIRE', key, tonumber(ARGV[1]))
    n = n + 1
  end
end
return n
