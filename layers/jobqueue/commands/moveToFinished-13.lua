--[[
  Record how the jobs an invocation ran ended, and start its next job, in one call (BullMQ's moveToFinished
  also fetches the next job). The worker calls it between two jobs, so each outcome is committed before the
  next processor runs: an invocation cut at any point keeps the outcomes of the jobs that returned before.

  Every write is idempotent, so a call whose reply was lost can be sent again: a finish applies only to a job
  still active, and a start sets its attempt from the attempts made instead of counting up.

  Input:
    KEYS[1] active list     KEYS[2] completed zset     KEYS[3] failed zset     KEYS[4] delayed zset
    KEYS[5] events stream   KEYS[6] completed metrics hash   KEYS[7] failed metrics hash
    KEYS[8] job leases (zset)   KEYS[9] concurrency slots (zset)
    KEYS[10] tombstones (zset of "<jobId>:<timestamp>": jobs deleted by retention, whose duplicate messages
             must be dropped)   KEYS[11] wait list (released jobs go back to its consuming end)
    KEYS[12] rate limiter: list of recent start times (ms), newest first
    KEYS[13] parent updates (hash): a completed or failed job that is a flow's child (its `parent` field)
             records the update its parent needs, which jobqueue.flow_parents applies in the parent's queue
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] timestamp (ms)
    ARGV[3] events stream cap
    ARGV[4] the invocation's token: its concurrency slot is released ("" = still held)
    ARGV[5] the job to start now ("" = none): it must be active (claimed by moveToActive)
    ARGV[6] tombstones older than this (ms) are dropped
    ARGV[7] number of finished jobs n     ARGV[8] number of released jobs m
    ARGV[9] limiter max starts ("" = no rate limit)     ARGV[10] limiter duration (ms)
    ARGV[11] the started job's group id ("" = none)
    ARGV[12] group rate limit: max starts of one group ("" = none)     ARGV[13] its duration (ms)
    ARGV[14] prefix of the groups' slot keys (+ group id): a group's running jobs, scored by lease expiry (ms)
    ARGV[15] prefix of the groups' rate limiters (+ id)
    ARGV[16] group concurrency: jobs of one group running at once ("" = no limit)
    ARGV[17] lease length (ms): how long a started job holds its group slot without an answer
    ARGV[18..] n groups of 10: job id, outcome ("completed" | "retry" | "failed"), the attempt's number (the
              job's attempts made from now on), return value JSON (completed) or failure reason, stack trace
              JSON list, next attempt due (ms, retry only; else ""), keep count ("": keep all), keep age
              (s; "": no limit), group id ("": none), whether the job is a flow's child as its start answered
              ("1" | "0"; "": unknown, its `parent` field is read). A failed job owes its dead letter (field
              "dlp") until the dead-letter handler records it.
    then m groups of 3: a claimed job that will not run in this invocation, where it goes back to:
              "wait" | "delayed" (due now), and its group id ("": none). Its lease and group slot are released; no
              attempt was spent.
  Output:
    {codes, attempt, retryAfter, parent}: per finished job 0 recorded, 1 already recorded (a repeated call), -1
    no such job (state lost while running: restore it as active, then call again); the started job's attempt
    number (1 for its first), 0 when none was asked for, -1 when its state was lost (restore, then call again),
    -2 when the rate limit refused the start (nothing changed: it may be asked again in retryAfter ms), -3 when
    the job has finished (a second delivery of it in the same batch): not started, -4 when its group's rate
    limit refused the start (nothing changed: its group may start one in retryAfter ms), -5 when its group
    already runs `group concurrency` jobs (nothing changed); parent 1 when the started job is a flow's child
    (it has a `parent` field, which never changes: its finish passes "1" so that only then is it read), else 0.
  Clocks:
    job fields, scores and metrics use ARGV[2], the caller's clock; the rate limits and group slots, shared by
    every invocation, use Redis's (TIME), and so does processedOn when one of them gates the start.
  Rate limit:
    a sliding-window log of start times: a start is allowed while fewer than `max` happened in the last
    `duration` ms, whichever invocation made them; the same per group for a job with a group id.
  Groups:
    a started job of a group takes one of its group's slots until it finishes or is released here, or its lease
    expires (its invocation died: expired slots are pruned before the group's next start).
  Events:
    completed (with returnvalue), delayed (a retry, with its due time), failed (with failedReason),
    active (the started job), waiting (a released job); delayed and waiting with sqs = 1 (addJobs-8.lua).
  Retention:
    after the batch, each finished set touched is trimmed to the keep count and age its jobs asked for
    (BullMQ's removeOnComplete / removeOnFail), deleting the trimmed jobs' hashes and logs and leaving a
    tombstone for each, so that a later delivery of the same message does not run the job again. A flow
    parent's keys (`:dependencies`, `:processed`, `:failed`, `:unsuccessful`) go with it.
  Metrics (BullMQ's, as its Worker option `metrics` keeps them and `Queue.getMetrics` reads them):
    the `count` field of the completed and failed metrics hashes grows by the call's jobs; when a call is the
    first of a new minute, the closed minutes' counts are pushed to `<metrics hash>:data` (newest first: the
    minute of `prevTS`, then a 0 for each minute without a finish), trimmed to METRICS_POINTS (a week), and
    `prevTS`/`prevCount` move to this call.
  Stack traces:
    a retry or failure appends its attempt's stack trace (ARGV: a JSON list of one) to the job's `stacktrace`
    field, a JSON list as BullMQ keeps it, holding the last STACK_TRACE_LIMIT attempts' traces.
  Payloads:
    a job trimmed by retention whose data is an S3 placeholder (jobqueue.payloads) is pushed, as "<jobId>\n<data>", to the list
    "<job key prefix>payloads:gone" for the sweeper to delete its object
]]
local activeKey, completedKey, failedKey, delayedKey, eventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local completedMetricsKey, failedMetricsKey, leasesKey, slotsKey = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local removedKey, waitKey, limiterKey, parentUpdatesKey = KEYS[10], KEYS[11], KEYS[12], KEYS[13]
local jobPrefix, timestamp, maxEvents, token, startId = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local expired, count, releases = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local limitMax, limitDuration = tonumber(ARGV[9]), tonumber(ARGV[10])
local startGroup, groupLimitMax, groupLimitDuration = ARGV[11], tonumber(ARGV[12]), tonumber(ARGV[13])
local groupSlotsPrefix, groupLimiterPrefix = ARGV[14], ARGV[15]
local groupConcurrency, leaseMs = tonumber(ARGV[16]), tonumber(ARGV[17])
local GROUP, FIRST = 10, 18
local STACK_TRACE_LIMIT = 10

-- The job's stack traces with this attempt's appended, the oldest dropped beyond STACK_TRACE_LIMIT.
local function traces(jobKey, latest)
  local ok, kept = pcall(cjson.decode, redis.call("HGET", jobKey, "stacktrace") or "[]")
  if not ok or type(kept) ~= "table" then kept = {} end
  local okNew, added = pcall(cjson.decode, latest)
  if okNew and type(added) == "table" then
    for _, trace in ipairs(added) do kept[#kept + 1] = trace end
  end
  local first = math.max(1, #kept - STACK_TRACE_LIMIT + 1)
  local last = {}
  for n = first, #kept do last[#last + 1] = kept[n] end
  if #last == 0 then return "[]" end
  return cjson.encode(last)
end

-- Hot paths pass Redis strings, not Lua numbers: Redis formats each number argument with snprintf("%.17g").
--- @include "emitEvents"

local trimmed = false
local function deleteJobs(ids)
  for _, id in ipairs(ids) do
    local jobKey = jobPrefix .. id
    local fields = redis.call("HMGET", jobKey, "timestamp", "data")
    local added = fields[1]
    if fields[2] and string.sub(fields[2], 1, 20) == '{"jobqueuePayload":"' then
      redis.call("RPUSH", jobPrefix .. "payloads:gone", id .. "\n" .. fields[2])
    end
    if added then redis.call("ZADD", removedKey, timestamp, id .. ":" .. added) end
    redis.call("DEL", jobKey, jobKey .. ":logs", jobKey .. ":dependencies", jobKey .. ":processed",
      jobKey .. ":failed", jobKey .. ":unsuccessful")
    trimmed = true
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

-- A flow's child tells its parent how it ended: recorded here, applied in the parent's queue by a second call.
local function recordParentUpdate(jobKey, jobId, outcome, value)
  local parent = redis.call("HGET", jobKey, "parent")
  if parent then
    redis.call("HSET", parentUpdatesKey, jobId, cjson.encode({parent = parent, outcome = outcome, value = value,
      at = tonumber(timestamp)}))
  end
end

local codes, completed, trims, failures, released = {}, {}, {}, 0, {}
for i = 0, count - 1 do
  local at = FIRST + i * GROUP
  local jobId, outcome, attempt = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local value, stacktrace, dueAt = ARGV[at + 3], ARGV[at + 4], ARGV[at + 5]
  local keepCount, keepAge, group, hasParent = ARGV[at + 6], ARGV[at + 7], ARGV[at + 8], ARGV[at + 9] ~= "0"
  local jobKey = jobPrefix .. jobId
  released[#released + 1] = jobId
  if group ~= "" then redis.call("ZREM", groupSlotsPrefix .. group, jobId) end
  if redis.call("LREM", activeKey, "1", jobId) == 0 then
    codes[i + 1] = redis.call("EXISTS", jobKey) == 1 and 1 or -1
  else
    codes[i + 1] = 0
    if outcome == "completed" then
      completed[#completed + 1] = timestamp
      completed[#completed + 1] = jobId
      redis.call("HSET", jobKey, "returnvalue", value, "finishedOn", timestamp, "atm", attempt)
      emit("completed", "jobId", jobId, "returnvalue", value, "prev", "active")
      if hasParent then recordParentUpdate(jobKey, jobId, outcome, value) end
    elseif outcome == "retry" then
      local due = tonumber(dueAt)
      redis.call("ZADD", delayedKey, due * 4096 + math.fmod(tonumber(jobId) or i, 4096), jobId)
      redis.call("HSET", jobKey, "atm", attempt, "failedReason", value, "stacktrace", traces(jobKey, stacktrace),
        "delay", due - tonumber(timestamp))
      emit("delayed", "jobId", jobId, "delay", dueAt, "sqs", "1")
    else
      failures = failures + 1
      redis.call("ZADD", failedKey, timestamp, jobId)
      redis.call("HSET", jobKey, "failedReason", value, "stacktrace", traces(jobKey, stacktrace),
        "finishedOn", timestamp, "atm", attempt, "dlp", 1)
      emit("failed", "jobId", jobId, "failedReason", value, "prev", "active")
      if hasParent then recordParentUpdate(jobKey, jobId, outcome, value) end
    end
    if outcome ~= "retry" and (keepCount ~= "" or keepAge ~= "") then
      local setKey = outcome == "completed" and completedKey or failedKey
      trims[setKey .. "|" .. keepCount .. "|" .. keepAge] = {setKey, tonumber(keepCount), tonumber(keepAge)}
    end
  end
end

for i = 0, releases - 1 do
  local at = FIRST + count * GROUP + i * 3
  local jobId, where, group = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  if group ~= "" then redis.call("ZREM", groupSlotsPrefix .. group, jobId) end
  if redis.call("LREM", activeKey, "1", jobId) > 0 then
    released[#released + 1] = jobId
    if where == "delayed" then
      redis.call("ZADD", delayedKey, tonumber(timestamp) * 4096 + math.fmod(tonumber(jobId) or i, 4096), jobId)
    else
      redis.call("RPUSH", waitKey, jobId)
    end
    emit("waiting", "jobId", jobId, "prev", "active", "sqs", "1")
  end
end

local attempt, retryAfter, startParent = 0, 0, 0
if startId ~= "" then
  local startKey = jobPrefix .. startId
  local state = redis.call("HMGET", startKey, "name", "atm", "finishedOn", "parent")
  local now, startedAt = tonumber(timestamp), timestamp
  if limitMax or (startGroup ~= "" and (groupLimitMax or groupConcurrency)) then
    local clock = redis.call("TIME")
    now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
    startedAt = now
  end
  local blocking = limitMax and redis.call("LINDEX", limiterKey, limitMax - 1)
  local groupLimiterKey = startGroup ~= "" and groupLimitMax and groupLimiterPrefix .. startGroup
  local groupBlocking = groupLimiterKey and redis.call("LINDEX", groupLimiterKey, groupLimitMax - 1)
  local groupSlotsKey = startGroup ~= "" and groupConcurrency and groupSlotsPrefix .. startGroup
  local function groupFull()
    redis.call("ZREMRANGEBYSCORE", groupSlotsKey, "-inf", now)
    return redis.call("ZCARD", groupSlotsKey) >= groupConcurrency and not redis.call("ZSCORE", groupSlotsKey, startId)
  end
  if not state[1] then
    attempt = -1
  elseif state[3] then
    attempt = -3
  elseif blocking and tonumber(blocking) > now - limitDuration then
    attempt, retryAfter = -2, math.max(1, tonumber(blocking) + limitDuration - now)
  elseif groupBlocking and tonumber(groupBlocking) > now - groupLimitDuration then
    attempt, retryAfter = -4, math.max(1, tonumber(groupBlocking) + groupLimitDuration - now)
  elseif groupSlotsKey and groupFull() then
    attempt = -5
  else
    attempt = (tonumber(state[2]) or 0) + 1
    startParent = state[4] and 1 or 0
    redis.call("HSET", startKey, "processedOn", startedAt, "ats", string.format("%d", attempt))
    emit("active", "jobId", startId, "prev", "waiting")
    if limitMax then
      redis.call("LPUSH", limiterKey, now)
      redis.call("LTRIM", limiterKey, 0, limitMax - 1)
      redis.call("PEXPIRE", limiterKey, limitDuration)
    end
    if groupSlotsKey then
      redis.call("ZADD", groupSlotsKey, now + leaseMs, startId)
    end
    if groupLimiterKey then
      redis.call("LPUSH", groupLimiterKey, now)
      redis.call("LTRIM", groupLimiterKey, 0, groupLimitMax - 1)
      redis.call("PEXPIRE", groupLimiterKey, groupLimitDuration)
    end
  end
end

-- BullMQ's per-minute metrics (its collectMetrics): one HINCRBY and one HMGET a call, more once a minute.
local METRICS_POINTS, MINUTE_MS = 10080, 60000
local function collectMetrics(key, n)
  local count = redis.call("HINCRBY", key, "count", string.format("%d", n)) - n
  local prev = redis.call("HMGET", key, "prevTS", "prevCount")
  local ts = tonumber(timestamp)
  if not prev[1] then  -- the first minute counts from here (a count kept from before has no points)
    redis.call("HSET", key, "prevTS", ts, "prevCount", count)
    return
  end
  local gap = math.min(math.floor(ts / MINUTE_MS) - math.floor(tonumber(prev[1]) / MINUTE_MS), METRICS_POINTS)
  if gap > 0 then
    redis.call("LPUSH", key .. ":data", count - tonumber(prev[2] or 0))
    local zeros = {}
    for i = 1, math.min(gap - 1, 1000) do zeros[i] = 0 end
    for first = 1, gap - 1, 1000 do  -- a long idle spell: its empty minutes, at most 1000 a command
      redis.call("LPUSH", key .. ":data", unpack(zeros, 1, math.min(1000, gap - first)))
    end
    redis.call("LTRIM", key .. ":data", 0, METRICS_POINTS - 1)
    redis.call("HSET", key, "prevTS", ts, "prevCount", count)
  end
end

if #completed > 0 then
  redis.call("ZADD", completedKey, unpack(completed))
  collectMetrics(completedMetricsKey, #completed / 2)
end
if failures > 0 then
  collectMetrics(failedMetricsKey, failures)
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
if trimmed then
  redis.call("ZREMRANGEBYSCORE", removedKey, "-inf", "(" .. expired)
end
return {codes, attempt, retryAfter, startParent}
