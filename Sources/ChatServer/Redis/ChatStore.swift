import ChatCore
import EventIO

/// Redis key names of one channel. The hash tag `{name}` puts a channel's stream,
/// member hash and topic in one Redis Cluster slot.
struct ChannelKeys {
    let stream: [UInt8]
    /// Hash: member field (`<instance>:<connection>:<join>`) → nickname.
    let members: [UInt8]
    /// Hash: `dirty` = 1 while a quiet join or leave waits for its count update;
    /// `at` = when the last count update went out (ms), so that all instances
    /// together send at most one a second.
    let presence: [UInt8]
    /// Hash: nickname key → the member field holding it; a member holds each of its
    /// nickname's keys (`NicknameFolding.keys`: one to four).
    let nicknames: [UInt8]
    /// Hash: `created` (ms), `pw` (the password's crypt hash, if any).
    let meta: [UInt8]
    let topic: [UInt8]

    init(prefix: String, tag: String) {
        stream = Array("\(prefix):{\(tag)}:stream".utf8)
        members = Array("\(prefix):{\(tag)}:members".utf8)
        presence = Array("\(prefix):{\(tag)}:presence".utf8)
        nicknames = Array("\(prefix):{\(tag)}:nicknames".utf8)
        meta = Array("\(prefix):{\(tag)}:meta".utf8)
        topic = Array("\(prefix):{\(tag)}:pub".utf8)
        self.prefix = prefix
        self.tag = tag
    }

    private let prefix: String, tag: String

    /// Hash of the wrong passwords for this channel from one client address (`n`, and
    /// `at` the last one's time), shared by every instance: in the channel's slot like
    /// its other keys.
    func passwordFailures(_ address: String) -> [UInt8] { Array("\(prefix):{\(tag)}:pwfails:\(address)".utf8) }

    /// Broadcast-to-everyone lives under the tag `*`, which no channel name can be.
    static func global(prefix: String) -> ChannelKeys { ChannelKeys(prefix: prefix, tag: "*") }
}

/// Keys that are not a channel's: the channel directory and this instance's own.
struct GlobalKeys {
    let prefix: String
    /// Sorted set: channel name → member count, for every public channel with members.
    let channels: [UInt8]
    /// The same for protected channels (listed with the API key only).
    let protectedChannels: [UInt8]
    /// Set of the ids of instances that registered (live or not yet cleaned up).
    let instances: [UInt8]

    init(prefix: String) {
        self.prefix = prefix
        channels = Array("\(prefix):channels".utf8)
        protectedChannels = Array("\(prefix):channels:protected".utf8)
        instances = Array("\(prefix):instances".utf8)
    }

    /// String with a TTL, refreshed while the instance lives.
    func alive(_ instance: String) -> [UInt8] { Array("\(prefix):instance:\(instance):alive".utf8) }
    /// Set of `field \n channel \n nickname` for every member the instance has.
    func memberships(_ instance: String) -> [UInt8] { Array("\(prefix):instance:\(instance):members".utf8) }
    /// The lock of whoever cleans up after a dead instance.
    func reaper(_ instance: String) -> [UInt8] { Array("\(prefix):instance:\(instance):reaper".utf8) }
    /// Set when a cleanup starts: an instance that was only stalled finds it and writes its members back.
    func reaped(_ instance: String) -> [UInt8] { Array("\(prefix):instance:\(instance):reaped".utf8) }
}

/// Why a store command did not complete.
enum StoreFailure: Error {
    /// No connection to Redis (`sent` false: the command was not made), or it dropped
    /// before the reply (`sent` true: Redis may still have run it).
    case unavailable(sent: Bool)
    /// Redis answered with an error.
    case refused(String)
}

/// One member as the instance's membership set records it, for cleaning up after
/// the instance if it dies.
struct MemberEntry {
    let field: String
    let channel: String
    let nickname: String

    var encoded: String { "\(field)\n\(channel)\n\(nickname)" }

    init(field: String, channel: String, nickname: String) {
        self.field = field; self.channel = channel; self.nickname = nickname
    }

    init?(_ text: String) {
        let parts = text.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        field = String(parts[0]); channel = String(parts[1]); nickname = String(parts[2])
    }
}

