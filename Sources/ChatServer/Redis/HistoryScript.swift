import ChatCore

/// A Lua script and its SHA-1, as EVALSHA names it. Loaded (SCRIPT LOAD) on every
/// connect of the command link; a NOSCRIPT answer is retried as EVAL.
struct LuaScript {
    let source: String
    let sha: String

    init(_ source: String) {
        self.source = source
        sha = SHA1.hex(Array(source.utf8))
    }
}

/// Reading stored events, bounded inside Redis: a join's replay and the HTTP history
/// API read a stream in pages of at most 50 entries and stop before the entry that
/// would take the answer past its byte budget, so Redis never builds a reply much
/// larger than the answer can hold (a `COUNT 1000` of 12 KB entries built 12 MB for a
/// 1 MB answer). Lua holds one page at most besides the answer.
enum HistoryScript {
    /// `readEvents(key, newest, hi, lo, limit, budget)`: events of stream `key`, newest
    /// first (`newest`: from `hi` down to `lo`) or oldest first (from `lo` up to `hi`),
    /// bounds as XRANGE takes them (`(` for exclusive); at most `limit` of them and
    /// `budget` bytes (at least one event), skipping the quiet entries that streams
    /// from before quiet notices went unstored still hold. Returns the flat list
    /// `{id, body, ...}` in reading order, whether the budget stopped it, and whether
    /// events remain past the last one read.
    ///
    /// `trimmedAfter(key, id)`: whether the stream may have lost (trimmed) an entry
    /// newer than `id`: something was removed (Redis 7's `entries-added` is over its
    /// length; trims remove the oldest) and its oldest entry left is newer than `id`.
    /// A stream that never lost anything (a brand-new channel) has lost nothing after
    /// any `id`.
    static let functions = """
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
          if newest then rest = redis.call('XREVRANGE', key, hi, lo, 'COUNT', 1) else rest = redis.call('XRANGE', key, lo, hi, 'COUNT', 1) end
          return out, false, #rest > 0
        end
        local function idAfter(a, b)
          local am, as = string.match(a, '^(%d+)-(%d+)$')
          local bm, bs = string.match(b, '^(%d+)-(%d+)$')
          am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
          return am > bm or (am == bm and as > bs)
        end
        local function trimmedAfter(key, id)
          if redis.call('EXISTS', key) == 0 then return false end
          local info, f = redis.call('XINFO', 'STREAM', key), {}
          for i = 1, #info, 2 do f[info[i]] = info[i + 1] end
          if f['entries-added'] <= f['length'] then return false end
          local first = f['first-entry']
          if not first then return idAfter(f['last-generated-id'], id) end
          return idAfter(first[1], id)
        end
        """

    /// The HTTP history API's read. KEYS: 1 stream, 2 meta hash. ARGV: 1 direction
    /// (`s` after ARGV[2], oldest first; `b` before ARGV[2]; `l` the latest), 2 id,
    /// 3 limit, 4 byte budget, 5 `1` when the caller has the API key.
    /// Reply: `{1}` for a protected channel and a caller without the key (nothing is
    /// read); else `{protected, {id, body, ...} in reading order, cut}` (`cut`: the
    /// budget stopped it short of the limit).
    static let read = LuaScript(functions + """

        local protected = (redis.call('HGET', KEYS[2], 'pw') or '') ~= ''
        if protected and ARGV[5] ~= '1' then return {1} end
        local limit, budget = tonumber(ARGV[3]), tonumber(ARGV[4])
        local entries, cut
        if ARGV[1] == 's' then
          entries, cut = readEvents(KEYS[1], false, '+', '(' .. ARGV[2], limit, budget)
        elseif ARGV[1] == 'b' then
          entries, cut = readEvents(KEYS[1], true, '(' .. ARGV[2], '-', limit, budget)
        else
          entries, cut = readEvents(KEYS[1], true, '+', '-', limit, budget)
        end
        return {protected and 1 or 0, entries, cut and 1 or 0}
        """)
}
