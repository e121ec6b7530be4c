--[[
  Fail dead jobs in their own queue: the first of a dead batch's two calls (jobqueue.deadletter). The second,
  recordDeadLetters-3.lua, records them in the dead-letter queue: another queue, so another hash slot in a Redis
  Cluster. The dead-letter message stays in SQS until both ran, so a crash between them only means SQS delivers
  it again, and this script does nothing twice (a failed job stays failed, with one "failed" event).

  Input:
    KEYS[1] completed zset    KEYS[2] failed zset       KEYS[3] active list      KEYS[4] delayed zset
    KEYS[5] prioritized zset  KEYS[6] wait list         KEYS[7] events stream    KEYS[8] parent-updates hash
    ARGV[1] job key prefix ("<prefix>:<queue>:"; job hashes share the queue's hash tag, so its slot)
    ARGV[2] timestamp (ms)
    ARGV[3] events stream cap
    ARGV[4] number of jobs n
    ARGV[5..] n groups of 7: job id, job name, job data JSON, job opts JSON, job timestamp, failure reason,
              attempts made
  Output:
    n flags: 1 the job gets a dead-letter record, 0 it completed (a stray copy of its message reached the DLQ)
  Flows:
    a job failed here (killed by SQS redrive) that is a flow's child records its parent's update in its queue's
    "parent-updates" hash, for the sweeper to apply (jobqueue.flow_parents)
  Dead letters owed:
    the job's "dlp" mark (set when the worker failed it for good) is cleared: its dead letter is in the DLQ
  Events:
    failed (only if the job was not failed yet, nor put back to waiting by an operator since)
]]
local completedKey, failedKey, activeKey, delayedKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prioritizedKey, waitKey, eventsKey, parentUpdatesKey = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local base, timestamp, maxEvents, count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local GROUP, FIRST = 7, 5

local flags = {}
for i = 0, count - 1 do
  local at = FIRST + i * GROUP
  local jobId, name, data, opts, jobTimestamp = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4]
  local reason, attempts = ARGV[at + 5], ARGV[at + 6]
  local jobKey = base .. jobId

  if redis.call("ZSCORE", completedKey, jobId) then
    flags[i + 1] = 0
  else
    local created = redis.call("EXISTS", jobKey) == 0
    if created then
      redis.call("HSET", jobKey, "name", name, "data", data, "opts", opts, "timestamp", jobTimestamp,
        "delay", 0, "priority", 0)
    end
    if not redis.call("ZSCORE", failedKey, jobId) then
      -- Not failed yet: it died running (active) or retrying (delayed), or Redis lost it. A job that is
      -- none of these was put back to waiting by an operator (retry failed, redrive) since, and stays so.
      local left = redis.call("LREM", activeKey, -1, jobId) > 0 or redis.call("ZREM", delayedKey, jobId) > 0
      if left or created or not (redis.call("ZSCORE", prioritizedKey, jobId) or redis.call("LPOS", waitKey, jobId)) then
        redis.call("ZADD", failedKey, timestamp, jobId)
        redis.call("HSET", jobKey, "failedReason", reason, "finishedOn", timestamp, "atm", attempts)
        redis.call("XADD", eventsKey, "MAXLEN", "~", maxEvents, "*", "event", "failed",
          "jobId", jobId, "failedReason", reason, "prev", "active")
        -- A flow's child killed by SQS redrive tells its parent as moveToFinished would: the sweeper applies it.
        local parent = redis.call("HGET", jobKey, "parent")
        if parent then
          redis.call("HSET", parentUpdatesKey, jobId, cjson.encode({parent = parent, outcome = "failed",
            value = reason, at = tonumber(timestamp)}))
        end
      end
    end
    redis.call("HDEL", jobKey, "dlp")
    flags[i + 1] = 1
  end
end
return flags
