--[[
  Remove one job, in any state but active, with its logs (and a flow parent's keys). Its SQS message may still be on its way (a waiting
  job's first delivery, a finished job's duplicate): it gets a tombstone, so that the worker drops that
  message instead of restoring the job from it and running it.

  Input:
    KEYS[1] active list     KEYS[2] wait list       KEYS[3] delayed zset     KEYS[4] prioritized zset
    KEYS[5] completed zset  KEYS[6] failed zset     KEYS[7] events stream
    KEYS[8] tombstones (zset of "<jobId>:<timestamp>" scored by removal time)
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] job id
    ARGV[3] timestamp (ms)
    ARGV[4] events stream cap
    ARGV[5] tombstones older than this (ms) are dropped
  Output:
     1 removed
    -1 no such job
    -2 the job is active (running): nothing was changed
  Events:
    removed (prev = the state it left: completed, failed, delayed, prioritized, wait, waiting-children, or
    unknown)
  Payloads:
    a job whose data is an S3 placeholder (jobqueue.payloads) is pushed, as "<jobId>\n<data>", to the list
    "<job key prefix>payloads:gone" for the sweeper to delete its object
]]
local activeKey, waitKey, delayedKey, prioritizedKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local completedKey, failedKey, eventsKey, removedKey = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local jobPrefix, jobId, timestamp, maxEvents, expired = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local jobKey = jobPrefix .. jobId

if redis.call("LPOS", activeKey, jobId) then
  return -2
end

-- Sorted sets first (O(log n)); the wait list last (O(n)).
local prev
for _, state in ipairs({{"completed", completedKey}, {"failed", failedKey}, {"delayed", delayedKey},
                        {"prioritized", prioritizedKey}}) do
  if redis.call("ZREM", state[2], jobId) == 1 then
    prev = state[1]
    break
  end
end
if not prev and redis.call("LREM", waitKey, 1, jobId) == 1 then
  prev = "wait"
end
-- A flow parent waiting for its children (its children's updates then find it gone, and change nothing).
if not prev and redis.call("ZREM", jobPrefix .. "waiting-children", jobId) == 1 then
  prev = "waiting-children"
end

local fields = redis.call("HMGET", jobKey, "timestamp", "data")
local jobTimestamp, data = fields[1], fields[2]
if not prev and not jobTimestamp then
  return -1
end
prev = prev or "unknown"
redis.call("DEL", jobKey, jobKey .. ":logs", jobKey .. ":dependencies", jobKey .. ":processed", jobKey .. ":failed",
  jobKey .. ":unsuccessful")
if data and string.sub(data, 1, 20) == '{"jobqueuePayload":"' then
  redis.call("RPUSH", jobPrefix .. "payloads:gone", jobId .. "\n" .. data)
end
if jobTimestamp then
  redis.call("ZADD", removedKey, timestamp, jobId .. ":" .. jobTimestamp)
  redis.call("ZREMRANGEBYSCORE", removedKey, "-inf", "(" .. expired)
end
redis.call("XADD", eventsKey, "MAXLEN", "~", maxEvents, "*", "event", "removed", "jobId", jobId, "prev", prev)
return 1
