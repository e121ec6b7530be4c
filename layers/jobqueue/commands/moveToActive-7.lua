--[[
  Move the jobs of one SQS batch to active, in one call; and tell which deliveries must not run at all.

  Input:
    KEYS[1] wait list     KEYS[2] active list     KEYS[3] delayed zset     KEYS[4] prioritized zset
    KEYS[5] events stream     KEYS[6] meta hash (field "paused": the queue is paused)
    KEYS[7] tombstones of removed jobs (zset of "<jobId>:<timestamp>")
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] timestamp (ms)
    ARGV[3] events stream cap
    ARGV[4] number of jobs n
    ARGV[5..] n groups of 5: job id, the job's timestamp (ms it was added, as its message carries it),
              attempt number (1-based, this delivery included), attempts made before it (attempt - 1, passed
              as text so the script converts no numbers), where the job is expected:
              "wait" | "delayed" | "prioritized", or "check" for a delivery that will not run now (a deferral
              or an exhausted job) and only needs to know whether its job was removed
  Output:
    n codes:  0 started
              1 started again after a stall (still active from a delivery whose worker died)
              2 checked: not removed ("check" deliveries only; nothing changed)
             -1 no such job: its state was lost; the caller restores it from the message and calls again
             -2 already finished: a duplicate delivery, not to be run again
             -3 removed: the job was removed (drain, clean, remove) after this message was sent; drop it
             -4 paused: the queue is paused; the job stays where it is and the delivery is deferred
    Codes are decided in that order of precedence: removed, checked, paused, then the job's state.
  Events:
    stalled (for code 1), active (prev = the state it left).
]]
local waitKey, activeKey, delayedKey, prioritizedKey, eventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local metaKey, removedKey = KEYS[6], KEYS[7]
local jobPrefix, timestamp, maxEvents, count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local GROUP = 5

-- Once per batch: the pause flag, and whether any tombstone exists (almost never: no lookups per job then).
local paused = redis.call("HEXISTS", metaKey, "paused") == 1
local anyRemoved = redis.call("EXISTS", removedKey) == 1

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
  local jobId, jobTimestamp, attempt, attemptsMade = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  local expected = ARGV[at + 4]
  local jobKey = jobPrefix .. jobId
  local from
  if anyRemoved and redis.call("ZSCORE", removedKey, jobId .. ":" .. jobTimestamp) then
    codes[i + 1] = -3
  elseif expected == "check" then
    codes[i + 1] = 2
  elseif paused then
    codes[i + 1] = -4
  elseif removeFrom(expected, jobId) > 0 then
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
