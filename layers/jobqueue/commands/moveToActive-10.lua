--[[
  Move the jobs of one SQS batch to active, in one call; and tell which deliveries must not run now.

  Flow control rides in this same round trip: priority yielding, the global rate limit (a sliding-window
  log), the queue's global concurrency (one slot per invocation) and the per-job lease that tells a second,
  concurrent delivery of a running job from the redelivery of a stalled one.

  Input:
    KEYS[1] wait list     KEYS[2] active list     KEYS[3] delayed zset     KEYS[4] prioritized zset
    KEYS[5] events stream     KEYS[6] meta hash (field "paused": the queue is paused)
    KEYS[7] tombstones of removed jobs (zset of "<jobId>:<timestamp>")
    KEYS[8] rate limiter: list of recent start times (ms), newest first
    KEYS[9] job leases (zset: jobId scored by the lease's expiry, ms)
    KEYS[10] concurrency slots (zset: invocation token scored by the slot's expiry, ms)
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] events stream cap
    ARGV[3] limiter max starts ("" = no rate limit)     ARGV[4] limiter duration (ms)
    ARGV[5] concurrency: invocations running jobs at once ("" = no limit)
    ARGV[6] this invocation's token (its slot)     ARGV[7] lease length (ms): the function's timeout
    ARGV[8] number of jobs n
    ARGV[9..] n groups of 6: job id, the job's timestamp (ms it was added, as its message carries it),
              attempt number (1-based, this delivery included), attempts made before it (attempt - 1, passed
              as text so the script converts no numbers), where the job is expected:
              "wait" | "delayed" | "prioritized", or "check" for a delivery that will not run now (a deferral
              or an exhausted job) and only needs to know whether its job was removed or finished; the job's
              priority ("0": none, or a job that may no longer yield)
  Output:
    n codes, then the ms until the rate limit grants the next start (0 when nothing was limited):
              0 started (processedOn is Redis's clock, the limiter's)
              1 started again after a stall (still active, its lease expired: the worker that ran it died)
              2 checked: neither removed nor finished ("check" deliveries only; nothing changed)
             -1 no such job: its state was lost; the caller restores it from the message and calls again
             -2 already finished: a duplicate delivery (or a copy of a finished job), not to run again
             -3 removed: the job was removed (drain, clean, remove) after this message was sent; drop it
             -4 paused: the queue is paused; the job stays where it is and the delivery is deferred
             -5 running: active under an unexpired lease (a concurrent duplicate delivery); not run
             -6 yield: a job of higher priority is waiting; the job stays where it is
             -7 rate limited: no start left in the window; the job stays where it is
             -8 busy: the queue's concurrency is taken by other invocations; the job stays where it is
    Codes are decided in that order of precedence: removed, checked, paused, busy, yield, rate limited,
    then the job's state (missing, finished, running, started, stalled).
  Events:
    stalled (for code 1), active (prev = the state it left).
]]
local waitKey, activeKey, delayedKey, prioritizedKey, eventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local metaKey, removedKey, limiterKey, leasesKey, slotsKey = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local jobPrefix, maxEvents = ARGV[1], ARGV[2]
local limitMax, limitDuration = tonumber(ARGV[3]), tonumber(ARGV[4])
local concurrency, token, leaseMs = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local count = tonumber(ARGV[8])
local GROUP, FIRST = 6, 9

local clock = redis.call("TIME")
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

-- Once per batch: the pause flag, and whether any tombstone exists (almost never: no lookups per job then).
local paused = redis.call("HEXISTS", metaKey, "paused") == 1
local anyRemoved = redis.call("EXISTS", removedKey) == 1

-- Once per batch: is a slot free (or already this invocation's)? Expired slots belong to dead invocations.
local busy = false
if concurrency then
  redis.call("ZREMRANGEBYSCORE", slotsKey, "-inf", now)
  busy = not redis.call("ZSCORE", slotsKey, token) and redis.call("ZCARD", slotsKey) >= concurrency
end

-- Once per batch: the highest priority waiting (lowest number), from the prioritized zset's first member.
local bestWaiting
local function higherWaiting(priority)
  if bestWaiting == nil then
    local first = redis.call("ZRANGE", prioritizedKey, 0, 0, "WITHSCORES")
    bestWaiting = first[2] and math.floor(tonumber(first[2]) / 4294967296) or false
  end
  return bestWaiting and bestWaiting < priority
end

-- The rate limit: a start is allowed while fewer than `max` starts happened in the last `duration` ms. Only
-- the oldest `count` of the last `max` starts can block this batch: they are read once, whatever `max` is.
local oldest, oldestAt, granted, retryAfter = nil, 0, 0, 0
local function startAllowed()
  if not limitMax then return true end
  if oldest == nil then
    oldestAt = math.max(0, limitMax - count)
    oldest = redis.call("LRANGE", limiterKey, oldestAt, limitMax - 1)
  end
  local blocking = oldest[limitMax - granted - oldestAt]  -- the start that leaves the window last, if it is full
  if granted >= limitMax or (blocking and tonumber(blocking) > now - limitDuration) then
    local freeAt = granted >= limitMax and now + limitDuration or tonumber(blocking) + limitDuration
    if retryAfter == 0 then retryAfter = math.max(1, freeAt - now) end
    return false
  end
  return true
end

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
  if where == "active" then
    -- A running job's own lease keeps it: only a stalled one (lease expired) is taken over.
    local lease = redis.call("ZSCORE", leasesKey, jobId)
    if lease and tonumber(lease) > now and redis.call("LPOS", activeKey, jobId) then return -1 end
    return redis.call("LREM", activeKey, -1, jobId)
  end
  return redis.call("ZREM", where == "delayed" and delayedKey or prioritizedKey, jobId)
end

local FALLBACK = {"active", "delayed", "prioritized", "wait"}
local PREVIOUS = {wait = "waiting", delayed = "delayed", prioritized = "prioritized", active = "active"}

local codes, started, leases = {}, {}, {}
for i = 0, count - 1 do
  local at = FIRST + i * GROUP
  local jobId, jobTimestamp, attempt, attemptsMade = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  local expected, priority = ARGV[at + 4], tonumber(ARGV[at + 5])
  local jobKey = jobPrefix .. jobId
  local from
  if anyRemoved and redis.call("ZSCORE", removedKey, jobId .. ":" .. jobTimestamp) then
    codes[i + 1] = -3
  elseif expected == "check" then
    codes[i + 1] = redis.call("HEXISTS", jobKey, "finishedOn") == 1 and -2 or 2
  elseif paused then
    codes[i + 1] = -4
  elseif busy then
    codes[i + 1] = -8
  elseif priority > 0 and higherWaiting(priority) then
    codes[i + 1] = -6
  elseif not startAllowed() then
    codes[i + 1] = -7
  else
    local removed = removeFrom(expected, jobId)
    if removed > 0 then
      -- A job in a waiting structure exists and is unfinished: addJobs and removeJobs write both together.
      from = expected
    elseif removed < 0 then
      codes[i + 1] = -5
    else
      local state = redis.call("HMGET", jobKey, "name", "finishedOn")
      if not state[1] then
        codes[i + 1] = -1
      elseif state[2] then
        codes[i + 1] = -2
      else
        from = false
        for _, where in ipairs(FALLBACK) do
          if where ~= expected then
            removed = removeFrom(where, jobId)
            if removed ~= 0 then
              from = removed > 0 and where or nil
              if removed < 0 then codes[i + 1] = -5 end
              break
            end
          end
        end
      end
    end
  end
  if from ~= nil then
    granted = granted + 1
    redis.call("HSET", jobKey, "processedOn", now, "ats", attempt, "atm", attemptsMade)
    if from == "active" then
      redis.call("HINCRBY", jobKey, "stc", 1)
      emit("stalled", "jobId", jobId)
      codes[i + 1] = 1
    else
      codes[i + 1] = 0
    end
    emit("active", "jobId", jobId, "prev", PREVIOUS[from or expected])
    started[#started + 1] = jobId
    leases[#leases + 1] = now + leaseMs
    leases[#leases + 1] = jobId
  end
end
if #started > 0 then
  redis.call("LPUSH", activeKey, unpack(started))
  redis.call("ZADD", leasesKey, unpack(leases))
  if concurrency then
    redis.call("ZADD", slotsKey, now + leaseMs, token)
  end
  if limitMax then
    local stamps = {}
    for j = 1, granted do stamps[j] = now end
    redis.call("LPUSH", limiterKey, unpack(stamps))
    redis.call("LTRIM", limiterKey, 0, limitMax - 1)
    redis.call("PEXPIRE", limiterKey, limitDuration)
  end
end
redis.call("XTRIM", eventsKey, "MAXLEN", "~", maxEvents)
codes[count + 1] = retryAfter
return codes