/// The chat's writes to Redis. Every write is one round trip of one Lua script
/// that appends the event to the channel's Stream (trimmed with MAXLEN ~, and exactly
/// by age when HISTORY_MAX_AGE is set), so that the stream entry id becomes the message
/// id, and publishes it — with that id and the Redis server's time written in
/// front — on the channel's topic. Join and leave also update the channel's
/// presence (member hash, nickname index, the channel directory, the instance's
/// membership set) and put the member count in the notice; a join also checks the
/// channel password and the nickname, and reads the history to replay, in the same
/// atomic step, so the replay ends exactly where the live events begin.
final class ChatStore {
    /// KEYS: 1 stream, 2 member hash, 3 presence hash; for m/j/l/r also 4 nickname index,
    /// 5 meta hash, 6 channel directory, 7 the instance's membership set, 8 the
    /// directory of protected channels; for l when it removes a dead instance's member,
    /// 9 that instance's liveness key (if it exists again, the instance came back:
    /// nothing is removed, and the reply is an error); for j, 9 the joiner's address's
    /// wrong-password counter for the channel.
    /// ARGV: 1 mode m (message) | j (join) | l (leave) | c (count update) | r (restore);
    /// 2 topic; 3 MAXLEN (HISTORY_SIZE × (1 + noticesPerMessage)); 4 `<max age>:<CHANNEL_TTL>:<PROTECTED_CHANNEL_TTL>` in ms
    /// (0 = none / forever); 5 body (JSON members without
    /// `{`; for j/l it ends in `"count":`; for c it is the event up to its text).
    /// j and l: 6 member field, 7 nickname, 8 notice limit, 9 nickname keys (newline-separated),
    /// 10 membership entry, 11 channel name; j also: 12 the password hash the caller
    /// verified ('' = it believes there is none), 13 the new password ('' = none,
    /// '?' = one was given but not hashed yet, else its hash), 14 replay kind
    /// ('' | 's' since | 'h' last N), 15 its argument, 16 replay limit, 17 member
    /// list limit, 18 wrong passwords allowed a minute, 19 the replay's byte budget
    /// (see `HistoryScript`), 20 the password hash this instance knows the channel by
    /// ('' = none: written back if Redis lost it), 21 '1' when the caller lets the join
    /// create the channel (else a new channel answers {'!new'}). r: 6 channel name, 7 the password hash this instance
    /// knows the channel by ('' = none), then field, nickname, nickname keys, entry per
    /// member.
    ///
    /// Replies: m {id}; l {id or false when nothing was removed, count, quiet};
    /// j {id, count, quiet, protected, members or false, replay {id, body, ...},
    /// truncated (0/1), oldest id kept}, or {'!pw', hash} (verify against this hash
    /// and try again), {'!limited', ms} (too many wrong passwords: no check for that long), {'!claim'}
    /// (hash the password and try again: it will protect the channel), {'!taken'}
    /// (nickname in use); c {false, count} or {false, false, 1}
    /// = due but not yet.
    ///
    /// In a channel over the notice limit, a join or leave is "quiet": not stored (it
    /// takes the next id of the stream, which XSETID moves past it; streams from before
    /// this hold quiet entries, marked `"quiet":true`, which replays and the history API
    /// skip), and published only as a marker `{"id":"<id>","quiet":true}`,
    /// which instances use to start the joiner's delivery at the right place without
    /// showing the notice to everyone (N joins would be N² deliveries; the joiner's
    /// own instance rebuilds its notice from the reply). The channel is marked dirty,
    /// and a count update (mode c, asked for once a second by every instance that saw
    /// quiet markers, sent at most once a second in all) tells everyone the new size.
    /// Join and leave notices stored after a message at most (see the script).
    static let noticesPerMessage = 4

