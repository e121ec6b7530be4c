-- emit(...): XADD an event to the queue's stream (`eventsKey`, capped near `maxEvents`). The call's first event
-- trims the stream as it is added (XADD MAXLEN ~, as BullMQ's do): once a call, as a separate XTRIM did, without
-- its command; a call that emits nothing trims nothing.
local untrimmed = true
local function emit(...)
  if untrimmed then
    untrimmed = false
    redis.call("XADD", eventsKey, "MAXLEN", "~", maxEvents, "*", "event", ...)
  else
    redis.call("XADD", eventsKey, "*", "event", ...)
  end
end
