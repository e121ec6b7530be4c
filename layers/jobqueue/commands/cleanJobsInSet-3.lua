--[[
  Remove up to a limit of jobs of one state, oldest first, with their logs: BullMQ's clean (jobs older than
  a grace period) and drain (every waiting job), one call per batch. Every removed job may still have an SQS
  message on its way (a waiting job's first, a finished job's duplicate): each gets a tombstone, so that the
  worker drops that message instead of restoring the job from it and running it. Active jobs are never touched.

  Input:
    KEYS[1] the state's key: the wait list, or the prioritized, delayed, completed or failed zset
    KEYS[2] events stream
    KEYS[3] tombstones (zset of "<jobId>:<timestamp>" scored by removal time)
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] timestamp (ms)
    ARGV[3] cutoff (ms): only jobs finished (completed, failed), last processed or added (others) at or before
            it are removed; "" removes regardless of age (drain)
    ARGV[4] most jobs to remove in this call (> 0)
    ARGV[5] the state: "wait" | "prioritized" | "delayed" | "completed" | "failed"
    ARGV[6] events stream cap
    ARGV[7] tombstones older than this (ms) are dropped
    ARGV[8] "1" to emit a cleaned event (clean), "0" not to (drain)
  Output:
    the ids removed; fewer than the limit means nothing else in the window qualified
  Events:
    removed (per job, prev = the state), then cleaned (with the count) if asked for
  Payloads:
    a job whose data is an S3 placeholder (jobqueue.payloads) is pushed, as "<jobId>\n<data>", to the list
    "<job key prefix>payloads:gone" for the sweeper to delete its object
]]
local setKey, eventsKey, removedKey = KEYS[1], KEYS[2], KEYS[3]
local jobPrefix, timestamp, cutoff, limit = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local state, maxEvents, expired, emitCleaned = ARGV[5], ARGV[6], ARGV[7], ARGV[8] == "1"
-- A job id is never empty, so an empty string marks list entries for removal.
local MARKER = ""

local removed = {}

-- Delete one job; true if it was old enough. `fields` are the hash fields whose first present value is the
-- job's age reference.
local function removeIfOld(jobId, fields)
  local jobKey = jobPrefix .. jobId
  local values = redis.call("HMGET", jobKey, "timestamp", "data", unpack(fields))
  if cutoff then
    local reference
    for i = 3, #values do
      reference = reference or values[i]
    end
    if reference and tonumber(reference) > cutoff then
      return false
    end
  end
  redis.call("DEL", jobKey, jobKey .. ":logs", jobKey .. ":dependencies", jobKey .. ":processed", jobKey .. ":failed",
    jobKey .. ":unsuccessful")
  if values[2] and string.sub(values[2], 1, 20) == '{"jobqueuePayload":"' then
    redis.call("RPUSH", jobPrefix .. "payloads:gone", jobId .. "\n" .. values[2])
  end
  if values[1] then
    redis.call("ZADD", removedKey, timestamp, jobId .. ":" .. values[1])
  end
  redis.call("XADD", eventsKey, "*", "event", "removed", "jobId", jobId, "prev", state)
  removed[#removed + 1] = jobId
  return true
end

if state == "wait" then
  -- The oldest jobs are at the tail: look at the last `limit` entries, oldest first.
  local window = redis.call("LRANGE", setKey, -limit, -1)
  for i = #window, 1, -1 do
    if removeIfOld(window[i], {"processedOn", "timestamp"}) then
      redis.call("LSET", setKey, i - #window - 1, MARKER)
    end
  end
  if #removed > 0 then
    redis.call("LREM", setKey, -#removed, MARKER)
  end
else
  local candidates, fields
  if state == "completed" or state == "failed" then
    -- Scored by finishedOn: the range is exactly the jobs old enough.
    candidates = redis.call("ZRANGEBYSCORE", setKey, "-inf", cutoff or "+inf", "LIMIT", 0, limit)
    cutoff, fields = nil, {}
  else
    candidates = redis.call("ZRANGE", setKey, 0, limit - 1)
    fields = state == "delayed" and {"processedOn", "timestamp"} or {"timestamp"}
  end
  for _, jobId in ipairs(candidates) do
    removeIfOld(jobId, fields)
  end
  if #removed > 0 then
    redis.call("ZREM", setKey, unpack(removed))
  end
end

if #removed > 0 then
  redis.call("ZREMRANGEBYSCORE", removedKey, "-inf", "(" .. expired)
end
if emitCleaned then
  redis.call("XADD", eventsKey, "*", "event", "cleaned", "count", #removed)
end
redis.call("XTRIM", eventsKey, "MAXLEN", "~", maxEvents)
return removed
