--[[
  Undo retryJobs for the jobs SQS refused: each goes back to failed (or, promoted, to delayed) as it was (or,
  re-created from a dead letter, is deleted again), so no job waits without a message. Their dead-letter records
  were never removed.

  Input:
    KEYS[1] wait list     KEYS[2] prioritized zset     KEYS[3] failed zset (delayed for "promote")
    KEYS[4] events stream
    KEYS[5] unsent zset
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] events stream cap
    ARGV[3] number of jobs n
    ARGV[4..] n groups of 4: job id, "retry" | "promote" | "create" (as given to retryJobs), its score in the
              zset it left ("retry", "promote"), JSON object of the hash fields retryJobs removed or changed
              ("{}" for "create")
  Output:
    the number of jobs put back
  Events:
    failed (prev = waiting) for a failed job put back; delayed for a promoted one; removed for a re-created job
    deleted again.
]]
local waitKey, prioritizedKey, failedKey, eventsKey, unsentKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local jobPrefix, maxEvents, count = ARGV[1], ARGV[2], tonumber(ARGV[3])
local GROUP = 4

local undone = 0
for i = 0, count - 1 do
  local at = 4 + i * GROUP
  local jobId, mode, score, fields = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  local jobKey = jobPrefix .. jobId
  -- Still unsent and still waiting where retryJobs put it: no message of it was confirmed, none delivered.
  if redis.call("ZREM", unsentKey, jobId) == 1 and
      redis.call("LREM", waitKey, -1, jobId) + redis.call("ZREM", prioritizedKey, jobId) > 0 then
    undone = undone + 1
    if mode ~= "create" then
      local restored = {}
      for field, value in pairs(cjson.decode(fields)) do
        restored[#restored + 1] = field
        restored[#restored + 1] = value
      end
      if #restored > 0 then
        redis.call("HSET", jobKey, unpack(restored))
      end
      redis.call("ZADD", failedKey, score, jobId)
      if mode == "retry" then
        redis.call("XADD", eventsKey, "*", "event", "failed", "jobId", jobId,
          "failedReason", redis.call("HGET", jobKey, "failedReason") or "", "prev", "waiting")
      else
        redis.call("XADD", eventsKey, "*", "event", "delayed", "jobId", jobId,
          "delay", math.floor(tonumber(score) / 4096), "sqs", 1)
      end
    else
      redis.call("DEL", jobKey, jobKey .. ":logs")
      redis.call("XADD", eventsKey, "*", "event", "removed", "jobId", jobId, "prev", "wait")
    end
  end
end
redis.call("XTRIM", eventsKey, "MAXLEN", "~", maxEvents)
return undone
