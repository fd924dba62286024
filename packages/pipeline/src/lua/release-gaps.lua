--[[
  Release in-flight locks that are still held by the given cycles (used when enqueueing failed).

  KEYS[1..n] in-flight lock of each gap
  ARGV[1..n] the cycle id that must hold it

  Returns the number of locks released.
]]
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i] then
    redis.call('DEL', key)
    n = n + 1
  end
end
return n
