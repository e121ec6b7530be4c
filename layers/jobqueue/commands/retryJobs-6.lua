--[[
  Put jobs back to waiting with fresh attempts, in one call per batch: failed jobs (retry failed, or the
  redrive of a dead letter whose job Redis still holds) and dead letters whose job Redis lost (re-created
  from the record under the original id); or promote delayed jobs (BullMQ's promote: waiting now, their
  `delay` 0, attempts kept). Each job moved is marked unsent: the caller sends it to SQS next,
  then clears the marks and only then removes the dead-letter records (a caller cut short in between leaves
  the record and the mark, and the sweeper or a second run sends the job); if SQS refuses, undoRetryJobs puts
  the job back.

  Input:
    KEYS[1] wait list     KEYS[2] prioritized zset     KEYS[3] priority counter
    KEYS[4] the zset the jobs leave: failed (delayed for "promote"; one call promotes only)
    KEYS[5] events stream     KEYS[6] unsent zset
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] timestamp (ms)
    ARGV[3] events stream cap
    ARGV[4] number of jobs n
    ARGV[5..] n groups of 6: job id, "retry" (a failed job), "promote" (a delayed job) or "create" (re-create
              it), and for "create" only
              (else ""): name, data JSON, opts JSON, priority
  Output:
    n codes:  0 moved to waiting
             -1 "retry": no such job
             -2 "create": a job with that id exists already
             -3 "retry": the job is not failed; "promote": it is not delayed
  Events:
    added ("create" only), then waiting (prev = failed for "retry", delayed for "promote"), with sqs = 1 (see
    addJobs-8.lua).
  Placement:
    a job with a priority goes to "prioritized"; the others are pushed at the tail of "wait", where their
    old ids belong and where moveToActive looks for them first (the list is newest first).
]]
local waitKey, prioritizedKey, priorityCounterKey, failedKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local eventsKey, unsentKey = KEYS[5], KEYS[6]
local jobPrefix, timestamp, maxEvents, count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local GROUP = 6

local function emit(...)
  redis.call("XADD", eventsKey, "*", "event", ...)
end

local codes = {}
for i = 0, count - 1 do
  local at = 5 + i * GROUP
  local jobId, mode = ARGV[at], ARGV[at + 1]
  local jobKey = jobPrefix .. jobId
  local priority
  if mode ~= "create" then
    if redis.call("EXISTS", jobKey) == 0 then
      codes[i + 1] = -1
    elseif redis.call("ZREM", failedKey, jobId) == 0 then
      codes[i + 1] = -3
    else
      if mode == "retry" then
        redis.call("HDEL", jobKey, "finishedOn", "processedOn", "failedReason", "stacktrace", "atm", "ats")
      else
        redis.call("HSET", jobKey, "delay", 0)  -- an old delayed message finds it not delayed
      end
      priority = redis.call("HGET", jobKey, "priority") or "0"
    end
  elseif redis.call("EXISTS", jobKey) == 1 then
    codes[i + 1] = -2
  else
    local name = ARGV[at + 2]
    priority = ARGV[at + 5]
    redis.call("HSET", jobKey, "name", name, "data", ARGV[at + 3], "opts", ARGV[at + 4], "timestamp", timestamp,
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
    if mode ~= "create" then
      emit("waiting", "jobId", jobId, "prev", mode == "retry" and "failed" or "delayed", "sqs", 1)
    else
      emit("waiting", "jobId", jobId, "sqs", 1)
    end
    redis.call("ZADD", unsentKey, timestamp, jobId)
    codes[i + 1] = 0
  end
end
redis.call("XTRIM", eventsKey, "MAXLEN", "~", maxEvents)
return codes
