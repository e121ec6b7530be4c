--[[
  Apply a finished child's outcome to its parent (BullMQ's updateParentDepsIfNeeded and
  moveChildFromDependenciesIfNeeded), in the parent's queue. The child's queue recorded the update when the
  child finished (moveToFinished-13.lua, its `parent-updates` hash); this is the second call, made by the worker
  right after, or by the sweeper if the worker died in between. It is idempotent: a child no longer among the
  parent's `:dependencies` was applied before, and changes nothing.

  A parent whose last dependency is gone (or, with continueParentOnFailure, any failed child) leaves
  `waiting-children` for wait, prioritized or delayed, marked unsent: the caller sends its message and clears
  the mark, as producers do, and the sweeper sends it if the caller could not. A child that failed with
  failParentOnFailure fails the parent, which then records its own parent's update here, in this queue.

  Input:
    KEYS[1] waiting-children zset     KEYS[2] wait list     KEYS[3] delayed zset     KEYS[4] prioritized zset
    KEYS[5] priority counter     KEYS[6] failed zset     KEYS[7] events stream     KEYS[8] unsent zset
    KEYS[9] parent updates (hash: job id -> pending update of that job's parent)
    KEYS[10] the parent's job hash     KEYS[11] the parent's `:dependencies` set
    ARGV[1] the parent's id     ARGV[2] the child's key     ARGV[3] "completed" | "failed"
    ARGV[4] the child's return value JSON (completed) or failure reason (failed)
    ARGV[5] the failure policy: "fpof" | "cpof" | "idof" | "rdof"     ARGV[6] now (ms)     ARGV[7] events cap
  Output:
    0 nothing to do (applied before, or the parent is gone); 1 the parent was released (send its message);
    2 recorded, the parent still waits (or is not waiting any more); 3 the parent failed (apply the update it
    recorded for its own parent, when it has one)
  Events:
    waiting (sqs = 1) or delayed for a released parent; failed for a failed one.
]]
local waitingChildrenKey, waitKey, delayedKey, prioritizedKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local priorityCounterKey, failedKey, eventsKey, unsentKey = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local parentUpdatesKey, parentKey, dependenciesKey = KEYS[9], KEYS[10], KEYS[11]
local parentId, childKey, outcome, value = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local policy, now, maxEvents = ARGV[5], ARGV[6], ARGV[7]

if redis.call("EXISTS", parentKey) == 0 or redis.call("SREM", dependenciesKey, childKey) == 0 then
  return 0
end
local waiting = redis.call("ZSCORE", waitingChildrenKey, parentId)

local function emit(...)
  redis.call("XADD", eventsKey, "MAXLEN", "~", maxEvents, "*", "event", ...)
end

-- To wait, prioritized or delayed (its delay counts from when the flow was added), marked unsent.
local function release()
  redis.call("ZREM", waitingChildrenKey, parentId)
  local job = redis.call("HMGET", parentKey, "timestamp", "delay", "priority")
  local dueAt = tonumber(job[1]) + (tonumber(job[2]) or 0)
  if dueAt > tonumber(now) then
    redis.call("ZADD", delayedKey, dueAt * 4096, parentId)
    emit("delayed", "jobId", parentId, "delay", dueAt, "sqs", 1)
  else
    local priority = tonumber(job[3]) or 0
    if priority > 0 then
      local counter = redis.call("INCR", priorityCounterKey)
      redis.call("ZADD", prioritizedKey, priority * 4294967296 + counter, parentId)
    else
      redis.call("RPUSH", waitKey, parentId)
    end
    emit("waiting", "jobId", parentId, "prev", "waiting-children", "sqs", 1)
  end
  redis.call("ZADD", unsentKey, now, parentId)
  return 1
end

if outcome == "completed" then
  redis.call("HSET", parentKey .. ":processed", childKey, value)
  if waiting and redis.call("SCARD", dependenciesKey) == 0 then return release() end
  return 2
end
if policy == "fpof" then
  redis.call("ZADD", parentKey .. ":unsuccessful", now, childKey)
  if not waiting then return 2 end
  local reason = "child " .. childKey .. " failed"
  redis.call("ZREM", waitingChildrenKey, parentId)
  redis.call("ZADD", failedKey, now, parentId)
  redis.call("HSET", parentKey, "failedReason", reason, "finishedOn", now)
  emit("failed", "jobId", parentId, "failedReason", reason, "prev", "waiting-children")
  local grandparent = redis.call("HGET", parentKey, "parent")
  if grandparent then
    redis.call("HSET", parentUpdatesKey, parentId, cjson.encode({parent = grandparent, outcome = "failed",
      value = reason, at = tonumber(now)}))
  end
  return 3
end
if policy ~= "rdof" then
  redis.call("HSET", parentKey .. ":failed", childKey, value)
end
if waiting and (policy == "cpof" or redis.call("SCARD", dependenciesKey) == 0) then return release() end
return 2
