import ChatCore
import EventIO

/// Redis key names of one channel. The hash tag `{name}` puts a channel's stream,
/// member hash and topic in one Redis Cluster slot.
struct ChannelKeys {
    let stream: [UInt8]
    let members: [UInt8]
    /// Hash: `dirty` = 1 while a quiet join or leave waits for its count update;
    /// `at` = when the last count update went out (ms), so that all instances
    /// together send at most one a second.
    let presence: [UInt8]
    let topic: [UInt8]

    init(prefix: String, tag: String) {
        stream = Array("\(prefix):{\(tag)}:stream".utf8)
        members = Array("\(prefix):{\(tag)}:members".utf8)
        presence = Array("\(prefix):{\(tag)}:presence".utf8)
        topic = Array("\(prefix):{\(tag)}:pub".utf8)
    }

    /// Broadcast-to-everyone lives under the tag `*`, which no channel name can be.
    static func global(prefix: String) -> ChannelKeys { ChannelKeys(prefix: prefix, tag: "*") }
}

/// Why a store command did not complete.
enum StoreFailure: Error {
    /// No connection to Redis, or it dropped before the reply.
    case unavailable
    /// Redis answered with an error.
    case refused(String)
}

/// The chat's writes to Redis. Every write is one round trip of one Lua script
/// that appends the event to the channel's Stream (trimmed with MAXLEN ~), so that
/// the stream entry id becomes the message id, and publishes it — with that id
/// and the Redis server's time written in front — on the channel's topic.
/// Join and leave also update the channel's member hash and put its size in the
/// notice. Scripts run atomically, so stream order and delivery order agree.
final class ChatStore {
    /// KEYS[1] stream, KEYS[2] member hash, KEYS[3] presence hash.
    /// ARGV[1] mode: m (message) | j (join) | l (leave) | c (count update);
    /// ARGV[2] topic; ARGV[3] MAXLEN; ARGV[4] body (JSON members without `{`; for j/l it
    /// ends in `"count":`; for c it is the whole event up to its message text);
    /// ARGV[5] member field, ARGV[6] nickname, ARGV[7] notice limit, for j/l.
    /// Returns {id, count}: id is false when a leave found nothing to remove, and for c.
    ///
    /// In a channel over the notice limit, a join or leave is "quiet": stored with
    /// `"quiet":true`, and published only as a marker `{"id":"<id>","quiet":true}`,
    /// which instances use to start the joiner's delivery at the right place without
    /// showing the notice to everyone (N joins would be N² deliveries; the joiner's
    /// own instance rebuilds its notice from the reply). The channel is marked dirty,
    /// and a count update (mode c, asked for once a second by every instance that saw
    /// quiet markers, sent at most once a second in all) tells everyone the new size.
    /// Returns {id, count, 1 if quiet}; for c, {false, false, 1} means "due, but not yet".
    static let script = """
        local body = ARGV[4]
        local n = false
        local quiet = false
        if ARGV[1] == 'j' then
          redis.call('HSET', KEYS[2], ARGV[5], ARGV[6])
          n = redis.call('HLEN', KEYS[2])
          quiet = n > tonumber(ARGV[7])
        elseif ARGV[1] == 'l' then
          local removed = redis.call('HDEL', KEYS[2], ARGV[5])
          n = redis.call('HLEN', KEYS[2])
          if removed == 0 then return {false, n} end
          quiet = n >= tonumber(ARGV[7])
        elseif ARGV[1] == 'c' then
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
        local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'd', body)
        if quiet then
          redis.call('PUBLISH', ARGV[2], '{"id":"' .. id .. '","quiet":true}')
          return {id, n, 1}
        end
        redis.call('PUBLISH', ARGV[2], '{"id":"' .. id .. '","ts":' .. string.match(id, '^%d+') .. ',' .. body)
        return {id, n}
        """
    static let scriptSHA = SHA1.hex(Array(script.utf8))

    let link: RedisLink
    private let historySize: Int
    /// Join/leave notices go to everyone only in channels up to this many members.
    private let noticeLimit: Int
    private var args = RedisArgs()
    /// Commands sent and not yet answered (shutdown waits for them).
    private(set) var inFlight = 0
    /// Round trip of every command, for /metrics.
    private(set) var latency = Histogram.latencySeconds()

    init(link: RedisLink, historySize: Int, noticeLimit: Int) {
        self.link = link
        self.historySize = historySize
        self.noticeLimit = noticeLimit
    }

    var isAvailable: Bool { link.isReady }