    static let script = LuaScript(HistoryScript.functions + """

        local mode = ARGV[1]
        local body = ARGV[5]
        local n = false
        local quiet = false
        local protected = 0
        local function split(keys)  -- a nickname's keys: one to four, newline-separated
          local t = {}
          for k in string.gmatch(keys, '[^\\n]+') do t[#t + 1] = k end
          return t
        end
        -- ARGV[4]: '<max age>:<ttl>:<protected ttl>' in ms (0 = none / forever).
        local maxAge, ttl, pttl = string.match(ARGV[4], '^(%d+):(%d+):(%d+)$')
        maxAge, ttl, pttl = tonumber(maxAge), tonumber(ttl), tonumber(pttl)
        -- Every key of a channel lives while it has members; once it has none, for
        -- CHANNEL_TTL after the last event (a protected channel's settings for
        -- PROTECTED_CHANNEL_TTL, never less), so that abandoned channels do not stay.
        local function lifetime(n)
          if ttl == 0 then return end
          if n > 0 then
            for _, k in ipairs({KEYS[1], KEYS[3], KEYS[4], KEYS[5]}) do redis.call('PERSIST', k) end
            return
          end
          for _, k in ipairs({KEYS[1], KEYS[3], KEYS[4]}) do redis.call('PEXPIRE', k, ttl) end
          if redis.call('HEXISTS', KEYS[5], 'pw') == 0 then
            redis.call('PEXPIRE', KEYS[5], ttl)
          elseif pttl == 0 then
            redis.call('PERSIST', KEYS[5])
          else
            redis.call('PEXPIRE', KEYS[5], math.max(ttl, pttl))
          end
        end
        local function count(channel)
          -- The directory lists a protected channel apart (shown with the API key only).
          local c, listed, other = redis.call('HLEN', KEYS[2]), KEYS[6], KEYS[8]
          if redis.call('HEXISTS', KEYS[5], 'pw') == 1 then listed, other = KEYS[8], KEYS[6] end
          redis.call('ZREM', other, channel)
          if c == 0 then redis.call('ZREM', listed, channel) else redis.call('ZADD', listed, c, channel) end
          return c
        end
        if mode == 'j' then
          -- Fail closed: a channel this instance knows as protected (ARGV[20], its hash)
          -- whose password Redis lost — not removed through the API, which leaves
          -- `opened` — gets it back before anyone joins.
          if ARGV[20] ~= '' and redis.call('HEXISTS', KEYS[5], 'pw') == 0 and redis.call('HEXISTS', KEYS[5], 'opened') == 0 then
            redis.call('HSET', KEYS[5], 'pw', ARGV[20])
          end
          local pw = redis.call('HGET', KEYS[5], 'pw') or ''
          if pw ~= ARGV[12] then
            if pw ~= '' then
              -- Past PASSWORD_ATTEMPTS wrong passwords from this address for this
              -- channel, each further check waits (1 s, 2 s, 4 s ... at most a minute
              -- after the last wrong one): a backoff, not a lockout of the right password.
              local f = redis.call('HMGET', KEYS[9], 'n', 'at')
              local fails, allowed = tonumber(f[1] or '0'), tonumber(ARGV[18])
              if fails >= allowed then
                local t = redis.call('TIME')
                local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
                local wait = math.min(60000, 1000 * 2 ^ math.min(fails - allowed, 16)) - (now - tonumber(f[2] or '0'))
                if wait > 0 then return {'!limited', math.ceil(wait)} end
              end
              if ARGV[13] ~= '' then
                -- The check this asks for counts as wrong until it is found right (then
                -- taken back), so that guesses sent at once cannot all pass the backoff.
                local t = redis.call('TIME')
                redis.call('HINCRBY', KEYS[9], 'n', 1)
                redis.call('HSET', KEYS[9], 'at', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
                redis.call('PEXPIRE', KEYS[9], 600000)
              end
            end
            return {'!pw', pw}
          end
          local nicks = split(ARGV[9])
          for _, key in ipairs(nicks) do
            local holder = redis.call('HGET', KEYS[4], key)
            if holder and holder ~= ARGV[6] and redis.call('HEXISTS', KEYS[2], holder) == 1
               and string.match(holder, '^(.*):%d+$') ~= string.match(ARGV[6], '^(.*):%d+$') then
              return {'!taken'}  -- held by another connection (a connection may join, leave and join again)
            end
          end
          local new = pw == '' and redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[5]) == 0
          -- A new channel costs Redis memory for a day (CHANNEL_TTL): its creation is
          -- counted per client address by the caller, who asks again with ARGV[21] = 1.
          if new and ARGV[21] ~= '1' then return {'!new'} end
          if pw ~= '' then
            protected = 1
          elseif ARGV[13] ~= '' and new then
            -- Only a channel that never existed (no history, no members, no settings)
            -- is claimed by its first joiner; an established one that is empty for a
            -- moment stays public (its password is set through the API).
            if ARGV[13] == '?' then return {'!claim'} end
            redis.call('HSET', KEYS[5], 'pw', ARGV[13])
            protected = 1
          end
          redis.call('HSET', KEYS[2], ARGV[6], ARGV[7])
          for _, key in ipairs(nicks) do redis.call('HSET', KEYS[4], key, ARGV[6]) end
          redis.call('SADD', KEYS[7], ARGV[10])
          n = count(ARGV[11])
          quiet = n > tonumber(ARGV[8])
        elseif mode == 'l' then
          if KEYS[9] and redis.call('EXISTS', KEYS[9]) == 1 then return redis.error_reply('ALIVE instance came back') end
          redis.call('SREM', KEYS[7], ARGV[10])
          local removed = redis.call('HDEL', KEYS[2], ARGV[6])
          for _, key in ipairs(split(ARGV[9])) do
            if redis.call('HGET', KEYS[4], key) == ARGV[6] then redis.call('HDEL', KEYS[4], key) end
          end
          n = count(ARGV[11])
          if removed == 0 then
            lifetime(n)
            return {false, n}
          end
          quiet = n >= tonumber(ARGV[8])
        elseif mode == 'r' then
          -- Fail closed: a channel this instance knows as protected whose settings Redis
          -- lost (a restart without persistence) gets its password back.
          local restored = 0
          if ARGV[7] ~= '' and redis.call('HEXISTS', KEYS[5], 'pw') == 0 and redis.call('HEXISTS', KEYS[5], 'opened') == 0 then
            redis.call('HSET', KEYS[5], 'pw', ARGV[7])
            restored = 1
          end
          for i = 8, #ARGV, 4 do
            redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
            for _, key in ipairs(split(ARGV[i + 2])) do
              local holder = redis.call('HGET', KEYS[4], key)
              if not holder or redis.call('HEXISTS', KEYS[2], holder) == 0 then redis.call('HSET', KEYS[4], key, ARGV[i]) end
            end
            redis.call('SADD', KEYS[7], ARGV[i + 3])
          end
          n = count(ARGV[6])
          lifetime(n)
          return {false, n, restored}
        elseif mode == 'c' then
          if redis.call('HGET', KEYS[3], 'dirty') ~= '1' then return {false, false} end
          local t = redis.call('TIME')
          local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
          if now - tonumber(redis.call('HGET', KEYS[3], 'at') or '0') < 1000 then return {false, false, 1} end
          redis.call('HSET', KEYS[3], 'dirty', '0', 'at', now)
          n = redis.call('HLEN', KEYS[2])
          redis.call('PUBLISH', ARGV[2], body .. 'Members: ' .. n .. '","count":' .. n .. '}')
          return {false, n}
        end
        if quiet then
          redis.call('HSET', KEYS[3], 'dirty', '1')
          body = body .. n .. ',"quiet":true}'
        elseif n then
          body = body .. n .. '}'
        end
        -- Notices must not push messages out of history: at most NOTICES_PER_MESSAGE
        -- are stored after each message (the others go out live and take their place in
        -- the order like quiet ones), and MAXLEN counts that many per message, so a
        -- message stays until HISTORY_SIZE newer messages came, however much people churn.
        local unstored = quiet
        if mode == 'm' then
          redis.call('HSET', KEYS[3], 'notices', 0)
        elseif n and not quiet then
          if redis.call('HINCRBY', KEYS[3], 'notices', 1) > \(ChatStore.noticesPerMessage) then unstored = true end
        end
        local id
        if unstored and redis.call('EXISTS', KEYS[1]) == 1 then
          -- A quiet notice only needs its place in the channel's order (an id), not a
          -- stored entry: the stream's last id moves past it (XSETID) and nothing is
          -- added, so churn in a big channel neither pushes messages out of history
          -- nor uses up replays.
          local last, t = false, redis.call('TIME')
          local info = redis.call('XINFO', 'STREAM', KEYS[1])
          for i = 1, #info, 2 do if info[i] == 'last-generated-id' then last = info[i + 1] end end
          local lms, lseq = string.match(last, '^(%d+)-(%d+)$')
          local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
          if now > tonumber(lms) then id = string.format('%d-0', now) else id = lms .. '-' .. string.format('%d', tonumber(lseq) + 1) end
          redis.call('XSETID', KEYS[1], id)
        else
          id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'd', body)
        end
        local ms = string.match(id, '^%d+')
        if maxAge > 0 then redis.call('XTRIM', KEYS[1], 'MINID', tonumber(ms) - maxAge) end  -- exact: an age limit is a promise
        if mode == 'm' then lifetime(redis.call('HLEN', KEYS[2])) else lifetime(n) end
        if quiet then
          redis.call('PUBLISH', ARGV[2], '{"id":"' .. id .. '","quiet":true}')
        else
          redis.call('PUBLISH', ARGV[2], '{"id":"' .. id .. '","ts":' .. ms .. ',' .. body)
        end
        if mode ~= 'j' then return {id, n, quiet and 1 or 0} end
        redis.call('HSETNX', KEYS[5], 'created', ms)
        local members = false
        if n <= tonumber(ARGV[17]) then members = redis.call('HVALS', KEYS[2]) end
        local replay, truncated, oldest = {}, 0, ''
        local kind = ARGV[14]
        if kind ~= '' then
          local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
          oldest = first and first[1] or ''
          local limit, budget = tonumber(ARGV[16]), tonumber(ARGV[19])
          local entries, cut, more
          if kind == 's' then
            entries, cut, more = readEvents(KEYS[1], true, '(' .. id, '(' .. ARGV[15], limit, budget)
            if cut or more or trimmedAfter(KEYS[1], ARGV[15]) then truncated = 1 end
          else
            entries = readEvents(KEYS[1], true, '(' .. id, '-', math.min(tonumber(ARGV[15]), limit), budget)
          end
          for i = #entries - 1, 1, -2 do
            replay[#replay + 1] = entries[i]
            replay[#replay + 1] = entries[i + 1]
          end
        end
        return {id, n, quiet and 1 or 0, protected, members, replay, truncated, oldest}
        """)

