--[[
  The outcome ledger, read at the start of every stage job: has the cycle ended, has this stage
  already handed over, and does the cycle still hold its gap's in-flight lock? While the cycle
  lives, its lock's lifetime is renewed here (and by the reconciler), so a lock follows its
  cycle instead of a fixed time; a lock that lapsed is taken again when the gap is free.

  KEYS[1] outcome marker of the cycle (string)
  KEYS[2] in-flight lock of the cycle's gap (string: the holding cycle id)
  KEYS[3] BullMQ hash of the next stage's job (`<prefix>:<queue>:<cycle>-<stage>`); for the last
          stage any key that never exists (the marker key is passed again)
  ARGV[1] cycle id   ARGV[2] lock ttl (s)   ARGV[3] '1' when KEYS[3] is a real next-stage job key

  Returns {outcome or '', handed over 0|1, lock}: lock is 'held' (renewed), 'retaken' (it had
  lapsed and the gap was free), 'ended' (the cycle has an outcome; nothing touched) or the id of
  another cycle holding the gap.
]]
local outcome = redis.call('GET', KEYS[1])
if outcome then return {outcome, 0, 'ended'} end
local next = 0
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then next = 1 end
local holder = redis.call('GET', KEYS[2])
if holder == ARGV[1] then
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
  return {'', next, 'held'}
end
if not holder then
  redis.call('SET', KEYS[2], ARGV[1], 'EX', tonumber(ARGV[2]))
  return {'', next, 'retaken'}
end
return {'', next, holder}
