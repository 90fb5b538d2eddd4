-- password: sets a channel's password (a crypt hash) or removes it (hash ''), with
-- the settings' lifetime (none while the channel has members; else CHANNEL_TTL, or
-- PROTECTED_CHANNEL_TTL for a protected one, never less). A removal leaves `opened`,
-- so that an instance that knew the password does not write it back (it does when
-- Redis lost it). The caller moves the channel's directory entry to the directory
-- that matches (a key that is not the channel's).
-- Reply: {count, protected (0/1)}.

local meta = KEYS[1]             -- Hash: created, pw, opened
local members = KEYS[2]          -- Hash: member field -> nickname
local hash = ARGV[1]             -- the new password's hash, '' to remove it
local ttl = tonumber(ARGV[2])    -- CHANNEL_TTL in ms (0 = forever)
local pttl = tonumber(ARGV[3])   -- PROTECTED_CHANNEL_TTL in ms (0 = forever)

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if hash == '' then
  redis.call('HDEL', meta, 'pw')
  redis.call('HSET', meta, 'opened', now)
else
  redis.call('HSET', meta, 'pw', hash)
  redis.call('HDEL', meta, 'opened')
end
redis.call('HSETNX', meta, 'created', now)
local n = redis.call('HLEN', members)
if ttl == 0 or n > 0 or (hash ~= '' and pttl == 0) then
  redis.call('PERSIST', meta)
elseif hash == '' then
  redis.call('PEXPIRE', meta, ttl)
else
  redis.call('PEXPIRE', meta, math.max(ttl, pttl))
end
return {n, hash ~= '' and 1 or 0}
