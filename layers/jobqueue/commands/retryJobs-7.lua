--[[
  Put jobs back to waiting with fresh attempts, in one call per batch: failed jobs (retry failed, or the
  redrive of a dead letter whose job Redis still holds) and dead letters whose job Redis lost (re-created
  from the record under the original id). The dead-letter record of each job moved is removed. The caller
  sends every moved job to SQS afterwards, and undoes the batch with undoRetryJobs if SQS refuses.

  Input:
    KEYS[1] wait list     KEYS[2] prioritized zset     KEYS[3] priority counter     KEYS[4] failed zset
    KEYS[5] events stream
    KEYS[6] dead-letter queue's wait list     KEYS[7] its events stream
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] dead-letter queue's job key prefix ("<prefix>:<dlq>:")
    ARGV[3] timestamp (ms)
    ARGV[4] events stream cap
    ARGV[5] name of this queue's records ("<queue>_failed"): a record of another queue sharing the
            dead-letter queue is never removed, whatever its id
    ARGV[6] number of jobs n
    ARGV[7..] n groups of 7: job id, "retry" (a failed job) or "create" (re-create it), dead-letter record id
              ("" for none), and for "create" only (else ""): name, data JSON, opts JSON, priority
  Output:
    n codes:  0 moved to waiting (and its record removed)
             -1 "retry": no such job
             -2 "create": a job with that id exists already
             -3 "retry": the job is not failed
  Events:
    added ("create" only), then waiting (prev = failed for "retry"); removed on the dead-letter queue for
    each record removed.
  Placement:
    a job with a priority goes to "prioritized"; the others are pushed at the tail of "wait", where their
    old ids belong and where moveToActive looks for them first (the list is newest first).
]]
local waitKey, prioritizedKey, priorityCounterKey, failedKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local eventsKey, dlqWaitKey, dlqEventsKey = KEYS[5], KEYS[6], KEYS[7]
local jobPrefix, dlqPrefix, timestamp, maxEvents = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local recordName, count = ARGV[5], tonumber(ARGV[6])
local GROUP = 7

local function emit(...)
  redis.call("XADD", eventsKey, "*", "event", ...)
end

local codes = {}
for i = 0, count - 1 do
  local at = 7 + i * GROUP
  local jobId, mode, recordId = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local jobKey = jobPrefix .. jobId
  local priority
  if mode == "retry" then
    if redis.call("EXISTS", jobKey) == 0 then
      codes[i + 1] = -1
    elseif redis.call("ZREM", failedKey, jobId) == 0 then
      codes[i + 1] = -3
    else
      redis.call("HDEL", jobKey, "finishedOn", "processedOn", "failedReason", "stacktrace", "atm", "ats")
      priority = redis.call("HGET", jobKey, "priority") or "0"
    end
  elseif redis.call("EXISTS", jobKey) == 1 then
    codes[i + 1] = -2
  else
    local name = ARGV[at + 3]
    priority = ARGV[at + 6]
    redis.call("HSET", jobKey, "name", name, "data", ARGV[at + 4], "opts", ARGV[at + 5], "timestamp", timestamp,
      "delay", 0, "priority", priority)
    -- Its id may linger in "failed" when retention deleted the hash but not the set entry.
    redis.call("ZREM", failedKey, jobId)
    emit("added", "jobId", jobId, "name", name)
  end
  if priority then
    if priority ~= "0" then
      local counter = redis.call("INCR", priorityCounterKey)
      redis.call("ZADD", prioritizedKey, tonumber(priority) * 4294967296 + counter, jobId)
    else
      redis.call("RPUSH", waitKey, jobId)
    end
    if mode == "retry" then
      emit("waiting", "jobId", jobId, "prev", "failed")
    else
      emit("waiting", "jobId", jobId)
    end
    local recordKey = dlqPrefix .. recordId
    if recordId ~= "" and redis.call("HGET", recordKey, "name") == recordName then
      redis.call("DEL", recordKey, recordKey .. ":logs")
      redis.call("LREM", dlqWaitKey, 1, recordId)
      redis.call("XADD", dlqEventsKey, "MAXLEN", "~", maxEvents, "*", "event", "removed", "jobId", recordId,
        "prev", "wait")
    end
    codes[i + 1] = 0
  end
end
redis.call("XTRIM", eventsKey, "MAXLEN", "~", maxEvents)
return codes
