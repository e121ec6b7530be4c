--[[
  Clear the unsent marks a flow's add put on its parents, once the flow is committed. A parent still waiting
  for its children has no message to send; one released since carries the release's mark (a later score),
  which stays until its own message is confirmed.

  Input:
    KEYS[1] waiting-children zset     KEYS[2] unsent zset
    ARGV[1..] pairs: a parent's id, the timestamp (ms) of the add that marked it
  Output:
    how many marks were cleared
]]
local waitingChildrenKey, unsentKey = KEYS[1], KEYS[2]
local cleared = 0
for i = 1, #ARGV, 2 do
  local jobId, added = ARGV[i], tonumber(ARGV[i + 1])
  if redis.call("ZSCORE", waitingChildrenKey, jobId) and tonumber(redis.call("ZSCORE", unsentKey, jobId)) == added then
    cleared = cleared + redis.call("ZREM", unsentKey, jobId)
  end
end
return cleared
