--[[
  Remove dead-letter records of one queue: an operator discarding dead jobs for good, or a redrive clearing the
  records of jobs it made durable again.

  Input:
    KEYS[1] dead-letter queue's wait list     KEYS[2] its events stream
    KEYS[3] the queue's index in the dead-letter queue (zset of record ids)
    ARGV[1] dead-letter queue's job key prefix ("<prefix>:<dlq>:")
    ARGV[2] the records' expected name ("<queue>_failed": a record of another queue is left alone)
    ARGV[3] events stream cap
    ARGV[4..] record ids ("<queue>-<jobId>")
  Output:
    how many were removed (ids that are no record of that queue are skipped)
  Events:
    removed (prev = wait) on the dead-letter queue, per record
  Payloads:
    a record whose job's data is an S3 placeholder (jobqueue.payloads) is pushed, as "\n<record data>", to the
    list "<dead-letter queue's job key prefix>payloads:gone" for the sweeper to delete the object if no job
    still names it
]]
local dlqWaitKey, dlqEventsKey, indexKey = KEYS[1], KEYS[2], KEYS[3]
local dlqPrefix, recordName, maxEvents = ARGV[1], ARGV[2], ARGV[3]

-- Records enter the list at its head: a record leaves from whichever end is nearer by when it was recorded,
-- so removing an old record costs the same with a hundred newer ones or a hundred thousand.
local headTs, tailTs
local function fromHead(recorded)
  if headTs == nil then
    local head, tail = redis.call("LINDEX", dlqWaitKey, 0), redis.call("LINDEX", dlqWaitKey, -1)
    headTs = head and tonumber(redis.call("HGET", dlqPrefix .. head, "timestamp")) or false
    tailTs = tail and tonumber(redis.call("HGET", dlqPrefix .. tail, "timestamp")) or false
  end
  return recorded and headTs and tailTs and (headTs - recorded) < (recorded - tailTs)
end

local removed = 0
for i = 4, #ARGV do
  local recordId = ARGV[i]
  local recordKey = dlqPrefix .. recordId
  local fields = redis.call("HMGET", recordKey, "name", "timestamp", "data")
  if fields[1] == recordName then
    redis.call("LREM", dlqWaitKey, fromHead(tonumber(fields[2])) and 1 or -1, recordId)
    redis.call("DEL", recordKey, recordKey .. ":logs")
    if fields[3] and string.find(fields[3], '"jobqueuePayload":"s3://', 1, true) then
      redis.call("RPUSH", dlqPrefix .. "payloads:gone", "\n" .. fields[3])
    end
    redis.call("ZREM", indexKey, recordId)
    redis.call("XADD", dlqEventsKey, "MAXLEN", "~", maxEvents, "*", "event", "removed", "jobId", recordId,
      "prev", "wait")
    removed = removed + 1
  end
end
return removed
