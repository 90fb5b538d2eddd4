-- finish: ends the cleanup after a dead instance whose membership set is empty:
-- unregisters it and deletes its keys, unless it came back meanwhile; the cleanup
-- lock goes either way. Instance keys and the registry, not a channel's.
-- Reply: 0.

local alive = KEYS[1]        -- String with a TTL: the instance lives
local instances = KEYS[2]    -- Set: registered instance ids
local memberships = KEYS[3]  -- Set: the instance's member entries
local reaped = KEYS[4]       -- String: a cleanup started
local reaper = KEYS[5]       -- String: who cleans up after it
local id = ARGV[1]           -- the dead instance's id

if redis.call('EXISTS', alive) == 0 then
  redis.call('SREM', instances, id)
  redis.call('DEL', memberships, reaped)
end
redis.call('DEL', reaper)
return 0
