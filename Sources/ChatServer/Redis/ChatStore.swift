import ChatCore
import EventIO

/// Why a store command did not complete.
enum StoreFailure: Error, Equatable {
    /// No connection to Redis (`sent` false: the command was not made), or it dropped
    /// before the reply (`sent` true: Redis may still have run it).
    case unavailable(sent: Bool)
    /// Redis answered with an error.
    case refused(String)
}

/// The chat's reads and writes in Redis, over the command link: one Lua script per
/// operation (`Scripts/*.lua`, each with a typed call, `ScriptCall`), every one of
/// which touches the keys of one channel only (one hash-tag slot), and the plain
/// commands for the keys that are not a channel's (the channel directory, the
/// instance registry). By concern: the message log (MessageLog.swift: publish,
/// history), presence (PresenceStore.swift: join, leave, restore, counts, member pages),
/// channel settings (ChannelSettings.swift: passwords) and the directories
/// (Directory.swift: channel listing, instance membership sets and cleanup).
final class ChatStore {
    let link: RedisLink
    /// Every key and topic (named `global` for its callers: the keys that are not a channel's).
    let global: Keyspace
    var keyspace: Keyspace { global }
    let historySize: Int
    let maxAgeMillis: Int
    /// CHANNEL_TTL and PROTECTED_CHANNEL_TTL (0: forever).
    var channelTTLMillis = 0
    var protectedTTLMillis = 0
    /// Join/leave notices go to everyone only in channels up to this many members.
    let noticeLimit: Int
    /// This instance's id towards Redis (set by the worker).
    var instance = ""
    private var args = RedisArgs()
    /// Commands sent and not yet answered (shutdown waits for them).
    private(set) var inFlight = 0
    /// Calls held while scripts are loaded again after a SCRIPT FLUSH.
    private var recovery = Recovery()
    /// Round trip of every command, for /metrics.
    private(set) var latency = Histogram.latencySeconds()

    /// Join and leave notices stored after a message at most (NOTICES_PER_MESSAGE in
    /// Scripts/lib/channel.lua): MAXLEN counts that many per message.
    static let noticesPerMessage = 4

    init(link: RedisLink, prefix: String, historySize: Int, maxAgeMillis: Int, noticeLimit: Int) {
        self.link = link
        self.global = Keyspace(prefix: prefix)
        self.historySize = historySize
        self.maxAgeMillis = maxAgeMillis
        self.noticeLimit = noticeLimit
    }

    var isAvailable: Bool { link.isReady }
    /// Whether a command can go out now without adding to a congestion (backpressure).
    var canSend: Bool { link.canSend && link.inFlight < RedisLink.maxInFlight }

    /// What the scripts that append to a channel's stream are told besides their keys.
    var streamLimits: StreamLimits {
        StreamLimits(
            maxlen: historySize * (Self.noticesPerMessage + 1),  // HISTORY_SIZE messages and their notices
            maxAgeMillis: maxAgeMillis, ttlMillis: channelTTLMillis, protectedTTLMillis: protectedTTLMillis)
    }

    /// Runs a script call; the reply is decoded by the call's type.
    func run<C: ScriptCall>(_ call: C, _ done: @escaping (Result<C.Reply, StoreFailure>) -> Void) {
        guard link.isReady else { return done(.failure(.unavailable(sent: false))) }
        call.encode(into: &args)
        send(args, script: C.script) { result in done(result.flatMap(C.decode)) }
    }

    /// Any other command (queries, the directories), counted in flight like the rest.
    func command(_ words: [[UInt8]], _ done: @escaping (Result<RedisValue, StoreFailure>) -> Void) {
        guard link.isReady else { return done(.failure(.unavailable(sent: false))) }
        var call = RedisArgs()
        for w in words { call.add(w) }
        send(call, script: nil, done)
    }

    /// A command whose reply nobody needs.
    func command(_ words: [UInt8]...) { command(words) { _ in } }

