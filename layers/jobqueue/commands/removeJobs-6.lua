--[[
  Roll back jobs an add recorded but SQS did not take: each is removed with a tombstone, so that a message SQS
  did take after all (a send whose reply was lost) is dropped by the worker instead of restoring the job.

  Only a job this add recorded (its timestamp is the add's), still marked unsent and never started, is removed.
  A job a worker has taken already (active, finished, or back in delayed for a retry) stands: SQS had its message after all (the send's reply was lost), so it is
  durable and its mark goes. So does one whose send another caller confirmed in the meantime. A job an earlier
  add recorded (found unsent by this one, whose resend failed) is left marked: that add may have sent it, and
  may have answered that it was accepted; the sweeper sends it otherwise.

  Input:
    KEYS[1] wait list     KEYS[2] delayed zset     KEYS[3] prioritized zset     KEYS[4] events stream
    KEYS[5] unsent zset   KEYS[6] tombstones of removed jobs (zset of "<jobId>:<timestamp>")
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] events stream cap
    ARGV[3] the add's timestamp (ms), also the tombstones' score     ARGV[4] tombstones older than this are pruned
    ARGV[5..] the job ids
  Output:
    per job: 1 removed; 0 kept, its message is in SQS (taken by a worker, or confirmed by another caller); 2 kept,
    recorded by an earlier add and still marked (or gone already): it may still run
  Events:
    removed
  Payloads:
    a job whose data is an S3 placeholder (jobqueue.payloads) is pushed, as "<jobId>\n<data>", to the list
    "<job key prefix>payloads:gone" for the sweeper to delete its object
]]
local waitKey, delayedKey, prioritizedKey, eventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local unsentKey, removedKey = KEYS[5], KEYS[6]
local jobPrefix, maxEvents, timestamp, expired = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local codes = {}
for i = 5, #ARGV do
  local jobId = ARGV[i]
  local jobKey = jobPrefix .. jobId
  local job = redis.call("HMGET", jobKey, "timestamp", "ats", "data")
  local jobTimestamp = job[1]
  if not jobTimestamp then
    codes[#codes + 1] = 2
  elseif not redis.call("ZSCORE", unsentKey, jobId) then
    codes[#codes + 1] = 0
  elseif jobTimestamp ~= timestamp then
    codes[#codes + 1] = 2
  else
    redis.call("ZREM", unsentKey, jobId)
    -- Never started (a started job may be back in delayed for a retry); just added, so near the head of wait.
    local waiting = not job[2] and (redis.call("LREM", waitKey, 1, jobId) + redis.call("ZREM", delayedKey, jobId)
      + redis.call("ZREM", prioritizedKey, jobId)) or 0
    if waiting > 0 then
      redis.call("DEL", jobKey, jobKey .. ":logs")
      local data = job[3]
      if data and string.sub(data, 1, 20) == '{"jobqueuePayload":"' then
        redis.call("RPUSH", jobPrefix .. "payloads:gone", jobId .. "\n" .. data)
      end
      redis.call("ZADD", removedKey, timestamp, jobId .. ":" .. jobTimestamp)
      redis.call("XADD", eventsKey, "MAXLEN", "~", maxEvents, "*", "event", "removed", "jobId", jobId,
        "prev", "waiting")
      codes[#codes + 1] = 1
    else
      codes[#codes + 1] = 0
    end
  end
end
redis.call("ZREMRANGEBYSCORE", removedKey, "-inf", "(" .. expired)
return codes
