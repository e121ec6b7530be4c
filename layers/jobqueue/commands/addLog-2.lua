--[[
  Append a line to a job's log (BullMQ's `<jobId>:logs` list).

  Input:
    KEYS[1] job hash     KEYS[2] job logs list
    ARGV[1] the line     ARGV[2] how many lines to keep (0: all)
  Output:
    the number of lines kept; -1 no such job
]]
if redis.call("EXISTS", KEYS[1]) == 0 then
  return -1
end
local length = redis.call("RPUSH", KEYS[2], ARGV[1])
local keep = tonumber(ARGV[2])
if keep > 0 and length > keep then
  redis.call("LTRIM", KEYS[2], -keep, -1)
  return keep
end
return length
