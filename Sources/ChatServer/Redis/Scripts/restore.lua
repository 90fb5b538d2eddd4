-- restore: writes members back without notices (after a reconnect, or when this
-- instance was taken for dead), in case Redis lost them: each member's hash field,
-- and the nickname keys nobody present holds. A channel the caller knows as
-- protected whose settings Redis lost gets its password back (fail closed). The
-- caller adds the members to its instance's membership set and lists the channel
-- in the directory (keys that are not the channel's).
-- Reply: {false, count, restored (1: the password was written back), protected (0/1)}.
--@include lib/channel.lua

local ch = {
  stream = KEYS[1],
  members = KEYS[2],
  presence = KEYS[3],
  nicknames = KEYS[4],
  meta = KEYS[5],
  ttl = tonumber(ARGV[1]),
  pttl = tonumber(ARGV[2]),
}
local knownHash = ARGV[3]  -- the password hash the caller knows the channel by ('' = none)
-- Then, from the fourth argument on: field, nickname, nickname keys (newline-separated), for each member.

local restored = restorePassword(ch, knownHash) and 1 or 0
for i = 4, #ARGV, 3 do
  local field, nickname, nicknameKeys = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  redis.call('HSET', ch.members, field, nickname)
  for _, key in ipairs(split(nicknameKeys)) do
    local holder = redis.call('HGET', ch.nicknames, key)
    if not holder or redis.call('HEXISTS', ch.members, holder) == 0 then
      redis.call('HSET', ch.nicknames, key, field)
    end
  end
end
local n, protected = count(ch)
lifetime(ch, n)
return {false, n, restored, protected}
