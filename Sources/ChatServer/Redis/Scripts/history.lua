-- history: the HTTP history API's read of a channel's stored events, in pages
-- inside Redis (readEvents in lib/stream.lua): nothing of a protected channel for a
-- caller without the API key.
-- Reply: {1} for a protected channel and a caller without the key (nothing is read);
-- else {protected (0/1), {id, body, ...} in reading order, cut (0/1: the byte budget
-- stopped it short of the limit)}.
--@include lib/stream.lua

local stream = KEYS[1]             -- Stream: the channel's history
local meta = KEYS[2]               -- Hash: created, pw, opened
local direction = ARGV[1]          -- 's' after `from`, oldest first; 'b' before `from`; 'l' the latest
local from = ARGV[2]               -- a stream id ('' for 'l')
local limit = tonumber(ARGV[3])    -- events at most
local budget = tonumber(ARGV[4])   -- bytes at most (at least one event)
local keyed = ARGV[5] == '1'       -- the caller has the API key

local protected = (redis.call('HGET', meta, 'pw') or '') ~= ''
if protected and not keyed then return {1} end
local entries, cut
if direction == 's' then
  entries, cut = readEvents(stream, false, '+', '(' .. from, limit, budget)
elseif direction == 'b' then
  entries, cut = readEvents(stream, true, '(' .. from, '-', limit, budget)
else
  entries, cut = readEvents(stream, true, '+', '-', limit, budget)
end
return {protected and 1 or 0, entries, cut and 1 or 0}
