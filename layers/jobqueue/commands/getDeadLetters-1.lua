--[[
  Page through one queue's records in a dead-letter queue that several queues may share.
  Each queue's records are indexed apart (recordDeadLetters-3.lua adds to the index), so a page costs the same
  whether the dead-letter queue holds a hundred records or a hundred thousand. An index entry whose record is
  gone (removed by a BullMQ client or redis-cli) is dropped here, and the page is read again without it.

  Input:
    KEYS[1] the queue's index in the dead-letter queue (zset of record ids scored by when recorded, ms)
    ARGV[1] dead-letter queue's job key prefix ("<prefix>:<dlq>:")
    ARGV[2] the records' name ("<queue>_failed")
    ARGV[3] first match to return (0-based)
    ARGV[4] last match to return (inclusive; -1: to the end)
  Output:
    the record ids from ARGV[3] to ARGV[4], newest first
]]
local indexKey = KEYS[1]
local dlqPrefix, recordName, first, last = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])

while true do
  local ids = redis.call("ZREVRANGE", indexKey, first, last)
  local stale = {}
  for _, id in ipairs(ids) do
    if redis.call("HGET", dlqPrefix .. id, "name") ~= recordName then
      stale[#stale + 1] = id
    end
  end
  if #stale == 0 then
    return ids
  end
  redis.call("ZREM", indexKey, unpack(stale))
end
