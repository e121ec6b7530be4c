--[[
  Claim the jobs of one SQS batch for this invocation, in one call; and tell which deliveries must not run.

  A claimed job is moved to active under a lease, but no attempt starts here: moveToFinished starts each job
  just before its processor runs (so a claimed job the invocation never reached spends no attempt). Taking over
  a job whose lease expired (its invocation died) counts the attempt it had started, if any, as a stall.

  Flow control rides in this same round trip: priority yielding, the queue's global concurrency (one slot per
  invocation) and the per-job lease that tells a second, concurrent delivery of a running job from the
  redelivery of a stalled one. The rate limit counts starts, so moveToFinished applies it.

  Groups (a job's `group: {id}` option, its tenant): moveToFinished holds a group to `group concurrency` running
  jobs and to its rate limit when it starts each job; here a job of a group that is at either limit right now is
  refused before it is claimed, so its delivery is deferred at once instead of occupying the invocation. A
  group's keys are its queue's prefix plus the group id, built from ARGV like job keys: they share the queue's
  hash tag, so in cluster mode they live in the queue's slot.

  Input:
    KEYS[1] wait list     KEYS[2] active list     KEYS[3] delayed zset     KEYS[4] prioritized zset
    KEYS[5] events stream     KEYS[6] meta hash (field "paused": the queue is paused)
    KEYS[7] tombstones of removed jobs (zset of "<jobId>:<timestamp>")
    KEYS[8] job leases (zset: jobId scored by the lease's expiry, ms; expired ones are pruned on every claim)
    KEYS[9] concurrency slots (zset: invocation token scored by the slot's expiry, ms)
    KEYS[10] failed zset (a job whose last attempt stalled fails here)
    KEYS[11] parent updates (hash): such a job that is a flow's child records its parent's update here
             (as moveToFinished-13.lua does)
    ARGV[1] job key prefix ("<prefix>:<queue>:")
    ARGV[2] events stream cap
    ARGV[3] concurrency: invocations running jobs at once ("" = no limit)
    ARGV[4] this invocation's token (its slot)     ARGV[5] lease length (ms): the function's timeout
    ARGV[6] the latest due time that may start now (ms): the caller's clock, with which delays and backoffs are
            scored, plus the tolerance of SQS's whole seconds
    ARGV[7] number of jobs n
    ARGV[8] group concurrency: jobs of one group running at once ("" = no limit)
    ARGV[9] prefix of the groups' slot keys (zset: job id scored by its lease's expiry, ms; + group id)
    ARGV[10] prefix of the groups' rate limiter keys (list of start times, newest first; + group id)
    ARGV[11] group rate limit: max starts ("" = none)     ARGV[12] group rate limit: duration (ms)
    ARGV[13..] n groups of 6: job id, the job's timestamp (ms it was added, as its message carries it),
              where the job is expected: "wait" | "delayed" | "prioritized" (a hint: the other places are
              searched when it is not there), or "check" for a delivery that will not run now (a deferral)
              and only needs to know whether its job was removed or finished; the job's priority ("0": none,
              or a job that may no longer yield); the job's attempts (its `attempts` option); its group id ("":
              none)
  Output:
    {codes, dues}: a code per job; per job the ms it is due (code -9), or when its group may start one (-13),
    or 0. Codes:
              0 claimed
              1 claimed after a stall (it was active, its lease expired: the invocation that held it died);
                the attempt it had started, if any, is counted
              2 checked: neither removed nor finished ("check" deliveries only; nothing changed)
             -1 no such job: its state was lost; the caller restores it from the message and calls again
             -2 already finished: a duplicate delivery (or a copy of a finished job), not to run again
             -3 removed: the job was removed (drain, clean, remove, retention) since this message was sent
             -4 paused: the queue is paused; the job stays where it is and the delivery is deferred
             -5 running: active under an unexpired lease (a concurrent duplicate delivery); not run
             -6 yield: a job of higher priority is waiting; the job stays where it is
             -8 busy: the queue's concurrency is taken by other invocations; the job stays where it is
             -9 not due: delayed (a delay or a retry's backoff) until the time in `dues`; it stays delayed
            -10 exhausted: its last attempt stalled; the job is now failed and owes its dead letter
            -11 dead letter owed: failed for good, its forward to the dead-letter queue not yet confirmed
            -12 group busy: `group concurrency` jobs of the job's group are running; the job stays where it is
            -13 group limited: the group's rate-limit window is full until the time in `dues`; it stays where it is
    Codes are decided in that order of precedence: removed (custom ids), checked, paused, busy, yield, group
    limited, group busy, then the job's state (not due, missing, removed, finished, running, claimed, stalled).
  Events:
    stalled (code 1 when an attempt had started), failed (code -10).
]]
local waitKey, activeKey, delayedKey, prioritizedKey, eventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local metaKey, removedKey, leasesKey, slotsKey, failedKey = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local jobPrefix, maxEvents = ARGV[1], ARGV[2]
local concurrency, token, leaseMs = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local dueBy, count = tonumber(ARGV[6]), tonumber(ARGV[7])
local groupConcurrency, groupSlotsPrefix, groupLimiterPrefix = tonumber(ARGV[8]), ARGV[9], ARGV[10]
local groupLimitMax, groupLimitDuration = tonumber(ARGV[11]), tonumber(ARGV[12])
local GROUP, FIRST = 6, 13
local STALLED_REASON = "the attempt did not finish: its invocation stopped (timeout, crash or out of memory)"

