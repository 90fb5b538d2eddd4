-- claim: in one atomic step, unless a dead-looking instance is alive again, takes the
-- lock of its cleanup (for a minute) and marks it reaped, so that if it was only
-- stalled its next refresh finds the mark and writes its members back. It stays
-- registered until its cleanup completes (finish.lua): if the cleaner dies mid-way,
-- another resumes once the lock expires. Instance keys, not a channel's.
-- Reply: 1 claimed, 0 not (alive, or someone else cleans up).

local alive = KEYS[1]    -- String with a TTL: the instance lives
local reaper = KEYS[2]   -- String: who cleans up after it
local reaped = KEYS[3]   -- String: a cleanup started
local by = ARGV[1]       -- the cleaning instance's id

if redis.call('EXISTS', alive) == 1 then return 0 end
if not redis.call('SET', reaper, by, 'NX', 'PX', 60000) then return 0 end
redis.call('SET', reaped, '1')
return 1
