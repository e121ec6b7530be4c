--[[
  Recreate the hashes of jobs whose Redis state was lost (a flush or a failover) from the copies their
  SQS messages carry. A job that exists is left as it is.

  Input:
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] number of jobs n
    ARGV[3..] n groups of 6: job id, name, data JSON, opts JSON, timestamp (ms), priority
  Output:
    the number of jobs recreated
]]
local jobPrefix, count = ARGV[1], tonumber(ARGV[2])
local GROUP = 6
local restored = 0
for i = 0, count - 1 do
  local at = 3 + i * GROUP
  local jobKey = jobPrefix .. ARGV[at]
  if redis.call("EXISTS", jobKey) == 0 then
    redis.call("HSET", jobKey, "name", ARGV[at + 1], "data", ARGV[at + 2], "opts", ARGV[at + 3],
      "timestamp", ARGV[at + 4], "delay", 0, "priority", ARGV[at + 5])
    restored = restored + 1
  end
end
return restored
