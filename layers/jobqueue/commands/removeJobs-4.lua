--[[
  Remove waiting jobs entirely: rolls back an add whose SQS send failed, so no phantom state remains.

  Input:
    KEYS[1] wait list     KEYS[2] delayed zset     KEYS[3] prioritized zset     KEYS[4] events stream
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] events stream cap
    ARGV[3..] the job ids
  Output:
    the number of jobs removed
  Events:
    removed
]]
local waitKey, delayedKey, prioritizedKey, eventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local jobPrefix, maxEvents = ARGV[1], ARGV[2]
local removed = 0
for i = 3, #ARGV do
  local jobId = ARGV[i]
  -- Just added, so near the head of the wait list.
  redis.call("LREM", waitKey, 1, jobId)
  redis.call("ZREM", delayedKey, jobId)
  redis.call("ZREM", prioritizedKey, jobId)
  removed = removed + redis.call("DEL", jobPrefix .. jobId, jobPrefix .. jobId .. ":logs")
  redis.call("XADD", eventsKey, "MAXLEN", "~", maxEvents, "*", "event", "removed", "jobId", jobId,
    "prev", "waiting")
end
return removed
