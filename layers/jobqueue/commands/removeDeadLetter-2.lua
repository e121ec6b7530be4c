--[[
  Remove one queue's dead-letter record (an operator discarding a dead job for good).

  Input:
    KEYS[1] dead-letter queue's wait list     KEYS[2] its events stream
    ARGV[1] dead-letter queue's job key prefix ("<prefix>:<dlq>:")
    ARGV[2] record id ("<queue>-<jobId>")
    ARGV[3] the record's expected name ("<queue>_failed": a record of another queue is left alone)
    ARGV[4] events stream cap
  Output:
    1 removed; 0 no such record of that queue
  Events:
    removed (prev = wait) on the dead-letter queue
]]
local dlqWaitKey, dlqEventsKey = KEYS[1], KEYS[2]
local dlqPrefix, recordId, recordName, maxEvents = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local recordKey = dlqPrefix .. recordId
if redis.call("HGET", recordKey, "name") ~= recordName then
  return 0
end
redis.call("DEL", recordKey, recordKey .. ":logs")
redis.call("LREM", dlqWaitKey, 1, recordId)
redis.call("XADD", dlqEventsKey, "MAXLEN", "~", maxEvents, "*", "event", "removed", "jobId", recordId,
  "prev", "wait")
return 1
