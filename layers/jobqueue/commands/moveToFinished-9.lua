--[[
  Record how each job of one SQS batch ended, in one call.

  Input:
    KEYS[1] active list     KEYS[2] completed zset     KEYS[3] failed zset     KEYS[4] delayed zset
    KEYS[5] events stream   KEYS[6] completed metrics hash   KEYS[7] failed metrics hash
    KEYS[8] job leases (zset)   KEYS[9] concurrency slots (zset)
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] timestamp (ms)
    ARGV[3] events stream cap
    ARGV[4] number of jobs n
    ARGV[5] the invocation's token: its concurrency slot is released ("" = none held)
    ARGV[6..] n groups of 8: job id, outcome ("completed" | "retry" | "failed"), attempts made,
              return value JSON (completed) or failure reason, stack trace JSON list,
              next attempt due (ms, retry only; else ""), keep count ("": keep all), keep age (s; "": no limit)
  Output:
    n codes: 0 recorded; -1 no such job (state lost while running: restore, then call again)
  Events:
    completed (with returnvalue), delayed (a retry, with its due time), failed (with failedReason).
  Retention:
    after the batch, each finished set touched is trimmed to the keep count and age its jobs asked for
    (BullMQ's removeOnComplete / removeOnFail), deleting the trimmed jobs' hashes and logs.
  Leases:
    the jobs' leases and the invocation's slot (moveToActive took them) are released.
  Metrics:
    the `count` fields of BullMQ's metrics hashes grow by the batch's completed and failed jobs (what
    /metrics exports as processed and failed counters), one HINCRBY per outcome per call.
]]
local activeKey, completedKey, failedKey, delayedKey, eventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local completedMetricsKey, failedMetricsKey, leasesKey, slotsKey = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local jobPrefix, timestamp, maxEvents, count, token = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local GROUP = 8

-- Events are appended untrimmed and the stream is trimmed once per call: fewer arguments per event.
local function emit(...)
  redis.call("XADD", eventsKey, "*", "event", ...)
end

local function deleteJobs(ids)
  for _, id in ipairs(ids) do
    redis.call("DEL", jobPrefix .. id, jobPrefix .. id .. ":logs")
  end
end

local function trim(setKey, keepCount, keepAge)
  if keepAge then
    local old = redis.call("ZRANGEBYSCORE", setKey, "-inf", tonumber(timestamp) - keepAge * 1000, "LIMIT", 0, 1000)
    if #old > 0 then
      deleteJobs(old)
      redis.call("ZREM", setKey, unpack(old))
    end
  end
  if keepCount then
    local excess = redis.call("ZCARD", setKey) - keepCount
    if excess > 0 then
      deleteJobs(redis.call("ZRANGE", setKey, 0, excess - 1))
      redis.call("ZREMRANGEBYRANK", setKey, 0, excess - 1)
    end
  end
end

local codes, completed, trims, failures, released = {}, {}, {}, 0, {}
for i = 0, count - 1 do
  local at = 6 + i * GROUP
  local jobId, outcome, attempts = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local value, stacktrace, dueAt = ARGV[at + 3], ARGV[at + 4], ARGV[at + 5]
  local keepCount, keepAge = ARGV[at + 6], ARGV[at + 7]
  local jobKey = jobPrefix .. jobId
  released[#released + 1] = jobId
  if redis.call("LREM", activeKey, 1, jobId) == 0 and redis.call("EXISTS", jobKey) == 0 then
    codes[i + 1] = -1
  else
    codes[i + 1] = 0
    if outcome == "completed" then
      completed[#completed + 1] = timestamp
      completed[#completed + 1] = jobId
      redis.call("HSET", jobKey, "returnvalue", value, "finishedOn", timestamp, "atm", attempts)
      emit("completed", "jobId", jobId, "returnvalue", value, "prev", "active")
    elseif outcome == "retry" then
      local due = tonumber(dueAt)
      redis.call("ZADD", delayedKey, due * 4096 + math.fmod(tonumber(jobId) or i, 4096), jobId)
      redis.call("HSET", jobKey, "atm", attempts, "failedReason", value, "stacktrace", stacktrace,
        "delay", due - tonumber(timestamp))
      emit("delayed", "jobId", jobId, "delay", dueAt)
    else
      failures = failures + 1
      redis.call("ZADD", failedKey, timestamp, jobId)
      redis.call("HSET", jobKey, "failedReason", value, "stacktrace", stacktrace, "finishedOn", timestamp,
        "atm", attempts)
      emit("failed", "jobId", jobId, "failedReason", value, "prev", "active")
    end
    if outcome ~= "retry" and (keepCount ~= "" or keepAge ~= "") then
      local setKey = outcome == "completed" and completedKey or failedKey
      trims[setKey .. "|" .. keepCount .. "|" .. keepAge] = {setKey, tonumber(keepCount), tonumber(keepAge)}
    end
  end
end
if #completed > 0 then
  redis.call("ZADD", completedKey, unpack(completed))
  redis.call("HINCRBY", completedMetricsKey, "count", #completed / 2)
end
if failures > 0 then
  redis.call("HINCRBY", failedMetricsKey, "count", failures)
end
if #released > 0 then
  redis.call("ZREM", leasesKey, unpack(released))
end
if token ~= "" then
  redis.call("ZREM", slotsKey, token)
end
for _, t in pairs(trims) do
  trim(t[1], t[2], t[3])
end
redis.call("XTRIM", eventsKey, "MAXLEN", "~", maxEvents)
return codes