    struct Appended {
        let id: String
        /// Member count after a join or leave.
        let count: Int?
        /// The notice was quiet (published as a marker only).
        var quiet = false
    }

    func publish(_ keys: ChannelKeys, body: [UInt8], _ done: @escaping (Result<Appended, StoreFailure>) -> Void) {
        run(keys, mode: "m", body: body, field: nil, nickname: nil, done)
    }

    func join(_ keys: ChannelKeys, field: String, nickname: String, bodyPrefix: [UInt8], _ done: @escaping (Result<Appended, StoreFailure>) -> Void) {
        run(keys, mode: "j", body: bodyPrefix, field: field, nickname: nickname, done)
    }

    /// On success `id` is empty when the member was not in the hash (nothing published).
    /// A removal that finds nothing is how failed or uncertain updates are safely redone.
    func leave(_ keys: ChannelKeys, field: String, nickname: String, bodyPrefix: [UInt8], _ done: @escaping (Result<Appended, StoreFailure>) -> Void) {
        run(keys, mode: "l", body: bodyPrefix, field: field, nickname: nickname, done)
    }

    /// Writes members back into a channel's hash (no notices): after a reconnect, in
    /// case Redis lost them.
    func restoreMembers(_ keys: ChannelKeys, _ fields: [(String, String)]) {
        guard link.isReady, !fields.isEmpty else { return }
        var args = RedisArgs()
        args.add("HSET")
        args.add(keys.members)
        for (field, nickname) in fields {
            args.add(field)
            args.add(nickname)
        }
        inFlight += 1
        if !link.send(args, { [unowned self] _ in self.inFlight -= 1 }) { inFlight -= 1 }
    }

    /// Publishes the channel's member count if a quiet join or leave changed it since
    /// the last update (whichever instance asks first does it). `later` is called when
    /// an update is due but the last went out less than a second ago, or when the
    /// script did not run: ask again.
    func publishCount(_ keys: ChannelKeys, eventPrefix: [UInt8], later: @escaping () -> Void) {
        run(keys, mode: "c", body: eventPrefix, field: nil, nickname: nil) { result in
            switch result {
            case .success(let appended): if appended.quiet { later() }
            case .failure: later()  // not sent: the update is still owed
            }
        }
    }

    private func run(_ keys: ChannelKeys, mode: String, body: [UInt8], field: String?, nickname: String?, _ done: @escaping (Result<Appended, StoreFailure>) -> Void) {
        guard link.isReady else { return done(.failure(.unavailable)) }
        args.reset()
        args.add("EVALSHA")
        args.add(Self.scriptSHA)
        args.add(3)
        args.add(keys.stream)
        args.add(keys.members)
        args.add(keys.presence)
        args.add(mode)
        args.add(keys.topic)
        args.add(historySize)
        args.add(body)
        if let field, let nickname {
            args.add(field)
            args.add(nickname)
            args.add(noticeLimit)
        }
        send(args, done)
    }

    /// Sends EVALSHA; on NOSCRIPT (a restarted or flushed Redis) sends the same call
    /// as EVAL, which also caches the script for the next EVALSHA.
    private func send(_ call: RedisArgs, _ done: @escaping (Result<Appended, StoreFailure>) -> Void) {
        inFlight += 1
        let started = Platform.monotonicMicros()
        let sent = link.send(call) { [unowned self] reply in
            self.inFlight -= 1
            self.latency.observe(Double(Platform.monotonicMicros() - started) / 1_000_000)
            guard let reply else { return done(.failure(.unavailable)) }
            if reply.isError {
                if reply.text.hasPrefix("NOSCRIPT") {
                    var eval = RedisArgs()
                    eval.add("EVAL")
                    eval.add(Self.script)
                    call.withArguments(from: 2) { eval.add($0) }
                    return self.send(eval, done)
                }
                return done(.failure(.refused(reply.text)))
            }
            // {id, count}; id is nil when a leave found nothing to remove (and for counts).
            guard reply.count >= 1, reply[0].isString || reply[0].isNil else { return done(.failure(.refused("unexpected script reply"))) }
            let count = reply.count > 1 && reply[1].isInteger ? Int(reply[1].integer) : nil
            let quiet = reply.count > 2 && reply[2].isInteger && reply[2].integer == 1
            done(.success(Appended(id: reply[0].isNil ? "" : reply[0].text, count: count, quiet: quiet)))
        }
        if !sent {
            inFlight -= 1
            done(.failure(.unavailable))
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
