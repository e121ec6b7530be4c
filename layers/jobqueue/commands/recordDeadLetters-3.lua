--[[
  Record dead jobs: each stays failed in its own queue and gets a record in the dead-letter queue, a
  BullMQ job named "<queue>_failed" that waits in "<prefix>:<dlq>:wait" until an operator redrives or
  removes it (seeds 000 and 004 count and triage dead jobs exactly there).

  Input:
    KEYS[1] dead-letter queue's wait list     KEYS[2] its events stream     KEYS[3] its meta hash
    ARGV[1] key prefix ("bull")
    ARGV[2] timestamp (ms)
    ARGV[3] events stream cap
    ARGV[4] version written into meta
    ARGV[5] number of records n
    ARGV[6] records recorded before this (ms) are dropped: the dead-letter queue's retention, as SQS keeps them
    ARGV[7..] n groups of 9: source queue, job id, job name, job data JSON, job opts JSON, job timestamp,
              failure reason, attempts made, record data JSON
  Output:
    n record ids ("<queue>-<jobId>": recording the same dead job twice updates one record), or "" for a job
    that completed (a stray copy of its message reached the DLQ): it gets no record
  Retention:
    records older than ARGV[6] are dropped from the list's old end (a bounded number per call, more than any
    call adds), with their hashes: Redis keeps a dead job as long as its SQS DLQ would have (and the archive
    keeps it for good)
  Flows:
    a job failed here (killed by SQS redrive) that is a flow's child records its parent's update in its queue's
    "parent-updates" hash, for the sweeper to apply (jobqueue.flow_parents)
  Dead letters owed:
    the source job's "dlp" mark (set when the worker failed it for good) is cleared: its dead letter is here
  Events:
    failed on the source queue (only if the job was not failed there yet, nor put back to waiting by an
    operator since); added and waiting on the dead-letter queue for a new record.
  Payloads:
    a record whose job's data is an S3 placeholder (jobqueue.payloads) is pushed, as "\n<record data>", to the
    list "<dead-letter queue's job key prefix>payloads:gone" for the sweeper to delete the object if no job
    still names it
]]
local dlqWaitKey, dlqEventsKey, dlqMetaKey = KEYS[1], KEYS[2], KEYS[3]
local prefix, timestamp, maxEvents, version, count = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local expired = tonumber(ARGV[6])
local GROUP, FIRST, TRIM_MAX = 9, 7, 100
local dlqPrefix = string.sub(dlqWaitKey, 1, #dlqWaitKey - #"wait")

redis.call("HSET", dlqMetaKey, "opts.maxLenEvents", maxEvents, "version", version)

local ids = {}
for i = 0, count - 1 do
  local at = FIRST + i * GROUP
  local queue, jobId, name, data, opts = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4]
  local jobTimestamp, reason, attempts, record = ARGV[at + 5], ARGV[at + 6], ARGV[at + 7], ARGV[at + 8]
  local source = prefix .. ":" .. queue .. ":"
  local jobKey = source .. jobId

  if redis.call("ZSCORE", source .. "completed", jobId) then
    ids[i + 1] = ""
  else
    local created = redis.call("EXISTS", jobKey) == 0
    if created then
      redis.call("HSET", jobKey, "name", name, "data", data, "opts", opts, "timestamp", jobTimestamp,
        "delay", 0, "priority", 0)
    end
    if not redis.call("ZSCORE", source .. "failed", jobId) then
      -- Not failed yet: it died running (active) or retrying (delayed), or Redis lost it. A job that is
      -- none of these was put back to waiting by an operator (retry failed, redrive) since, and stays so.
      local left = redis.call("LREM", source .. "active", -1, jobId) > 0
        or redis.call("ZREM", source .. "delayed", jobId) > 0
      if left or created or not (redis.call("ZSCORE", source .. "prioritized", jobId)
          or redis.call("LPOS", source .. "wait", jobId)) then
        redis.call("ZADD", source .. "failed", timestamp, jobId)
        redis.call("HSET", jobKey, "failedReason", reason, "finishedOn", timestamp, "atm", attempts)
        redis.call("XADD", source .. "events", "MAXLEN", "~", maxEvents, "*", "event", "failed",
          "jobId", jobId, "failedReason", reason, "prev", "active")
        -- A flow's child killed by SQS redrive tells its parent as moveToFinished would: the sweeper applies it.
        local parent = redis.call("HGET", jobKey, "parent")
        if parent then
          redis.call("HSET", source .. "parent-updates", jobId, cjson.encode({parent = parent, outcome = "failed",
            value = reason, at = tonumber(timestamp)}))
        end
      end
    end

    redis.call("HDEL", jobKey, "dlp")
    local recordId = queue .. "-" .. jobId
    local recordKey = dlqPrefix .. recordId
    local isNew = redis.call("EXISTS", recordKey) == 0
    redis.call("HSET", recordKey, "name", queue .. "_failed", "data", record, "opts", "{}",
      "timestamp", timestamp, "delay", 0, "priority", 0)
    -- The queue's index of its records (QueueKeys.dead_letters_of), for paging without the other queues'.
    redis.call("ZADD", dlqPrefix .. "records:" .. queue, "NX", timestamp, recordId)
    if isNew then
      redis.call("LPUSH", dlqWaitKey, recordId)
      redis.call("XADD", dlqEventsKey, "MAXLEN", "~", maxEvents, "*", "event", "added", "jobId", recordId,
        "name", queue .. "_failed")
      redis.call("XADD", dlqEventsKey, "MAXLEN", "~", maxEvents, "*", "event", "waiting", "jobId", recordId)
    end
    ids[i + 1] = recordId
  end
end

-- The oldest records are at the list's right end (a record recorded again keeps its place: the trim stops at it
-- until it expires too). An id whose hash is gone is dropped as well.
for _ = 1, TRIM_MAX do
  local oldest = redis.call("LINDEX", dlqWaitKey, -1)
  if not oldest then break end
  local fields = redis.call("HMGET", dlqPrefix .. oldest, "timestamp", "name", "data")
  local recorded = tonumber(fields[1])
  if recorded and recorded >= expired then break end
  redis.call("RPOP", dlqWaitKey)
  redis.call("DEL", dlqPrefix .. oldest, dlqPrefix .. oldest .. ":logs")
  if fields[3] and string.find(fields[3], '"jobqueuePayload":"s3://', 1, true) then
    redis.call("RPUSH", dlqPrefix .. "payloads:gone", "\n" .. fields[3])
  end
  local source = fields[2] and string.match(fields[2], "^(.+)_failed$")
  if source then redis.call("ZREM", dlqPrefix .. "records:" .. source, oldest) end
end
return ids
