--[[
  Record a running job's progress.

  Input:
    KEYS[1] job hash     KEYS[2] events stream
    ARGV[1] job id       ARGV[2] progress JSON (a number or an object)     ARGV[3] events stream cap
  Output:
    0 recorded; -1 no such job
  Events:
    progress (data = the progress JSON)
]]
if redis.call("EXISTS", KEYS[1]) == 0 then
  return -1
end
redis.call("HSET", KEYS[1], "progress", ARGV[2])
redis.call("XADD", KEYS[2], "MAXLEN", "~", ARGV[3], "*", "event", "progress", "jobId", ARGV[1], "data", ARGV[2])
return 0
