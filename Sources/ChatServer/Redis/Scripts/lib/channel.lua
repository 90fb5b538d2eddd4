-- A channel's keys and the steps its writing scripts share (included by publish.lua,
-- join.lua, leave.lua and restore.lua). Every key here is one channel's: they share
-- its hash tag, so one Redis Cluster slot.
--
-- A channel `ch` is a table: stream, members, presence, nicknames, meta (keys);
-- topic; maxlen (MAXLEN ~ of the stream); maxAge, ttl, pttl (HISTORY_MAX_AGE,
-- CHANNEL_TTL, PROTECTED_CHANNEL_TTL in ms, 0 = none / forever).

-- Join and leave notices stored after a message at most (ChatStore.noticesPerMessage:
-- MAXLEN counts that many per message).
local NOTICES_PER_MESSAGE = 4

-- A nickname's keys: one to four, newline-separated.
local function split(keys)
  local t = {}
  for k in string.gmatch(keys, '[^\n]+') do t[#t + 1] = k end
  return t
end

local function nowMillis()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Every key of a channel lives while it has members; once it has none, for
-- CHANNEL_TTL after the last event (a protected channel's settings for
-- PROTECTED_CHANNEL_TTL, never less), so that abandoned channels do not stay.
-- (The member hash needs none: Redis deletes an empty hash.)
local function lifetime(ch, n)
  if ch.ttl == 0 then return end
  if n > 0 then
    for _, k in ipairs({ch.stream, ch.presence, ch.nicknames, ch.meta}) do redis.call('PERSIST', k) end
    return
  end
  for _, k in ipairs({ch.stream, ch.presence, ch.nicknames}) do redis.call('PEXPIRE', k, ch.ttl) end
  if redis.call('HEXISTS', ch.meta, 'pw') == 0 then
    redis.call('PEXPIRE', ch.meta, ch.ttl)
  elseif ch.pttl == 0 then
    redis.call('PERSIST', ch.meta)
  else
    redis.call('PEXPIRE', ch.meta, math.max(ch.ttl, ch.pttl))
  end
end

-- The member count, and 1 when the channel has a password (0 else): the caller
-- lists the channel in the matching directory (a key that is not the channel's).
local function count(ch)
  return redis.call('HLEN', ch.members), redis.call('HEXISTS', ch.meta, 'pw')
end

-- Fail closed: a channel the caller knows as protected (`known`, its hash) whose
-- password Redis lost — not removed through the API, which leaves `opened` — gets
-- it back. Returns whether it did.
local function restorePassword(ch, known)
  if known ~= '' and redis.call('HEXISTS', ch.meta, 'pw') == 0 and redis.call('HEXISTS', ch.meta, 'opened') == 0 then
    redis.call('HSET', ch.meta, 'pw', known)
    return true
  end
  return false
end

-- Appends an event to the stream (trimmed with MAXLEN ~, and exactly by age when
-- maxAge is set) and publishes it on the topic with its id and time in front.
-- `body`: JSON members without `{`; for a join or leave notice (`n` its member count)
-- it ends in `"count":`. `message`: a chat message (not a notice).
--
-- A quiet notice (a channel over the notice limit) is not stored: it takes the next
-- id of the stream, which XSETID moves past it, and is published only as the marker
-- {"id":"<id>","quiet":true}; the channel is marked dirty for a count update (see
-- count.lua). Notices must not push messages out of history: at most
-- NOTICES_PER_MESSAGE are stored after each message (the others go out live and take
-- their place in the order like quiet ones), and MAXLEN counts that many per message,
-- so a message stays until HISTORY_SIZE newer messages came, however much people churn.
-- Returns the id and its milliseconds.
local function append(ch, message, body, n, quiet)
  if quiet then
    redis.call('HSET', ch.presence, 'dirty', '1')
    body = body .. n .. ',"quiet":true}'
  elseif n then
    body = body .. n .. '}'
  end
  local unstored = quiet
  if message then
    redis.call('HSET', ch.presence, 'notices', 0)
  elseif n and not quiet then
    if redis.call('HINCRBY', ch.presence, 'notices', 1) > NOTICES_PER_MESSAGE then unstored = true end
  end
  local id
  if unstored and redis.call('EXISTS', ch.stream) == 1 then
    -- Only its place in the channel's order (an id), not a stored entry: the stream's
    -- last id moves past it (XSETID) and nothing is added, so churn in a big channel
    -- neither pushes messages out of history nor uses up replays.
    local last = false
    local info = redis.call('XINFO', 'STREAM', ch.stream)
    for i = 1, #info, 2 do if info[i] == 'last-generated-id' then last = info[i + 1] end end
    local lms, lseq = string.match(last, '^(%d+)-(%d+)$')
    local now = nowMillis()
    if now > tonumber(lms) then
      id = string.format('%d-0', now)
    else
      id = lms .. '-' .. string.format('%d', tonumber(lseq) + 1)
    end
    redis.call('XSETID', ch.stream, id)
  else
    id = redis.call('XADD', ch.stream, 'MAXLEN', '~', ch.maxlen, '*', 'd', body)
  end
  local ms = string.match(id, '^%d+')
  -- Exact, not ~: an age limit is a promise.
  if ch.maxAge > 0 then redis.call('XTRIM', ch.stream, 'MINID', tonumber(ms) - ch.maxAge) end
  if message then lifetime(ch, redis.call('HLEN', ch.members)) else lifetime(ch, n) end
  if quiet then
    redis.call('PUBLISH', ch.topic, '{"id":"' .. id .. '","quiet":true}')
  else
    redis.call('PUBLISH', ch.topic, '{"id":"' .. id .. '","ts":' .. ms .. ',' .. body)
  end
  return id, ms
end
