--[[
  Roll back jobs an add recorded but SQS did not take: each is removed with a tombstone, so that a message SQS
  did take after all (a send whose reply was lost) is dropped by the worker instead of restoring the job.

  Only jobs still marked unsent are removed: one whose send another caller confirmed in the meantime (a retry of
  the same add, or the sweeper) stands.

  Input:
    KEYS[1] wait list     KEYS[2] delayed zset     KEYS[3] prioritized zset     KEYS[4] events stream
    KEYS[5] unsent zset   KEYS[6] tombstones of removed jobs (zset of "<jobId>:<timestamp>")
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] events stream cap
    ARGV[3] timestamp (ms)     ARGV[4] tombstones older than this (ms) are pruned
    ARGV[5..] the job ids
  Output:
    per job: 1 removed, 0 kept (its send was confirmed by another caller, or it is gone already)
  Events:
    removed
]]
local waitKey, delayedKey, prioritizedKey, eventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local unsentKey, removedKey = KEYS[5], KEYS[6]
local jobPrefix, maxEvents, timestamp, expired = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local codes = {}
for i = 5, #ARGV do
  local jobId = ARGV[i]
  local jobKey = jobPrefix .. jobId
  local jobTimestamp = redis.call("HGET", jobKey, "timestamp")
  if redis.call("ZREM", unsentKey, jobId) == 1 and jobTimestamp then
    -- Just added, so near the head of the wait list.
    redis.call("LREM", waitKey, 1, jobId)
    redis.call("ZREM", delayedKey, jobId)
    redis.call("ZREM", prioritizedKey, jobId)
    redis.call("DEL", jobKey, jobKey .. ":logs")
    redis.call("ZADD", removedKey, timestamp, jobId .. ":" .. jobTimestamp)
    redis.call("XADD", eventsKey, "MAXLEN", "~", maxEvents, "*", "event", "removed", "jobId", jobId,
      "prev", "waiting")
    codes[#codes + 1] = 1
  else
    codes[#codes + 1] = 0
  end
end
redis.call("ZREMRANGEBYSCORE", removedKey, "-inf", "(" .. expired)
return codes
