--[[
  Page through one queue's records in a dead-letter queue that several queues may share (read only).
  Records are "<queue>-<jobId>" jobs named "<queue>_failed" in the dead-letter queue's wait list, newest
  first; the name tells apart queues whose names prefix one another ("email" and "email-digest").

  Input:
    KEYS[1] dead-letter queue's wait list
    ARGV[1] dead-letter queue's job key prefix ("<prefix>:<dlq>:")
    ARGV[2] the source queue
    ARGV[3] first match to return (0-based)
    ARGV[4] last match to return (inclusive; -1: to the end)
  Output:
    the record ids of the matches from ARGV[3] to ARGV[4], newest first
]]
local dlqWaitKey = KEYS[1]
local dlqPrefix, queue, first, last = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local idPrefix, recordName = queue .. "-", queue .. "_failed"
local CHUNK = 1000

local ids, matched, offset = {}, 0, 0
while last < 0 or matched <= last do
  local chunk = redis.call("LRANGE", dlqWaitKey, offset, offset + CHUNK - 1)
  for _, id in ipairs(chunk) do
    if string.sub(id, 1, #idPrefix) == idPrefix and redis.call("HGET", dlqPrefix .. id, "name") == recordName then
      if matched >= first and (last < 0 or matched <= last) then
        ids[#ids + 1] = id
      end
      matched = matched + 1
    end
  end
  if #chunk < CHUNK then
    break
  end
  offset = offset + CHUNK
end
return ids