local clock = redis.call("TIME")
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

-- Once per batch: the pause flag, and whether any tombstone exists.
local paused = redis.call("HEXISTS", metaKey, "paused") == 1
local anyRemoved = redis.call("EXISTS", removedKey) == 1

-- Once per batch: is a slot free (or already this invocation's)? Expired slots belong to dead invocations.
local busy = false
if concurrency then
  redis.call("ZREMRANGEBYSCORE", slotsKey, "-inf", now)
  busy = not redis.call("ZSCORE", slotsKey, token) and redis.call("ZCARD", slotsKey) >= concurrency
end

-- Once per batch: the highest priority waiting (lowest number), from the prioritized zset's first member.
local bestWaiting
local function higherWaiting(priority)
  if bestWaiting == nil then
    local first = redis.call("ZRANGE", prioritizedKey, 0, 0, "WITHSCORES")
    bestWaiting = first[2] and math.floor(tonumber(first[2]) / 4294967296) or false
  end
  return bestWaiting and bestWaiting < priority
end

-- Once per group per batch: its running jobs (expired entries pruned) and until when its rate limit is full.
local groups = {}
local function groupOf(group)
  local g = groups[group]
  if g then return g end
  g = {slots = groupSlotsPrefix .. group, count = 0, limitedUntil = 0}
  if groupConcurrency then
    redis.call("ZREMRANGEBYSCORE", g.slots, "-inf", now)
    g.count = redis.call("ZCARD", g.slots)
  end
  if groupLimitMax then
    local blocking = tonumber(redis.call("LINDEX", groupLimiterPrefix .. group, groupLimitMax - 1))
    if blocking and blocking > now - groupLimitDuration then g.limitedUntil = blocking + groupLimitDuration end
  end
  groups[group] = g
  return g
end

-- Whether a job of `group` must wait: -13 (its rate is spent), -12 (its slots are taken by other jobs), or nil.
-- A group's refusal holds for the whole batch; one that is free is only a hint: moveToFinished decides.
local function groupRefusal(group, jobId)
  local g = groupOf(group)
  if g.limitedUntil > 0 then return -13, g.limitedUntil end
  if groupConcurrency and g.count >= groupConcurrency and not redis.call("ZSCORE", g.slots, jobId) then
    return -12, 0
  end
end

--- @include "emitEvents"

-- A job leaves the wait list from whichever end is nearer: jobs enter at the head, so its age tells which.
-- Generated ids grow with age and are compared as they are; any other id (a webhook's, a cron tick's, a
-- user's jobId) is judged by its timestamp against the end jobs' (two HGETs per batch). The cost follows how
-- far SQS's delivery order strays from the list's order, not the backlog's size, whatever the ids look like.
local ends
local function removeFromWait(jobId, jobTimestamp)
  if ends == nil then
    local head, tail = redis.call("LINDEX", waitKey, "0"), redis.call("LINDEX", waitKey, "-1")
    ends = {head = head, tail = tail, head_id = tonumber(head), tail_id = tonumber(tail)}
  end
  if not ends.head then return 0 end
  local id, fromHead = tonumber(jobId), false
  if id and ends.head_id and ends.tail_id then
    fromHead = (ends.head_id - id) < (id - ends.tail_id)
  else
    if ends.head_ts == nil then
      ends.head_ts = tonumber(redis.call("HGET", jobPrefix .. ends.head, "timestamp")) or false
      ends.tail_ts = tonumber(redis.call("HGET", jobPrefix .. ends.tail, "timestamp")) or false
    end
    local ts = tonumber(jobTimestamp)
    fromHead = ts and ends.head_ts and ends.tail_ts and (ends.head_ts - ts) < (ts - ends.tail_ts)
  end
  return redis.call("LREM", waitKey, fromHead and "1" or "-1", jobId)
end

-- Take the job from `where`: 1 taken, 0 not there, -1 running (an unexpired lease), -2 delayed and not due.
local notDue = 0
local function removeFrom(where, jobId, jobTimestamp)
  if where == "wait" then return removeFromWait(jobId, jobTimestamp) end
  if where == "active" then
    local lease = redis.call("ZSCORE", leasesKey, jobId)
    if lease and tonumber(lease) > now and redis.call("LPOS", activeKey, jobId) then return -1 end
    return redis.call("LREM", activeKey, -1, jobId)
  end
  if where == "delayed" then
    local score = redis.call("ZSCORE", delayedKey, jobId)
    if not score then return 0 end
    local due = math.floor(tonumber(score) / 4096)
    if due > dueBy then
      notDue = due
      return -2
    end
    return redis.call("ZREM", delayedKey, jobId)
  end
  return redis.call("ZREM", prioritizedKey, jobId)
end

-- A job taken over from active: count the attempt its dead invocation had started (attempts started, `ats`,
-- ahead of attempts made, `atm`). Its last attempt gone, it fails and owes its dead letter.
local function takeOver(jobKey, jobId, attempts)
  local counts = redis.call("HMGET", jobKey, "ats", "atm")
  local started, made = tonumber(counts[1]) or 0, tonumber(counts[2]) or 0
  if started <= made then return 0 end
  redis.call("HSET", jobKey, "atm", started)
  redis.call("HINCRBY", jobKey, "stc", 1)
  emit("stalled", "jobId", jobId)
  if started < attempts then return 1 end
  redis.call("ZADD", failedKey, now, jobId)
  redis.call("HSET", jobKey, "finishedOn", now, "failedReason", STALLED_REASON, "dlp", 1)
  emit("failed", "jobId", jobId, "failedReason", STALLED_REASON, "prev", "active")
  local parent = redis.call("HGET", jobKey, "parent")
  if parent then
    redis.call("HSET", KEYS[11], jobId, cjson.encode({parent = parent, outcome = "failed", value = STALLED_REASON,
      at = now}))
  end
  return -10
end

local FALLBACK = {"active", "delayed", "prioritized", "wait"}

-- Hot paths pass Redis strings, not Lua numbers: Redis formats each number argument with snprintf("%.17g").
local leaseUntil = string.format("%d", now + leaseMs)
local codes, dues, claimed = {}, {}, {}
for i = 0, count - 1 do
  local at = FIRST + i * GROUP
  local jobId, jobTimestamp, expected = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local priority, attempts, group = tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4]), ARGV[at + 5]
  local refusal, refusedUntil
  if group ~= "" and (groupConcurrency or groupLimitMax) and expected ~= "check" and not paused and not busy then
    refusal, refusedUntil = groupRefusal(group, jobId)
  end
  local jobKey = jobPrefix .. jobId
  local tombstone = anyRemoved and jobId .. ":" .. jobTimestamp
  local code, from
  dues[i + 1] = 0
  notDue = 0
  -- A custom id may be added again after a removal: its tombstone is read first, so that the old message
  -- cannot run the new job. A generated id never comes back: its tombstone is read only when its hash is gone.
  if tombstone and not tonumber(jobId) and redis.call("ZSCORE", removedKey, tombstone) then
    code = -3
  elseif expected == "check" then
    local state = redis.call("HMGET", jobKey, "name", "finishedOn")
    if state[2] then
      code = -2
    elseif not state[1] and tombstone and redis.call("ZSCORE", removedKey, tombstone) then
      code = -3
    else
      code = 2  -- a lost job is restored when its message is due
    end
  elseif paused then
    code = -4
  elseif busy then
    code = -8
  elseif priority > 0 and higherWaiting(priority) then
    code = -6
  elseif refusal then
    code, dues[i + 1] = refusal, refusedUntil
  else
    local removed = removeFrom(expected, jobId, jobTimestamp)
    if removed > 0 then
      from = expected  -- a job in a waiting structure exists and is unfinished (addJobs writes both together)
    elseif removed == 0 then
      local state = redis.call("HMGET", jobKey, "name", "finishedOn", "dlp")
      if not state[1] then
        code = (tombstone and redis.call("ZSCORE", removedKey, tombstone)) and -3 or -1
      elseif state[2] then
        code = state[3] and -11 or -2
      else
        from = "none"  -- restored from its message, or searched for below
        for _, where in ipairs(FALLBACK) do
          if where ~= expected then
            removed = removeFrom(where, jobId, jobTimestamp)
            if removed ~= 0 then
              from = removed > 0 and where or nil
              break
            end
          end
        end
      end
    end
    if removed == -1 then code = -5 end
    if removed == -2 then code, dues[i + 1] = -9, notDue end
  end
  if from then
    code = 0
    if from == "active" then code = takeOver(jobKey, jobId, attempts) end
    if code >= 0 then
      claimed[#claimed + 1] = jobId
    end
  end
  codes[i + 1] = code
end
if #claimed > 0 then
  redis.call("LPUSH", activeKey, unpack(claimed))
  -- Leases grow only here, so expired ones are pruned here too: an expired lease tells what a missing one does
  -- ("not running"), and the lease of a job whose invocation died may never be finished (its last attempt
  -- stalled, or SQS redrove its message).
  -- The leases share one score, so a small zset (a listpack) orders them by id and scans for each one's place
  -- from its head: the batch's last (for generated ids, its newest) first, each place is found at once.
  local leases = {}
  for j = #claimed, 1, -1 do
    leases[#leases + 1] = leaseUntil
    leases[#leases + 1] = claimed[j]
  end
  redis.call("ZREMRANGEBYSCORE", leasesKey, "-inf", now)
  redis.call("ZADD", leasesKey, unpack(leases))
  if concurrency then
    redis.call("ZADD", slotsKey, leaseUntil, token)
  end
end
return {codes, dues}
