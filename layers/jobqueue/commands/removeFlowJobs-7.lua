--[[
  Remove jobs of a flow whose add did not complete: rolled back by the producer, or by the sweeper for an add
  that died before it committed (its root never written). Each is removed with a tombstone, so a message SQS
  took after all is dropped by the worker, together with its flow keys (`:dependencies`, `:processed`,
  `:failed`, `:unsuccessful`).

  A parent still waiting for its children never ran and has no message: it goes. Any other job goes only while
  it is marked unsent by that add and never started; one a worker has taken stands (its message was in SQS).

  Input:
    KEYS[1] wait list     KEYS[2] delayed zset     KEYS[3] prioritized zset     KEYS[4] waiting-children zset
    KEYS[5] events stream     KEYS[6] unsent zset     KEYS[7] tombstones of removed jobs
    ARGV[1] job key prefix ("<prefix>:<queue>:")     ARGV[2] events stream cap
    ARGV[3] now (ms), the tombstones' score     ARGV[4] tombstones older than this are pruned
    ARGV[5] the add's timestamp (ms)     ARGV[6..] the job ids
  Output:
    per job: 1 removed; 0 kept, a worker has taken it; 2 not there (or another add's job)
  Events:
    removed
]]
local waitKey, delayedKey, prioritizedKey, waitingChildrenKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local eventsKey, unsentKey, removedKey = KEYS[5], KEYS[6], KEYS[7]
local jobPrefix, maxEvents, now, expired, added = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local codes = {}
for i = 6, #ARGV do
  local jobId = ARGV[i]
  local jobKey = jobPrefix .. jobId
  local job = redis.call("HMGET", jobKey, "timestamp", "ats")
  if job[1] ~= added then
    codes[#codes + 1] = 2
  else
    local removed = redis.call("ZREM", waitingChildrenKey, jobId)
    local mark = redis.call("ZSCORE", unsentKey, jobId)
    if removed == 0 and mark and tonumber(mark) == tonumber(added) and not job[2] then
      removed = redis.call("LREM", waitKey, 1, jobId) + redis.call("ZREM", delayedKey, jobId)
        + redis.call("ZREM", prioritizedKey, jobId)
    end
    if removed > 0 then
      redis.call("ZREM", unsentKey, jobId)
      redis.call("DEL", jobKey, jobKey .. ":logs", jobKey .. ":dependencies", jobKey .. ":processed",
        jobKey .. ":failed", jobKey .. ":unsuccessful")
      redis.call("ZADD", removedKey, now, jobId .. ":" .. added)
      redis.call("XADD", eventsKey, "MAXLEN", "~", maxEvents, "*", "event", "removed", "jobId", jobId,
        "prev", "waiting")
      codes[#codes + 1] = 1
    else
      codes[#codes + 1] = 0
    end
  end
end
redis.call("ZREMRANGEBYSCORE", removedKey, "-inf", "(" .. expired)
return codes