    /// Sends a command, counted in flight and timed. A script call (EVALSHA) that gets
    /// NOSCRIPT (a flushed Redis: SCRIPT FLUSH) is sent again as EVAL — after every
    /// script is loaded again — and the order of operations is kept (see `recovery`).
    private func send(
        _ call: RedisArgs, script: LuaScript?, _ done: @escaping (Result<RedisValue, StoreFailure>) -> Void
    ) {
        if recovery.holding {
            // Bounded like the link itself (its hard cap counts what is sent).
            guard recovery.held.count + link.inFlight < RedisLink.maxInFlight else {
                return done(.failure(.unavailable(sent: false)))
            }
            inFlight += 1
            recovery.held.append(Recovery.Held(call: call, script: script, done: done))
            return
        }
        transmit(call, script: script, done)
    }

    private func transmit(
        _ call: RedisArgs, script: LuaScript?, _ done: @escaping (Result<RedisValue, StoreFailure>) -> Void
    ) {
        inFlight += 1
        let started = Platform.monotonicMicros()
        let sent = link.send(call) { [unowned self] reply in
            self.inFlight -= 1
            self.recovery.answered += 1
            self.latency.observe(Double(Platform.monotonicMicros() - started) / 1_000_000)
            defer { self.releaseHeld() }
            guard let reply else { return done(.failure(.unavailable(sent: true))) }
            if reply.isError {
                if let script, reply.text.hasPrefix("NOSCRIPT") { return self.retry(call, script: script, done) }
                return done(.failure(.refused(reply.text)))
            }
            done(.success(RedisValue(reply)))
        }
        if sent {
            recovery.sent += 1
        } else {
            inFlight -= 1
            done(.failure(.unavailable(sent: false)))
        }
    }

    /// A script Redis no longer has: every script is loaded again first (one that a
    /// retry cached must not let a later call of it overtake an earlier call of
    /// another still missing: a leave running before its join would leave a ghost
    /// member), then this call goes again as EVAL. Calls made meanwhile wait until
    /// every command sent before the first NOSCRIPT is answered (each of those that
    /// failed is sent again from its reply, in order), then go in the order they
    /// were made.
    private func retry(
        _ call: RedisArgs, script: LuaScript, _ done: @escaping (Result<RedisValue, StoreFailure>) -> Void
    ) {
        if !recovery.holding {
            recovery.holding = true
            recovery.until = recovery.sent
            for words in LuaScript.loadCommands {
                var load = RedisArgs()
                for w in words { load.add(w) }
                transmit(load, script: nil) { _ in }
            }
        }
        var eval = RedisArgs()
        eval.add("EVAL")
        eval.add(script.source)
        call.withArguments(from: 2) { eval.add($0) }
        transmit(eval, script: nil, done)
    }

    /// Sends the calls held during a recovery once its turn is over.
    private func releaseHeld() {
        guard recovery.holding, recovery.answered >= recovery.until else { return }
        recovery.holding = false
        let held = recovery.held
        recovery.held = []
        for h in held {
            inFlight -= 1
            send(h.call, script: h.script, h.done)
        }
    }
}

/// The state of a NOSCRIPT recovery (ChatStore.retry): commands sent and answered,
/// and the calls held until every command sent before it began is answered.
struct Recovery {
    struct Held {
        var call: RedisArgs
        var script: LuaScript?
        var done: (Result<RedisValue, StoreFailure>) -> Void
    }
    var sent: UInt64 = 0
    var answered: UInt64 = 0
    var holding = false
    /// `sent` when the recovery began.
    var until: UInt64 = 0
    var held: [Held] = []
}

/// What every script that appends to a channel's stream is told besides its keys.
struct StreamLimits: Equatable {
    /// MAXLEN ~ of the stream.
    var maxlen: Int
    /// HISTORY_MAX_AGE, CHANNEL_TTL, PROTECTED_CHANNEL_TTL in ms (0 = none / forever).
    var maxAgeMillis: Int
    var ttlMillis: Int
    var protectedTTLMillis: Int

    /// ARGV 1-5 of publish, join and leave: topic, maxlen, max age, ttl, protected ttl.
    func add(topic: [UInt8], to args: inout RedisArgs) {
        args.add(topic)
        args.add(maxlen)
        args.add(maxAgeMillis)
        args.add(ttlMillis)
        args.add(protectedTTLMillis)
    }
}