    let link: RedisLink
    let global: GlobalKeys
    private let historySize: Int
    private let maxAgeMillis: Int
    /// CHANNEL_TTL and PROTECTED_CHANNEL_TTL (0: forever).
    var channelTTLMillis = 0
    var protectedTTLMillis = 0
    /// Join/leave notices go to everyone only in channels up to this many members.
    private let noticeLimit: Int
    private var args = RedisArgs()
    /// Commands sent and not yet answered (shutdown waits for them).
    private(set) var inFlight = 0
    /// Round trip of every command, for /metrics.
    private(set) var latency = Histogram.latencySeconds()

    init(link: RedisLink, prefix: String, historySize: Int, maxAgeMillis: Int, noticeLimit: Int) {
        self.link = link
        self.global = GlobalKeys(prefix: prefix)
        self.historySize = historySize
        self.maxAgeMillis = maxAgeMillis
        self.noticeLimit = noticeLimit
    }

    var isAvailable: Bool { link.isReady }
    /// Whether a command can go out now without adding to a congestion (backpressure).
    var canSend: Bool { link.canSend && link.inFlight < RedisLink.maxInFlight }

    struct Appended {
        let id: String
        /// Member count after a join or leave.
        let count: Int?
        /// The notice was quiet (published as a marker only).
        var quiet = false
    }

