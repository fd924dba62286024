--[[
  Record a cycle's terminal outcome exactly once, and release the gap's in-flight lock.

  KEYS[1] outcome marker of the cycle (string)
  KEYS[2] record of the cycle (string, JSON)
  KEYS[3] history list of the gap (newest first)
  KEYS[4] recent cycles list (newest first)
  KEYS[5] stats hash of the day
  KEYS[6] in-flight lock of the gap
  KEYS[7] per-repository stats hash of the day (`<repo>|<outcome>` fields)
  ARGV[1] cycle id   ARGV[2] outcome   ARGV[3] record JSON
  ARGV[4] history length kept   ARGV[5] recent length kept   ARGV[6] ttl of marker/record (s)
  ARGV[7] '1' when the cycle has a gap (produce-level skips have none)
  ARGV[8] the cycle's repository ('' for a record without one)

  Returns 1 when recorded now, 0 when the cycle already had an outcome (nothing changed).
]]
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', tonumber(ARGV[6])) == false then
  return 0
end
redis.call('SET', KEYS[2], ARGV[3], 'EX', tonumber(ARGV[6]))
if ARGV[7] == '1' then
  redis.call('LPUSH', KEYS[3], ARGV[3])
  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[4]) - 1)
end
redis.call('LPUSH', KEYS[4], ARGV[1])
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[5]) - 1)
redis.call('HINCRBY', KEYS[5], ARGV[2], 1)
redis.call('EXPIRE', KEYS[5], 400 * 86400)
if ARGV[8] ~= '' then
  redis.call('HINCRBY', KEYS[7], ARGV[8] .. '|' .. ARGV[2], 1)
  redis.call('EXPIRE', KEYS[7], 400 * 86400)
end
if redis.call('GET', KEYS[6]) == ARGV[1] then
  redis.call('DEL', KEYS[6])
end
return 1
