--[[
  Undo retryJobs for the jobs SQS refused: each goes back to failed as it was (or, re-created from a dead
  letter, is deleted again) and its dead-letter record is restored, so no job waits without a message.

  Input:
    KEYS[1] wait list     KEYS[2] prioritized zset     KEYS[3] failed zset     KEYS[4] events stream
    KEYS[5] dead-letter queue's wait list     KEYS[6] its events stream
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] dead-letter queue's job key prefix ("<prefix>:<dlq>:")
    ARGV[3] events stream cap
    ARGV[4] number of jobs n
    ARGV[5..] n groups of 6: job id, "retry" | "create" (as given to retryJobs), failed score (finishedOn;
              "retry" only), JSON object of the hash fields retryJobs removed ("retry" only; "{}" else),
              dead-letter record id ("" for none), JSON object of the record's hash ("" if there was none)
  Output:
    the number of jobs put back
  Events:
    failed (prev = waiting) for a failed job put back; removed for a re-created job deleted again;
    added and waiting on the dead-letter queue for each record restored.
]]
local waitKey, prioritizedKey, failedKey, eventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local dlqWaitKey, dlqEventsKey = KEYS[5], KEYS[6]
local jobPrefix, dlqPrefix, maxEvents, count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local GROUP = 6

local function hset(key, json)
  local fields = {}
  for field, value in pairs(cjson.decode(json)) do
    fields[#fields + 1] = field
    fields[#fields + 1] = value
  end
  if #fields > 0 then
    redis.call("HSET", key, unpack(fields))
  end
end

local undone = 0
for i = 0, count - 1 do
  local at = 5 + i * GROUP
  local jobId, mode, score, fields = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  local recordId, record = ARGV[at + 4], ARGV[at + 5]
  local jobKey = jobPrefix .. jobId
  -- Pushed at the tail by retryJobs, and not yet delivered: SQS never got its message.
  local left = redis.call("LREM", waitKey, -1, jobId) + redis.call("ZREM", prioritizedKey, jobId)
  if left > 0 then
    undone = undone + 1
    if mode == "retry" then
      hset(jobKey, fields)
      redis.call("ZADD", failedKey, score, jobId)
      redis.call("XADD", eventsKey, "*", "event", "failed", "jobId", jobId,
        "failedReason", redis.call("HGET", jobKey, "failedReason") or "", "prev", "waiting")
    else
      redis.call("DEL", jobKey, jobKey .. ":logs")
      redis.call("XADD", eventsKey, "*", "event", "removed", "jobId", jobId, "prev", "wait")
    end
    if recordId ~= "" and record ~= "" and redis.call("EXISTS", dlqPrefix .. recordId) == 0 then
      hset(dlqPrefix .. recordId, record)
      redis.call("LPUSH", dlqWaitKey, recordId)
      redis.call("XADD", dlqEventsKey, "MAXLEN", "~", maxEvents, "*", "event", "added", "jobId", recordId,
        "name", redis.call("HGET", dlqPrefix .. recordId, "name") or "")
      redis.call("XADD", dlqEventsKey, "MAXLEN", "~", maxEvents, "*", "event", "waiting", "jobId", recordId)
    end
  end
end
redis.call("XTRIM", eventsKey, "MAXLEN", "~", maxEvents)
return undone
