--[[
  Number one tick of a schedule with a limit (BullMQ's repeat `limit`), remembering only what a tick fired
  again needs: its number. Ticks are numbered in the order they first arrive (1 = first), so a number never
  changes once given; a tick past the limit is not recorded, and only the newest `keep` ticks are kept.

  Input:
    KEYS[1] the schedule's ticks (zset: tick job id scored by its number)
    ARGV[1] the tick's job id     ARGV[2] the limit     ARGV[3] ticks kept (more than a retried tick can be behind)
  Output:
    the tick's number: its recorded one if it fired before, else one past the newest (recorded if within limit)
]]
local ticksKey, tickId, limit, keep = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local known = redis.call("ZSCORE", ticksKey, tickId)
if known then
  return tonumber(known)
end
local newest = redis.call("ZRANGE", ticksKey, -1, -1, "WITHSCORES")
local number = (tonumber(newest[2]) or 0) + 1
if number <= limit then
  redis.call("ZADD", ticksKey, number, tickId)
  redis.call("ZREMRANGEBYRANK", ticksKey, 0, -1 - keep)
end
return number
