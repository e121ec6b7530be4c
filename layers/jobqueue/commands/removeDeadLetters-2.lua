--[[
  Remove dead-letter records of one queue: an operator discarding dead jobs for good, or a redrive clearing the
  records of jobs it made durable again.

  Input:
    KEYS[1] dead-letter queue's wait list     KEYS[2] its events stream
    ARGV[1] dead-letter queue's job key prefix ("<prefix>:<dlq>:")
    ARGV[2] the records' expected name ("<queue>_failed": a record of another queue is left alone)
    ARGV[3] events stream cap
    ARGV[4..] record ids ("<queue>-<jobId>")
  Output:
    how many were removed (ids that are no record of that queue are skipped)
  Events:
    removed (prev = wait) on the dead-letter queue, per record
]]
local dlqWaitKey, dlqEventsKey = KEYS[1], KEYS[2]
local dlqPrefix, recordName, maxEvents = ARGV[1], ARGV[2], ARGV[3]
local removed = 0
for i = 4, #ARGV do
  local recordId = ARGV[i]
  local recordKey = dlqPrefix .. recordId
  if redis.call("HGET", recordKey, "name") == recordName then
    redis.call("DEL", recordKey, recordKey .. ":logs")
    redis.call("LREM", dlqWaitKey, 1, recordId)
    redis.call("XADD", dlqEventsKey, "MAXLEN", "~", maxEvents, "*", "event", "removed", "jobId", recordId,
      "prev", "wait")
    removed = removed + 1
  end
end
return removed
