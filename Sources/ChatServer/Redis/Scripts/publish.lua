-- publish: appends a chat message (or a broadcast, on the `{*}` channel) to the
-- channel's stream and publishes it on the channel's topic (see append in
-- lib/channel.lua); the stream entry id is the message id.
-- Reply: {id}.
--@include lib/channel.lua

local ch = {
  stream = KEYS[1],      -- Stream: the channel's history
  members = KEYS[2],     -- Hash: member field -> nickname
  presence = KEYS[3],    -- Hash: dirty, at, notices
  nicknames = KEYS[4],   -- Hash: nickname key -> member field
  meta = KEYS[5],        -- Hash: created, pw, opened
  topic = ARGV[1],
  maxlen = ARGV[2],
  maxAge = tonumber(ARGV[3]),
  ttl = tonumber(ARGV[4]),
  pttl = tonumber(ARGV[5]),
}
local body = ARGV[6]     -- the message's JSON members without `{`

local id = append(ch, true, body, false, false)
return {id}
