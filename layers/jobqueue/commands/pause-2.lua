--[[
  Pause or resume a queue, as BullMQ 6 does: the flag is the meta hash's "paused" field, and the jobs stay
  in "wait" (BullMQ 6 no longer moves them to the legacy "paused" list). Workers read the flag in
  moveToActive and defer what they are given while it is set.

  Input:
    KEYS[1] meta hash     KEYS[2] events stream
    ARGV[1] "paused" | "resumed"
    ARGV[2] events stream cap
  Output:
    1 if the flag changed, 0 if the queue already was in that state
  Events:
    paused or resumed (always, like BullMQ)
]]
local metaKey, eventsKey = KEYS[1], KEYS[2]
local action, maxEvents = ARGV[1], ARGV[2]
local changed
if action == "paused" then
  changed = redis.call("HSET", metaKey, "paused", 1)
else
  changed = redis.call("HDEL", metaKey, "paused")
end
redis.call("XADD", eventsKey, "MAXLEN", "~", maxEvents, "*", "event", action)
return changed