    /// What a join asks for besides joining.
    struct JoinRequest {
        var field: String
        var nickname: String
        var folded: String
        var entry: String
        var channel: String
        /// The stored password hash the caller verified the client's password against.
        var verifiedHash = ""
        /// '' none, '?' given but not hashed, else the new hash.
        var newPassword = ""
        /// The joiner's address's wrong-password counter, and how many a minute it allows.
        var passwordFailures: [UInt8] = []
        var passwordFailureLimit = 0
        var replay: Replay = .none
        var replayLimit = 0
        /// Bytes of replayed events at most (read in pages inside Redis).
        var replayBudget = 0
        /// The password hash this instance knows the channel by (fail closed).
        var knownHash = ""
        /// The join may create the channel (counted against the address's allowance).
        var mayCreate = false
        var listLimit = 0
    }

    enum Replay: Equatable {
        case none
        case since(String)
        case last(Int)
    }

    enum JoinOutcome {
        case joined(Joined)
        case verify(hash: String)
        case claim
        case nicknameTaken
        /// Too many wrong passwords for the channel from this address, on any instance.
        case passwordLimited(waitMillis: Int)
        /// The channel does not exist: the caller counts its creation and asks again.
        case new

        var isJoined: Bool {
            if case .joined = self { return true }
            return false
        }
    }

    struct Joined {
        var appended: Appended
        var protected: Bool
        var members: [String]?
        /// (id, body) in order; bodies lack `{"id":…,"ts":…,`.
        var replay: [(id: String, body: [UInt8])]
        var truncated: Bool
        var oldest: String
    }

    func publish(_ keys: ChannelKeys, body: [UInt8], _ done: @escaping (Result<Appended, StoreFailure>) -> Void) {
        guard link.isReady else { return done(.failure(.unavailable(sent: false))) }
        begin(keys, mode: "m", body: body, presenceKeys: true)
        send(args) { result in done(result.flatMap(Self.appended)) }
    }

    func join(_ keys: ChannelKeys, _ j: JoinRequest, bodyPrefix: [UInt8], _ done: @escaping (Result<JoinOutcome, StoreFailure>) -> Void) {
        guard link.isReady else { return done(.failure(.unavailable(sent: false))) }
        begin(keys, mode: "j", body: bodyPrefix, presenceKeys: true, extraKey: j.passwordFailures)
        args.add(j.field); args.add(j.nickname); args.add(noticeLimit); args.add(j.folded); args.add(j.entry); args.add(j.channel)
        args.add(j.verifiedHash); args.add(j.newPassword)
        switch j.replay {
        case .none: args.add(""); args.add("")
        case .since(let id): args.add("s"); args.add(id)
        case .last(let n): args.add("h"); args.add(n)
        }
        args.add(j.replayLimit); args.add(j.listLimit); args.add(j.passwordFailureLimit); args.add(j.replayBudget); args.add(j.knownHash)
        args.add(j.mayCreate ? "1" : "0")
        send(args) { result in
            done(result.flatMap { reply in
                if reply.count >= 1, reply[0].isString, reply[0].bytes.first == UInt8(ascii: "!") {
                    switch reply[0].text {
                    case "!pw" where reply.count > 1: return .success(.verify(hash: reply[1].text))
                    case "!claim": return .success(.claim)
                    case "!new": return .success(.new)
                    case "!taken": return .success(.nicknameTaken)
                    case "!limited": return .success(.passwordLimited(waitMillis: reply.count > 1 ? Int(reply[1].integer) : 1_000))
                    default: return .failure(.refused("unexpected script reply \(reply[0].text)"))
                    }
                }
                return Self.appended(reply).flatMap { appended in
                    guard reply.count >= 8 else { return .failure(.refused("unexpected script reply")) }
                    let list = reply[4].isArray ? (0..<reply[4].count).map { reply[4][$0].text } : nil
                    var replay: [(id: String, body: [UInt8])] = []
                    let r = reply[5]
                    replay.reserveCapacity(r.count / 2)
                    var i = 0
                    while i + 1 < r.count {
                        replay.append((r[i].text, Array(r[i + 1].bytes)))
                        i += 2
                    }
                    return .success(.joined(Joined(appended: appended, protected: reply[3].integer == 1, members: list, replay: replay,
                                                   truncated: reply[6].integer == 1, oldest: reply[7].text)))
                }
            })
        }
    }

