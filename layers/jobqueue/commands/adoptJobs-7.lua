--[[
  Find the jobs a BullMQ client made waiting or delayed (npm `queue.add`, Bull Board's retry or promote): they
  reach Redis without an SQS message, and no worker would ever run them. jobqueue's own waiting and delayed
  events carry sqs = 1; one without it names such a job. Reads the events stream from a cursor kept in the meta
  hash, marks each such job unsent (so that if the caller dies before sending, the sweeper's resend of unsent
  jobs sends it) and moves the cursor, in one call.

  Input:
    KEYS[1] events stream     KEYS[2] meta hash (field "adopted": the last event read)
    KEYS[3] unsent zset       KEYS[4] active list     KEYS[5] completed zset     KEYS[6] failed zset
    KEYS[7] delayed zset
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] timestamp (ms): the marks' score
    ARGV[3] most events to read in this call
  Output:
    {more, id1, due1, id2, due2, ...}: more = 1 if the stream has events past those read; per job marked, its
    id and when it is due (ms; 0 for now). The first call reads the stream from its start (as far as its cap
    kept it): jobs a BullMQ client added before jobqueue took over the queue are sent too. A job that already
    has its message gets a second one, which the worker drops (it finds the job running or finished).
]]
local eventsKey, metaKey, unsentKey, activeKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local completedKey, failedKey, delayedKey = KEYS[5], KEYS[6], KEYS[7]
local jobPrefix, timestamp, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])

local cursor = redis.call("HGET", metaKey, "adopted") or "0-0"

local entries = redis.call("XRANGE", eventsKey, "(" .. cursor, "+", "COUNT", limit)
local result, seen = {#entries == limit and 1 or 0}, {}
for _, entry in ipairs(entries) do
  local fields, event, jobId, ours = entry[2], nil, nil, false
  for i = 1, #fields, 2 do
    local name = fields[i]
    if name == "event" then event = fields[i + 1]
    elseif name == "jobId" then jobId = fields[i + 1]
    elseif name == "sqs" then ours = true end
  end
  if jobId and not ours and not seen[jobId] and (event == "waiting" or event == "delayed") then
    seen[jobId] = true
    local state = redis.call("HMGET", jobPrefix .. jobId, "name", "finishedOn")
    if state[1] and not state[2] and not redis.call("ZSCORE", unsentKey, jobId)
        and not redis.call("ZSCORE", completedKey, jobId) and not redis.call("ZSCORE", failedKey, jobId)
        and not redis.call("LPOS", activeKey, jobId) then
      local score = redis.call("ZSCORE", delayedKey, jobId)
      redis.call("ZADD", unsentKey, timestamp, jobId)
      result[#result + 1] = jobId
      result[#result + 1] = score and math.floor(tonumber(score) / 4096) or 0
    end
  end
end
if #entries > 0 then
  redis.call("HSET", metaKey, "adopted", entries[#entries][1])
end
return result
