--[[
  Recreate the hashes of jobs whose Redis state was lost (a flush or a failover) from the copies their
  SQS messages carry. A job that exists is left as it is; a hash without a name (fields written after its job
  was deleted) is not a job and is replaced. A job with a tombstone (removed, rolled back, trimmed) stays gone.

  Input:
    KEYS[1] active list (a job lost while this invocation held it goes back there)
    KEYS[2] tombstones of removed jobs (zset of "<jobId>:<timestamp>")
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] number of jobs n
    ARGV[3..] n groups of 8: job id, name, data JSON, opts JSON, timestamp (ms), priority, attempts made
              (as the message last knew them), "active" to put the job in the active list (else "")
  Output:
    the number of jobs recreated
]]
local activeKey, removedKey = KEYS[1], KEYS[2]
local jobPrefix, count = ARGV[1], tonumber(ARGV[2])
local GROUP = 8
local restored = 0
for i = 0, count - 1 do
  local at = 3 + i * GROUP
  local jobKey = jobPrefix .. ARGV[at]
  if redis.call("HEXISTS", jobKey, "name") == 0
      and not redis.call("ZSCORE", removedKey, ARGV[at] .. ":" .. ARGV[at + 4]) then
    redis.call("DEL", jobKey)
    redis.call("HSET", jobKey, "name", ARGV[at + 1], "data", ARGV[at + 2], "opts", ARGV[at + 3],
      "timestamp", ARGV[at + 4], "delay", 0, "priority", ARGV[at + 5], "atm", ARGV[at + 6])
    if ARGV[at + 7] == "active" then
      redis.call("LPUSH", activeKey, ARGV[at])
    end
    restored = restored + 1
  end
end
return restored
