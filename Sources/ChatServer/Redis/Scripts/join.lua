-- join: in one atomic step, checks the channel password (with a per-address backoff
-- of wrong ones) and the nickname, adds the member (member hash, its nickname keys),
-- appends and publishes its join notice with the new count (quiet in a channel over
-- the notice limit, see append in lib/channel.lua), and reads the member list and
-- the history to replay, so the replay ends exactly where live events begin. The
-- caller adds the member to its instance's membership set first and lists the
-- channel in the directory after (keys that are not the channel's).
--
-- Reply: {id, count, quiet (0/1), protected (0/1), nicknames or false (over the list
-- limit), replay {id, body, ...} oldest first, truncated (0/1), oldest id kept}; or
-- {'!pw', hash}: verify the password against this hash and ask again;
-- {'!limited', ms}: too many wrong passwords from this address, no check for that long;
-- {'!claim'}: hash the given password and ask again, it will protect the new channel;
-- {'!new'}: the channel does not exist, count its creation and ask again (mayCreate);
-- {'!taken'}: the nickname is held by another connection.
--@include lib/channel.lua
--@include lib/stream.lua

local ch = {
  stream = KEYS[1],
  members = KEYS[2],
  presence = KEYS[3],
  nicknames = KEYS[4],
  meta = KEYS[5],
  topic = ARGV[1],
  maxlen = ARGV[2],
  maxAge = tonumber(ARGV[3]),
  ttl = tonumber(ARGV[4]),
  pttl = tonumber(ARGV[5]),
}
local failures = KEYS[6]                  -- Hash: wrong passwords from the joiner's address (n, at)
local body = ARGV[6]                      -- the notice's JSON members without `{`, ending in `"count":`
local field = ARGV[7]                     -- the member: `<instance>:<connection>:<join>`
local nickname = ARGV[8]
local noticeLimit = tonumber(ARGV[9])     -- notices go to everyone up to this many members
local nicknameKeys = ARGV[10]             -- the nickname's keys, newline-separated
local verifiedHash = ARGV[11]             -- the stored hash the caller verified against ('' = none)
local newPassword = ARGV[12]              -- '' none, '?' given but not hashed yet, else its hash
local replayKind = ARGV[13]               -- '' none, 's' since an id, 'h' the last N
local replayFrom = ARGV[14]               -- the id or N
local replayLimit = tonumber(ARGV[15])    -- events replayed at most
local listLimit = tonumber(ARGV[16])      -- the member list is sent up to this many members
local failureLimit = tonumber(ARGV[17])   -- wrong passwords before the backoff starts
local replayBudget = tonumber(ARGV[18])   -- bytes replayed at most
local knownHash = ARGV[19]                -- the hash this instance knows the channel by ('' = none)
local mayCreate = ARGV[20] == '1'         -- the caller counted the channel's creation

restorePassword(ch, knownHash)
local pw = redis.call('HGET', ch.meta, 'pw') or ''
if pw ~= verifiedHash then
  if pw ~= '' then
    -- Past failureLimit wrong passwords from this address for this channel, each
    -- further check waits (1 s, 2 s, 4 s ... at most a minute after the last wrong
    -- one): a backoff, not a lockout of the right password.
    local f = redis.call('HMGET', failures, 'n', 'at')
    local fails = tonumber(f[1] or '0')
    if fails >= failureLimit then
      local backoff = math.min(60000, 1000 * 2 ^ math.min(fails - failureLimit, 16))
      local wait = backoff - (nowMillis() - tonumber(f[2] or '0'))
      if wait > 0 then return {'!limited', math.ceil(wait)} end
    end
    if newPassword ~= '' then
      -- The check this asks for counts as wrong until it is found right (then taken
      -- back, forgive.lua), so that guesses sent at once cannot all pass the backoff.
      redis.call('HINCRBY', failures, 'n', 1)
      redis.call('HSET', failures, 'at', nowMillis())
      redis.call('PEXPIRE', failures, 600000)
    end
  end
  return {'!pw', pw}
end
local nicks = split(nicknameKeys)
for _, key in ipairs(nicks) do
  local holder = redis.call('HGET', ch.nicknames, key)
  if holder and holder ~= field and redis.call('HEXISTS', ch.members, holder) == 1
     and string.match(holder, '^(.*):%d+$') ~= string.match(field, '^(.*):%d+$') then
    return {'!taken'}  -- held by another connection (a connection may join, leave and join again)
  end
end
local new = pw == '' and redis.call('EXISTS', ch.stream, ch.members, ch.meta) == 0
-- A new channel costs Redis memory for a day (CHANNEL_TTL): its creation is counted
-- per client address by the caller, who asks again with mayCreate.
if new and not mayCreate then return {'!new'} end
local protected = 0
if pw ~= '' then
  protected = 1
elseif newPassword ~= '' and new then
  -- Only a channel that never existed (no history, no members, no settings) is
  -- claimed by its first joiner; an established one that is empty for a moment stays
  -- public (its password is set through the API).
  if newPassword == '?' then return {'!claim'} end
  redis.call('HSET', ch.meta, 'pw', newPassword)
  protected = 1
end
redis.call('HSET', ch.members, field, nickname)
for _, key in ipairs(nicks) do redis.call('HSET', ch.nicknames, key, field) end
local n = count(ch)
local quiet = n > noticeLimit
local id, ms = append(ch, false, body, n, quiet)
redis.call('HSETNX', ch.meta, 'created', ms)

local members = false
if n <= listLimit then members = redis.call('HVALS', ch.members) end
local replay, truncated, oldest = {}, 0, ''
if replayKind ~= '' then
  local first = redis.call('XRANGE', ch.stream, '-', '+', 'COUNT', 1)[1]
  oldest = first and first[1] or ''
  local entries, cut, more
  if replayKind == 's' then
    entries, cut, more = readEvents(ch.stream, true, '(' .. id, '(' .. replayFrom, replayLimit, replayBudget)
    if cut or more or trimmedAfter(ch.stream, replayFrom) then truncated = 1 end
  else
    entries = readEvents(ch.stream, true, '(' .. id, '-', math.min(tonumber(replayFrom), replayLimit), replayBudget)
  end
  for i = #entries - 1, 1, -2 do
    replay[#replay + 1] = entries[i]
    replay[#replay + 1] = entries[i + 1]
  end
end
return {id, n, quiet and 1 or 0, protected, members, replay, truncated, oldest}
