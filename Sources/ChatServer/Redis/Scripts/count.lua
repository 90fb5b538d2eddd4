-- count: publishes the channel's member count if a quiet join or leave changed it
-- since the last update (the presence hash's `dirty`), at most once a second in all
-- (its `at`): every instance that saw quiet markers asks once a second, whichever
-- comes first does it.
-- Reply: {false, count} when published; {false, false} when nothing changed;
-- {false, false, 1} when an update is due but the last went out less than a second
-- ago (ask again).

local members = KEYS[1]   -- Hash: member field -> nickname
local presence = KEYS[2]  -- Hash: dirty, at, notices
local topic = ARGV[1]
local prefix = ARGV[2]    -- the count event up to its text: `{"type":"system",...,"message":"`

if redis.call('HGET', presence, 'dirty') ~= '1' then return {false, false} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now - tonumber(redis.call('HGET', presence, 'at') or '0') < 1000 then return {false, false, 1} end
redis.call('HSET', presence, 'dirty', '0', 'at', now)
local n = redis.call('HLEN', members)
redis.call('PUBLISH', topic, prefix .. 'Members: ' .. n .. '","count":' .. n .. '}')
return {false, n}
