--[[
  Move the jobs of one SQS batch to active, in one call.

  Input:
    KEYS[1] wait list     KEYS[2] active list     KEYS[3] delayed zset     KEYS[4] prioritized zset
    KEYS[5] events stream
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] timestamp (ms)
    ARGV[3] events stream cap
    ARGV[4] number of jobs n
    ARGV[5..] n groups of 4: job id, attempt number (1-based, this delivery included), attempts made
              before it (attempt - 1, passed as text so the script converts no numbers),
              where the job is expected: "wait" | "delayed" | "prioritized"
  Output:
    n codes:  0 started
              1 started again after a stall (still active from a delivery whose worker died)
             -1 no such job: its state was lost; the caller restores it from the message and calls again
             -2 already finished: a duplicate delivery, not to be run again
  Events:
    stalled (for code 1), active (prev = the state it left).
]]
local waitKey, activeKey, delayedKey, prioritizedKey, eventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local jobPrefix, timestamp, maxEvents, count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local GROUP = 4

-- Events are appended untrimmed and the stream is trimmed once per call: fewer arguments per event.
local function emit(...)
  redis.call("XADD", eventsKey, "*", "event", ...)
end

-- A job leaves the wait list from whichever end is nearer, judged by generated ids (they grow with age),
-- so the cost follows how far SQS's delivery order strays from the list's order, not the backlog's size.
local headId, tailId
local function removeFromWait(jobId)
  if headId == nil then
    headId = tonumber(redis.call("LINDEX", waitKey, 0)) or false
    tailId = tonumber(redis.call("LINDEX", waitKey, -1)) or false
  end
  local id = tonumber(jobId)
  local fromHead = id and headId and tailId and (headId - id) < (id - tailId)
  return redis.call("LREM", waitKey, fromHead and 1 or -1, jobId)
end

local function removeFrom(where, jobId)
  if where == "wait" then return removeFromWait(jobId) end
  if where == "active" then return redis.call("LREM", activeKey, -1, jobId) end
  return redis.call("ZREM", where == "delayed" and delayedKey or prioritizedKey, jobId)
end

local FALLBACK = {"active", "delayed", "prioritized", "wait"}
local PREVIOUS = {wait = "waiting", delayed = "delayed", prioritized = "prioritized", active = "active"}

local codes, started = {}, {}
for i = 0, count - 1 do
  local at = 5 + i * GROUP
  local jobId, attempt, attemptsMade, expected = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  local jobKey = jobPrefix .. jobId
  local from
  if removeFrom(expected, jobId) > 0 then
    -- A job in a waiting structure exists and is unfinished: addJobs and removeJobs write both together.
    from = expected
  else
    local state = redis.call("HMGET", jobKey, "name", "finishedOn")
    if not state[1] then
      codes[i + 1] = -1
    elseif state[2] then
      codes[i + 1] = -2
    else
      from = false
      for _, where in ipairs(FALLBACK) do
        if where ~= expected and removeFrom(where, jobId) > 0 then
          from = where
          break
        end
      end
    end
  end
  if from ~= nil then
    redis.call("HSET", jobKey, "processedOn", timestamp, "ats", attempt, "atm", attemptsMade)
    if from == "active" then
      redis.call("HINCRBY", jobKey, "stc", 1)
      emit("stalled", "jobId", jobId)
      codes[i + 1] = 1
    else
      codes[i + 1] = 0
    end
    emit("active", "jobId", jobId, "prev", PREVIOUS[from or expected])
    started[#started + 1] = jobId
  end
end
if #started > 0 then
  redis.call("LPUSH", activeKey, unpack(started))
end
redis.call("XTRIM", eventsKey, "MAXLEN", "~", maxEvents)
return codes
