-- Reading stored events, bounded inside Redis (included by join.lua and history.lua).
--
-- readEvents(key, newest, hi, lo, limit, budget): events of stream `key`, newest
-- first (`newest`: from `hi` down to `lo`) or oldest first (from `lo` up to `hi`),
-- bounds as XRANGE takes them (`(` for exclusive); at most `limit` of them and
-- `budget` bytes (at least one event), read in pages of at most 50 entries, skipping
-- the quiet entries that streams from before quiet notices went unstored still hold.
-- Returns the flat list {id, body, ...} in reading order, whether the budget stopped
-- it, and whether events remain past the last one read. Lua holds one page at most
-- besides the answer, so Redis never builds a reply much larger than the answer.
local function readEvents(key, newest, hi, lo, limit, budget)
  local out, n, used = {}, 0, 0
  while n < limit do
    local want = math.min(limit - n, 50)
    local page
    if newest then page = redis.call('XREVRANGE', key, hi, lo, 'COUNT', want)
    else page = redis.call('XRANGE', key, lo, hi, 'COUNT', want) end
    for i = 1, #page do
      local id, body = page[i][1], page[i][2][2]
      if string.sub(body, -13) ~= '"quiet":true}' then
        local size = #id + #body + 32
        if n > 0 and used + size > budget then return out, true, true end
        used = used + size
        n = n + 1
        out[#out + 1] = id
        out[#out + 1] = body
      end
      if newest then hi = '(' .. id else lo = '(' .. id end
      if n == limit then break end
    end
    if #page < want then return out, false, false end
  end
  local rest
  if newest then
    rest = redis.call('XREVRANGE', key, hi, lo, 'COUNT', 1)
  else
    rest = redis.call('XRANGE', key, lo, hi, 'COUNT', 1)
  end
  return out, false, #rest > 0
end

-- idAfter(a, b): whether stream id `a` is after `b`.
local function idAfter(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am > bm or (am == bm and as > bs)
end

-- trimmedAfter(key, id): whether the stream may have lost (trimmed) an entry newer
-- than `id`: something was removed (Redis 7's `entries-added` is over its length;
-- trims remove the oldest) and its oldest entry left is newer than `id`. A stream
-- that never lost anything (a brand-new channel) has lost nothing after any `id`.
local function trimmedAfter(key, id)
  if redis.call('EXISTS', key) == 0 then return false end
  local info, f = redis.call('XINFO', 'STREAM', key), {}
  for i = 1, #info, 2 do f[info[i]] = info[i + 1] end
  if f['entries-added'] <= f['length'] then return false end
  local first = f['first-entry']
  if not first then return idAfter(f['last-generated-id'], id) end
  return idAfter(first[1], id)
end