    /// On success `id` is empty when the member was not in the hash (nothing published).
    /// A removal that finds nothing is how failed or uncertain updates are safely redone.
    /// A member leaves (`ofDeadInstance`: removed by the cleanup after a dead instance,
    /// unless that instance is alive again by the time the script runs).
    func leave(_ keys: ChannelKeys, _ entry: MemberEntry, folded: String, instance: String, ofDeadInstance: Bool = false,
               _ done: @escaping (Result<Appended, StoreFailure>) -> Void) {
        guard link.isReady else { return done(.failure(.unavailable(sent: false))) }
        begin(keys, mode: "l", body: ServerEvents.presenceBodyPrefix(joined: false, channel: entry.channel, nickname: entry.nickname),
              presenceKeys: true, instance: instance, extraKey: ofDeadInstance ? global.alive(instance) : nil)
        args.add(entry.field); args.add(entry.nickname); args.add(noticeLimit); args.add(folded); args.add(entry.encoded); args.add(entry.channel)
        send(args) { result in done(result.flatMap(Self.appended)) }
    }

    /// Writes members back (no notices): after a reconnect, in case Redis lost them.
    /// A channel this instance knows as protected (`passwordHash`) gets its password
    /// back if Redis lost the channel's settings: `restoredPassword` is then called.
    func restoreMembers(_ keys: ChannelKeys, channel: String, passwordHash: String, _ members: [(entry: MemberEntry, folded: String)],
                        instance: String, restoredPassword: @escaping () -> Void) {
        guard link.isReady, !members.isEmpty else { return }
        begin(keys, mode: "r", body: [], presenceKeys: true, instance: instance)
        args.add(channel)
        args.add(passwordHash)
        for m in members {
            args.add(m.entry.field); args.add(m.entry.nickname); args.add(m.folded); args.add(m.entry.encoded)
        }
        send(args) { result in
            if case .success(let reply) = result, reply.count > 2, reply[2].integer == 1 { restoredPassword() }
        }
    }

    /// Publishes the channel's member count if a quiet join or leave changed it since
    /// the last update (whichever instance asks first does it). `later` is called when
    /// an update is due but the last went out less than a second ago, or when the
    /// script did not run: ask again.
    func publishCount(_ keys: ChannelKeys, eventPrefix: [UInt8], later: @escaping () -> Void) {
        guard link.isReady else { return later() }
        begin(keys, mode: "c", body: eventPrefix, presenceKeys: false)
        send(args) { result in
            switch result {
            case .success(let reply): if reply.count > 2, reply[2].isInteger, reply[2].integer == 1 { later() }
            case .failure: later()
            }
        }
    }

    /// One more wrong password for a channel from an address (the window is a minute
    /// from the first).
    /// A password check the join script counted as wrong (see the script) was right:
    /// taken back.
    func forgiveWrongPassword(_ key: [UInt8]) {
        command([Array("EVAL".utf8), Array(Self.forgiveScript.utf8), Array("1".utf8), key]) { _ in }
    }

    static let forgiveScript = """
        if tonumber(redis.call('HGET', KEYS[1], 'n') or '0') > 0 then redis.call('HINCRBY', KEYS[1], 'n', -1) end
        return 0
        """

    /// Any other command (queries, the instance registry), counted in flight like the rest.
    func command(_ words: [[UInt8]], _ done: @escaping (Result<RedisReply, StoreFailure>) -> Void) {
        guard link.isReady else { return done(.failure(.unavailable(sent: false))) }
        var call = RedisArgs()
        for w in words { call.add(w) }
        send(call, script: nil, done)
    }

