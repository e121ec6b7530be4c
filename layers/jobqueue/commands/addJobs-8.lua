--[[
  Add a batch of jobs in BullMQ's layout, in one call whatever the batch's size.

  Input:
    KEYS[1] id counter           KEYS[2] wait list            KEYS[3] delayed zset
    KEYS[4] prioritized zset     KEYS[5] priority counter     KEYS[6] events stream
    KEYS[7] meta hash            KEYS[8] unsent zset (jobs whose SQS message is not confirmed)
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] timestamp (ms) of every job of the batch
    ARGV[3] events stream cap (XADD MAXLEN ~)
    ARGV[4] version written into meta
    ARGV[5] number of jobs n
    ARGV[6..] n groups of 6: custom job id ("" = next counter value), name, data JSON, opts JSON,
              delay (ms, "0" for none), priority ("0" for none)
  Output:
    n entries, in order: the job id of a job added (and marked unsent until the caller confirms its send);
    "=" .. id where a job with that custom id exists and was sent (as in BullMQ, the existing job stands and
    nothing is added for it); "!" .. id where it exists but is still marked unsent: an earlier add recorded
    it and never confirmed its message, so this caller sends it.
  Events:
    added, then waiting or delayed (with the due time in ms) for every job added. jobqueue's waiting and
    delayed events carry sqs = 1 (the job has or gets its SQS message): the sweeper sends a message for
    those a BullMQ client wrote without one (Queue.adopt_foreign).
]]
local idKey, waitKey, delayedKey, prioritizedKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local priorityCounterKey, eventsKey, metaKey, unsentKey = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local jobPrefix, timestamp, maxEvents = ARGV[1], ARGV[2], ARGV[3]
local version, count = ARGV[4], tonumber(ARGV[5])
local GROUP = 6

-- Events are appended untrimmed and the stream is trimmed once per call: fewer arguments per event. Hot paths
-- pass Redis strings, not Lua numbers: Redis formats each number argument with snprintf("%.17g").
local function emit(...)
  redis.call("XADD", eventsKey, "*", "event", ...)
end

-- Generated ids continue a counter that starts from the server clock in microseconds, so ids handed out
-- after a Redis flush never repeat the id of a job still travelling in SQS.
local generated = 0
for i = 0, count - 1 do
  if ARGV[6 + i * GROUP] == "" then generated = generated + 1 end
end
local nextId = 0
if generated > 0 then
  if redis.call("EXISTS", idKey) == 0 then
    local now = redis.call("TIME")
    redis.call("SET", idKey, now[1] .. string.format("%06d", tonumber(now[2])))
  end
  nextId = redis.call("INCRBY", idKey, generated) - generated + 1
end

redis.call("HSET", metaKey, "opts.maxLenEvents", maxEvents, "version", version)

local result, waiting, unsent = {}, {}, {}
for i = 0, count - 1 do
  local at = 6 + i * GROUP
  local jobId, name, data, opts = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  local delay, priority = ARGV[at + 4], ARGV[at + 5]
  local custom = jobId ~= ""
  if not custom then
    jobId = string.format("%d", nextId)
    nextId = nextId + 1
  end
  local jobKey = jobPrefix .. jobId
  if custom and redis.call("EXISTS", jobKey) == 1 then
    result[i + 1] = (redis.call("ZSCORE", unsentKey, jobId) and "!" or "=") .. jobId
  else
    redis.call("HSET", jobKey, "name", name, "data", data, "opts", opts, "timestamp", timestamp,
      "delay", delay, "priority", priority)
    emit("added", "jobId", jobId, "name", name)
    if delay ~= "0" then
      local dueAt = tonumber(timestamp) + tonumber(delay)
      redis.call("ZADD", delayedKey, dueAt * 4096 + math.fmod(tonumber(jobId) or i, 4096), jobId)
      emit("delayed", "jobId", jobId, "delay", dueAt, "sqs", "1")
    elseif priority ~= "0" then
      local counter = redis.call("INCR", priorityCounterKey)
      redis.call("ZADD", prioritizedKey, tonumber(priority) * 4294967296 + counter, jobId)
      emit("waiting", "jobId", jobId, "sqs", "1")
    else
      waiting[#waiting + 1] = jobId
      emit("waiting", "jobId", jobId, "sqs", "1")
    end
    result[i + 1] = jobId
    unsent[#unsent + 1] = jobId
  end
end
if #waiting > 0 then
  redis.call("LPUSH", waitKey, unpack(waiting))
end
if #unsent > 0 then
  -- Marks share one score, so a small zset (a listpack) orders them by id and scans for each one's place from
  -- its head: newest (highest generated id) first, each place is found at once instead of at the end.
  local marks = {}
  for j = #unsent, 1, -1 do
    marks[#marks + 1] = timestamp
    marks[#marks + 1] = unsent[j]
  end
  redis.call("ZADD", unsentKey, unpack(marks))
end
redis.call("XTRIM", eventsKey, "MAXLEN", "~", maxEvents)
return result
