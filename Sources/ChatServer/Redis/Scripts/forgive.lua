-- forgive: takes back one wrong password from an address's counter for a channel:
-- the join script counted a password check as wrong until found right, and it was.
-- Reply: 0.

local failures = KEYS[1]  -- Hash: wrong passwords from one address for one channel (n, at)

if tonumber(redis.call('HGET', failures, 'n') or '0') > 0 then redis.call('HINCRBY', failures, 'n', -1) end
return 0