    /// Sets a channel's password (a crypt hash) or removes it (`hash` empty), in one
    /// step: the settings, the directory it is listed in, and the settings' lifetime
    /// (none while the channel has members; else CHANNEL_TTL, or PROTECTED_CHANNEL_TTL for
    /// a protected one). A removal leaves `opened`, so that an instance that knew the
    /// password does not write it back (it does when Redis lost it). `done(false)`:
    /// Redis did not take it.
    func setPassword(_ keys: ChannelKeys, channel: String, hash: String, _ done: @escaping (Bool) -> Void) {
        command([Array("EVAL".utf8), Array(Self.passwordScript.utf8), Array("4".utf8), keys.meta, keys.members, global.channels,
                 global.protectedChannels, Array(channel.utf8), Array(hash.utf8), Array(String(channelTTLMillis).utf8),
                 Array(String(protectedTTLMillis).utf8)]) { result in
            if case .success = result { done(true) } else { done(false) }
        }
    }

    static let passwordScript = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local from, to = KEYS[4], KEYS[3]
        if ARGV[2] == '' then
          redis.call('HDEL', KEYS[1], 'pw')
          redis.call('HSET', KEYS[1], 'opened', now)
        else
          redis.call('HSET', KEYS[1], 'pw', ARGV[2])
          redis.call('HDEL', KEYS[1], 'opened')
          from, to = KEYS[3], KEYS[4]
        end
        redis.call('HSETNX', KEYS[1], 'created', now)
        local score = redis.call('ZSCORE', from, ARGV[1])
        if score then
          redis.call('ZREM', from, ARGV[1])
          redis.call('ZADD', to, score, ARGV[1])
        end
        local ttl, pttl = tonumber(ARGV[3]), tonumber(ARGV[4])
        if ttl == 0 or redis.call('HLEN', KEYS[2]) > 0 or (ARGV[2] ~= '' and pttl == 0) then
          redis.call('PERSIST', KEYS[1])
        elseif ARGV[2] == '' then
          redis.call('PEXPIRE', KEYS[1], ttl)
        else
          redis.call('PEXPIRE', KEYS[1], math.max(ttl, pttl))
        end
        return 0
        """

    struct MemberPage {
        var protected: Bool
        /// Members in all.
        var count: Int
        /// One page of nicknames, in the hash's order.
        var members: [String]
        /// Where the next page starts; nil after the last.
        var next: String?

        /// The page sorted for display. HSCAN's count is a hint: a page with a next one
        /// is given whole (cutting it would lose names); the last page (a small hash
        /// comes whole in one) is cut to `limit`.
        func trimmed(to limit: Int) -> [String] {
            let sorted = Names.sortedForDisplay(members)
            return next == nil ? Array(sorted.prefix(limit)) : sorted
        }
    }

    /// Whether a channel has a password, its member count, and one page of its
    /// members' nicknames from `cursor` (HSCAN: about `pageSize` of them, never the
    /// whole hash), in three pipelined reads.
    func memberPage(_ keys: ChannelKeys, cursor: String, pageSize: Int, _ done: @escaping (Result<MemberPage, StoreFailure>) -> Void) {
        var protected = false, count = 0
        command([Array("HGET".utf8), keys.meta, Array("pw".utf8)]) { result in
            if case .success(let reply) = result { protected = reply.isString && reply.bytes.count > 0 }
        }
        command([Array("HLEN".utf8), keys.members]) { result in
            if case .success(let reply) = result { count = Int(reply.integer) }
        }
        command([Array("HSCAN".utf8), keys.members, Array(cursor.utf8), Array("COUNT".utf8), Array(String(max(pageSize, 1)).utf8)]) { result in
            done(result.flatMap { reply in
                guard reply.count == 2 else { return .failure(.refused("unexpected HSCAN reply")) }
                let pairs = reply[1], next = reply[0].text
                let names = stride(from: 1, to: pairs.count, by: 2).map { pairs[$0].text }
                return .success(MemberPage(protected: protected, count: count, members: names, next: next == "0" ? nil : next))
            })
        }
    }

    /// What the history API reads: nothing of a protected channel for a caller
    /// without the key.
    enum History {
        case forbidden
        /// Events oldest first, as they were published; `cut`: the byte budget stopped
        /// the read short of its limit.
        case events([[UInt8]], protected: Bool, cut: Bool)
    }

    /// Stored events of a channel, oldest first: after `since`, or before `before`,
    /// or the latest; `limit` and `budget` bytes at most, read in pages inside Redis.
    func history(_ keys: ChannelKeys, since: String?, before: String?, limit: Int, budget: Int, keyed: Bool,
                 _ done: @escaping (Result<History, StoreFailure>) -> Void) {
        guard link.isReady else { return done(.failure(.unavailable(sent: false))) }
        var call = RedisArgs()
        call.add("EVALSHA"); call.add(HistoryScript.read.sha); call.add(2); call.add(keys.stream); call.add(keys.meta)
        call.add(since != nil ? "s" : before != nil ? "b" : "l"); call.add(since ?? before ?? "")
        call.add(limit); call.add(budget); call.add(keyed ? "1" : "0")
        let oldestFirst = since != nil
        send(call, script: HistoryScript.read) { result in
            done(result.flatMap { reply in
                guard reply.count >= 1 else { return .failure(.refused("unexpected script reply")) }
                if reply.count == 1 { return .success(.forbidden) }
                guard reply.count >= 3 else { return .failure(.refused("unexpected script reply")) }
                let list = reply[1], pairs = list.count / 2
                var events: [[UInt8]] = []
                events.reserveCapacity(pairs)
                for k in 0..<pairs {
                    let i = 2 * (oldestFirst ? k : pairs - 1 - k)
                    var event: [UInt8] = []
                    ServerEvents.stored(id: list[i].text, body: list[i + 1].bytes, replay: false, to: &event)
                    events.append(event)
                }
                return .success(.events(events, protected: reply[0].integer == 1, cut: reply[2].integer == 1))
            })
        }
    }

    private static func appended(_ reply: RedisReply) -> Result<Appended, StoreFailure> {
        // {id, count, quiet}; id is nil when a leave found nothing to remove (and for counts).
        guard reply.count >= 1, reply[0].isString || reply[0].isNil else { return .failure(.refused("unexpected script reply")) }
        let count = reply.count > 1 && reply[1].isInteger ? Int(reply[1].integer) : nil
        let quiet = reply.count > 2 && reply[2].isInteger && reply[2].integer == 1
        return .success(Appended(id: reply[0].isNil ? "" : reply[0].text, count: count, quiet: quiet))
    }

    private func begin(_ keys: ChannelKeys, mode: String, body: [UInt8], presenceKeys: Bool, instance: String? = nil, extraKey: [UInt8]? = nil) {
        args.reset()
        args.add("EVALSHA")
        args.add(Self.script.sha)
        args.add(presenceKeys ? (extraKey == nil ? 8 : 9) : 3)
        args.add(keys.stream)
        args.add(keys.members)
        args.add(keys.presence)
        if presenceKeys {
            args.add(keys.nicknames)
            args.add(keys.meta)
            args.add(global.channels)
            args.add(global.memberships(instance ?? self.instance))
            args.add(global.protectedChannels)
            if let extraKey { args.add(extraKey) }
        }
        args.add(mode)
        args.add(keys.topic)
        args.add(historySize * (Self.noticesPerMessage + 1))  // MAXLEN: HISTORY_SIZE messages and their notices
        args.add("\(maxAgeMillis):\(channelTTLMillis):\(protectedTTLMillis)")
        args.add(body)
    }

    /// This instance's id towards Redis (set by the hub).
    var instance = ""

    /// Sends a command, counted in flight and timed. A script call (EVALSHA) that gets
    /// NOSCRIPT (a restarted or flushed Redis) is sent again as EVAL, which also caches
    /// the script for the next EVALSHA. The reply is only valid during `done`.
    private func send(_ call: RedisArgs, script: LuaScript? = ChatStore.script, _ done: @escaping (Result<RedisReply, StoreFailure>) -> Void) {
        inFlight += 1
        let started = Platform.monotonicMicros()
        let sent = link.send(call) { [unowned self] reply in
            self.inFlight -= 1
            self.latency.observe(Double(Platform.monotonicMicros() - started) / 1_000_000)
            guard let reply else { return done(.failure(.unavailable(sent: true))) }
            if reply.isError {
                if let script, reply.text.hasPrefix("NOSCRIPT") {
                    var eval = RedisArgs()
                    eval.add("EVAL")
                    eval.add(script.source)
                    call.withArguments(from: 2) { eval.add($0) }
                    return self.send(eval, script: nil, done)
                }
                return done(.failure(.refused(reply.text)))
            }
            done(.success(reply))
        }
        if !sent {
            inFlight -= 1
            done(.failure(.unavailable(sent: false)))
        }
    }
}

extension RedisArgs {
    /// Calls `body` with each argument from index `start` on.
    func withArguments(from start: Int, _ body: ([UInt8]) -> Void) {
        var previous = 0
        for (k, end) in endOffsets.enumerated() {
            if k >= start { body(Array(storage[previous..<end])) }
            previous = end
        }
    }
}
