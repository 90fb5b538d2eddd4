-- leave: removes a member from the channel (member hash, the nickname keys it holds)
-- and, if it was there, appends and publishes its leave notice with the new count
-- (quiet in a channel over the notice limit, see append in lib/channel.lua). A
-- removal that finds nothing publishes nothing: that is how failed or uncertain
-- leaves are safely redone. The caller removes the member from its instance's
-- membership set and moves the channel's directory entry (keys that are not the
-- channel's).
-- Reply: {id or false (nothing removed), count, quiet (0/1), protected (0/1)}.
--@include lib/channel.lua

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
local body = ARGV[6]                   -- the notice's JSON members without `{`, ending in `"count":`
local field = ARGV[7]                  -- the member: `<instance>:<connection>:<join>`
local noticeLimit = tonumber(ARGV[8])  -- notices go to everyone up to this many members
local nicknameKeys = ARGV[9]           -- the nickname's keys, newline-separated

local removed = redis.call('HDEL', ch.members, field)
for _, key in ipairs(split(nicknameKeys)) do
  if redis.call('HGET', ch.nicknames, key) == field then redis.call('HDEL', ch.nicknames, key) end
end
local n, protected = count(ch)
if removed == 0 then
  lifetime(ch, n)
  return {false, n, 0, protected}
end
local quiet = n >= noticeLimit
local id = append(ch, false, body, n, quiet)
return {id, n, quiet and 1 or 0, protected}
