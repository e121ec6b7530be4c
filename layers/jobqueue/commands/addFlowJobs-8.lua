--[[
  Record one queue's share of one level of a flow (FlowProducer.add): parents in BullMQ's `waiting-children`
  with their `:dependencies` set, jobs without children waiting (or delayed, prioritized) for their message.

  A flow spans queues, and a script touches one queue's keys, so a flow is recorded in several calls: deepest
  level first, its root last. Every job carries `flow` (its root's key) and is marked unsent with the add's
  timestamp: until the root exists the flow is not committed, and the sweeper removes what such an add left
  (flow_parents.triage_unsent); once it exists, it sends the marked jobs without children and clears the marks
  of the parents.

  Input:
    KEYS[1] wait list     KEYS[2] delayed zset     KEYS[3] prioritized zset     KEYS[4] priority counter
    KEYS[5] waiting-children zset     KEYS[6] events stream     KEYS[7] meta hash     KEYS[8] unsent zset
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] the add's timestamp (ms)     ARGV[3] events stream cap     ARGV[4] version written into meta
    ARGV[5] the flow's root key     ARGV[6] number of jobs n
    ARGV[7..] n groups: job id, name, data JSON, opts JSON, delay (ms), priority, parent key ("" for the root),
              parent JSON (BullMQ's `parent` field: {id, queueKey, fpof|cpof|idof|rdof}; "" for the root),
              number of children k, then the k children's keys
  Output:
    "" when every job was recorded; the id of a job that exists already, when one does (nothing is recorded).
  Events:
    added, then waiting-children (a parent) or waiting / delayed with sqs = 1 (addJobs-8.lua).
]]
local waitKey, delayedKey, prioritizedKey, priorityCounterKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local waitingChildrenKey, eventsKey, metaKey, unsentKey = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local jobPrefix, timestamp, maxEvents, version = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local rootKey, count = ARGV[5], tonumber(ARGV[6])

local function emit(...)
  redis.call("XADD", eventsKey, "*", "event", ...)
end

-- The groups have a variable length: find where each starts, and refuse them all if one id is taken.
local starts, at = {}, 7
for i = 1, count do
  starts[i] = at
  if redis.call("EXISTS", jobPrefix .. ARGV[at]) == 1 then return ARGV[at] end
  at = at + 9 + tonumber(ARGV[at + 8])
end

redis.call("HSET", metaKey, "opts.maxLenEvents", maxEvents, "version", version)
local waiting = {}
for i = 1, count do
  local a = starts[i]
  local jobId, name, data, opts = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local delay, priority, parentKey, parent = ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7]
  local children = tonumber(ARGV[a + 8])
  local jobKey = jobPrefix .. jobId
  redis.call("HSET", jobKey, "name", name, "data", data, "opts", opts, "timestamp", timestamp,
    "delay", delay, "priority", priority, "flow", rootKey)
  if parentKey ~= "" then
    redis.call("HSET", jobKey, "parentKey", parentKey, "parent", parent)
  end
  emit("added", "jobId", jobId, "name", name)
  if children > 0 then
    redis.call("SADD", jobKey .. ":dependencies", unpack(ARGV, a + 9, a + 8 + children))
    redis.call("ZADD", waitingChildrenKey, timestamp, jobId)
    emit("waiting-children", "jobId", jobId)
  elseif delay ~= "0" then
    local dueAt = tonumber(timestamp) + tonumber(delay)
    redis.call("ZADD", delayedKey, dueAt * 4096 + math.fmod(i, 4096), jobId)
    emit("delayed", "jobId", jobId, "delay", dueAt, "sqs", 1)
  elseif priority ~= "0" then
    local counter = redis.call("INCR", priorityCounterKey)
    redis.call("ZADD", prioritizedKey, tonumber(priority) * 4294967296 + counter, jobId)
    emit("waiting", "jobId", jobId, "sqs", 1)
  else
    waiting[#waiting + 1] = jobId
    emit("waiting", "jobId", jobId, "sqs", 1)
  end
  redis.call("ZADD", unsentKey, timestamp, jobId)
end
if #waiting > 0 then
  redis.call("LPUSH", waitKey, unpack(waiting))
end
redis.call("XTRIM", eventsKey, "MAXLEN", "~", maxEvents)
return ""
