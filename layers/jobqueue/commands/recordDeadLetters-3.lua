--[[
  Record dead jobs in the dead-letter queue: each gets a record, a BullMQ job named "<queue>_failed" that waits
  in "<prefix>:<dlq>:wait" until an operator redrives or removes it (seeds 000 and 004 count and triage dead jobs
  exactly there). The second of a dead batch's two calls: failDeadJobs-8.lua first failed the jobs in their own
  queues (another hash slot in a Redis Cluster) and left out those that completed. Recording a job again updates
  its one record, so a batch SQS delivers again (a crash between the calls) records nothing twice.

  Input:
    KEYS[1] dead-letter queue's wait list     KEYS[2] its events stream     KEYS[3] its meta hash
    ARGV[1] timestamp (ms)
    ARGV[2] events stream cap
    ARGV[3] version written into meta
    ARGV[4] number of records n
    ARGV[5] records recorded before this (ms) are dropped: the dead-letter queue's retention, as SQS keeps them
    ARGV[6..] n groups of 3: source queue, job id, record data JSON
  Output:
    n record ids ("<queue>-<jobId>")
  Retention:
    records older than ARGV[5] are dropped from the list's old end (a bounded number per call, more than any
    call adds), with their hashes: Redis keeps a dead job as long as its SQS DLQ would have (and the archive
    keeps it for good)
  Events:
    added and waiting for a new record.
  Payloads:
    a record whose job's data is an S3 placeholder (jobqueue.payloads) is pushed, as "\n<record data>", to the
    list "<dead-letter queue's job key prefix>payloads:gone" for the sweeper to delete the object if no job
    still names it
  Keys built here: record hashes, their logs and "records:<queue>" indexes and "payloads:gone", all named from
    KEYS[1]'s job key prefix, so under the dead-letter queue's hash tag (its slot in a Redis Cluster)
]]
local dlqWaitKey, dlqEventsKey, dlqMetaKey = KEYS[1], KEYS[2], KEYS[3]
local timestamp, maxEvents, version, count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local expired = tonumber(ARGV[5])
local GROUP, FIRST, TRIM_MAX = 3, 6, 100
local dlqPrefix = string.sub(dlqWaitKey, 1, #dlqWaitKey - #"wait")

redis.call("HSET", dlqMetaKey, "opts.maxLenEvents", maxEvents, "version", version)

local ids = {}
for i = 0, count - 1 do
  local at = FIRST + i * GROUP
  local queue, jobId, record = ARGV[at], ARGV[at + 1], ARGV[at + 2]
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
