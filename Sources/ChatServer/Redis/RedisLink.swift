import CHiredis
import CLibevent
import EventIO
import Glibc

/// Where and how to reach Redis.
struct RedisEndpoint {
    var host: String
    var port: Int
    var password: String
    var database: Int
}

/// A reply handler for one command: retained while the command is in flight and
/// released after hiredis calls back (it calls every pending callback exactly
/// once, with a nil reply when the connection goes away).
final class RedisCallback {
    let body: (RedisReply?) -> Void
    unowned(unsafe) let link: RedisLink
    init(_ body: @escaping (RedisReply?) -> Void, link: RedisLink) {
        self.body = body
        self.link = link
    }
}

/// One hiredis async connection on the worker's event base, kept alive: it
/// reconnects with capped exponential backoff, and on every (re)connect runs AUTH
/// and SELECT before it reports itself ready. Redis going away is an event, never
/// a crash.
final class RedisLink {
    let role: String
    private let endpoint: RedisEndpoint
    private let loop: EventLoop
    private let logger: Logger
    /// The subscriber connection never sends SELECT: Pub/Sub ignores databases.
    private let selectsDatabase: Bool
    private var context: UnsafeMutablePointer<redisAsyncContext>?
    /// The context's event hooks (owned by hiredis, released when it frees the context).
    private weak var events: RedisEvents?
    private(set) var isReady = false
    private var retryTimer: LoopEvent!
    private var backoffMillis = 0
    private(set) var reconnects = 0
    private var wasEverReady = false
    private var isClosed = false
    private var lastFailure = ""
    /// Send times of the commands in flight, oldest first: Redis answers in order,
    /// so the oldest tells whether the connection is stalled.
    private var sentAt = FrontQueue<(at: UInt64, bytes: Int)>()
    /// Bytes of the commands in flight (their arguments).
    private(set) var bytesInFlight = 0
    /// Backpressure: with `congestionCommands` commands or `congestionBytes` bytes in
    /// flight the link is congested (the worker stops reading from chat clients and
    /// holds leaves back); it is relieved, and says so through `onRelieved`, once both
    /// are back under half.
    private(set) var isCongested = false
    /// How many times the link became congested (for /metrics).
    private(set) var congestions: UInt64 = 0
    static let congestionCommands = 10_000
    static let congestionBytes = 32 << 20
    /// SUBSCRIBE/UNSUBSCRIBE topics sent and not confirmed yet: a Redis that stalls
    /// shows in `oldestWait` on the subscriber link too, so a join waiting for its
    /// channel's subscription fails after REDIS_TIMEOUT instead of waiting for Redis.
    private var subscriptionsSentAt = FrontQueue<UInt64>()
    /// When the last reply or push arrived: a busy Redis (or a busy worker) still makes
    /// progress, and only a connection without any for REDIS_TIMEOUT is stalled.
    private(set) var lastHeard: UInt64 = 0
    /// Commands after the connection's setup (e.g. SCRIPT LOAD), run before ready.
    private let extraSetup: [[String]]

    /// Called when the link becomes ready (after AUTH/SELECT), each time.
    var onReady: (() -> Void)?
    /// Called when a ready link is lost.
    var onDown: (() -> Void)?
    /// Callback for subscription replies (messages and (un)subscribe confirmations).
    var onPush: ((RedisReply) -> Void)?
    /// Called when a congested link is relieved (or drops, which ends the congestion).
    var onRelieved: (() -> Void)?

    static let initialBackoffMillis = 100
    static let maxBackoffMillis = 5_000
    /// Commands in flight at most; past it sends fail (callers answer `unavailable`)
    /// instead of queueing without bound while Redis is slow.
    static let maxInFlight = 100_000

    init(
        role: String, endpoint: RedisEndpoint, selectsDatabase: Bool, setup: [[String]] = [], loop: EventLoop,
        logger: Logger
    ) {
        self.role = role
        self.endpoint = endpoint
        self.selectsDatabase = selectsDatabase
        self.extraSetup = setup
        self.loop = loop
        self.logger = logger
        retryTimer = LoopEvent(loop, .timer(repeating: false)) { [unowned self] in self.connect() }
    }

    func start() { connect() }

    /// Closes the connection for good (shutdown). Pending callbacks get nil.
    func close() {
        isClosed = true
        retryTimer.cancel()
        if let context {
            self.context = nil
            isReady = false
            redisAsyncDisconnect(context)
        }
    }

    private func connect() {
        guard context == nil else { return }
        guard let ac = redisAsyncConnect(endpoint.host, Int32(endpoint.port)) else {
            scheduleRetry("out of memory")
            return
        }
        if ac.pointee.err != 0 {
            let text = ac.pointee.errstr.map { String(cString: $0) } ?? "connect failed"
            redisAsyncFree(ac)
            scheduleRetry(text)
            return
        }
        ac.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        events = RedisEvents.attach(ac, loop: loop)
        redisAsyncSetConnectCallback(ac) { ac, status in
            guard let ac, let data = ac.pointee.data else { return }
            Unmanaged<RedisLink>.fromOpaque(data).takeUnretainedValue().connected(ac, status)
        }
        redisAsyncSetDisconnectCallback(ac) { ac, status in
            guard let ac, let data = ac.pointee.data else { return }
            Unmanaged<RedisLink>.fromOpaque(data).takeUnretainedValue().disconnected(ac, status)
        }
        context = ac
        connectStartedAt = Platform.monotonicMillis()
    }

    private var connectStartedAt: UInt64 = 0

    /// Gives up a TCP connect that has not completed within `timeoutMillis` (a Redis
    /// host that drops packets would otherwise hold it for the kernel's minutes) and
    /// retries. Later stalls (setup, commands) are `reset`'s.
    func expireConnect(now: UInt64, timeoutMillis: UInt64) {
        guard let context, !(events?.connected ?? true), now - min(now, connectStartedAt) > timeoutMillis else {
            return
        }
        // Not connected yet: hiredis calls neither callback when it frees the context.
        self.context = nil
        redisAsyncFree(context)
        scheduleRetry("connect timed out after \(timeoutMillis) ms")
    }

    private func connected(_ ac: UnsafePointer<redisAsyncContext>, _ status: Int32) {
        events?.connected = status == REDIS_OK
        guard status == REDIS_OK else {
            // hiredis frees the context after this callback; no disconnect callback follows.
            let text = ac.pointee.errstr.map { String(cString: $0) } ?? "connect failed"
            context = nil
            scheduleRetry(text)
            return
        }
        var setup: [[String]] = []
        if !endpoint.password.isEmpty { setup.append(["AUTH", endpoint.password]) }
        if selectsDatabase, endpoint.database != 0 { setup.append(["SELECT", String(endpoint.database)]) }
        runSetup((setup + extraSetup)[...])
    }

    /// Sends the setup commands one after another; ready after the last succeeds.
    private func runSetup(_ steps: ArraySlice<[String]>) {
        guard let step = steps.first else {
            becomeReady()
            return
        }
        var args = RedisArgs()
        for word in step { args.add(word) }
        let sent = send(args) { [unowned self] reply in
            guard let reply else { return }
            if reply.isError {
                self.logger.error(
                    "redis setup command refused", [("role", self.role), ("command", step[0]), ("error", reply.text)])
                self.lastFailure = reply.text
                if let context = self.context { redisAsyncDisconnect(context) }
                return
            }
            self.runSetup(steps.dropFirst())
        }
        if !sent, let context { redisAsyncDisconnect(context) }
    }

    private var readySince: UInt64 = 0

    private func becomeReady() {
        isReady = true
        readySince = Platform.monotonicMillis()
        backoffMillis = 0
        if wasEverReady { reconnects += 1 }
        logger.info(
            wasEverReady ? "redis reconnected" : "redis connected",
            [("role", role), ("host", endpoint.host), ("port", String(endpoint.port))])
        wasEverReady = true
        onReady?()
    }

    private func disconnected(_ ac: UnsafePointer<redisAsyncContext>, _ status: Int32) {
        let text = ac.pointee.errstr.map { String(cString: $0) } ?? "closed"
        let wasReady = isReady
        context = nil
        isReady = false
        sentAt.removeAll()
        bytesInFlight = 0
        subscriptionsSentAt.removeAll()
        if isCongested {
            isCongested = false
            onRelieved?()
        }
        guard !isClosed else { return }
        if wasReady {
            logger.error("redis connection lost", [("role", role), ("error", status == REDIS_OK ? "closed" : text)])
            onDown?()
        }
        scheduleRetry(status == REDIS_OK ? (lastFailure.isEmpty ? "closed" : lastFailure) : text)
    }

    private func scheduleRetry(_ reason: String) {
        backoffMillis = backoffMillis == 0 ? Self.initialBackoffMillis : min(backoffMillis * 2, Self.maxBackoffMillis)
        // Log the first failure and then only when the backoff reaches its cap, so an
        // outage does not fill the log.
        if backoffMillis == Self.initialBackoffMillis || backoffMillis == Self.maxBackoffMillis {
            logger.warn(
                "redis unreachable, retrying",
                [
                    ("role", role), ("host", endpoint.host), ("port", String(endpoint.port)),
                    ("error", reason), ("retry_ms", String(backoffMillis)),
                ])
        }
        retryTimer.schedule(milliseconds: backoffMillis)
    }

    /// Commands sent and not answered yet.
    var inFlight: Int { sentAt.count }

    /// Sends a command whose reply goes to `callback` (nil reply if the link drops).
    /// Returns false, without calling back, when there is no connection or too many
    /// commands are already waiting.
    @discardableResult
    func send(_ args: RedisArgs, _ callback: @escaping (RedisReply?) -> Void) -> Bool {
        guard let context, inFlight < Self.maxInFlight else { return false }
        let box = Unmanaged.passRetained(RedisCallback(callback, link: self)).toOpaque()
        let status = args.withArgv { argc, argv, lengths in
            redisAsyncCommandArgv(
                context,
                { _, reply, privdata in
                    let callback = Unmanaged<RedisCallback>.fromOpaque(privdata!).takeRetainedValue()
                    callback.link.answered()
                    callback.body(reply.map { RedisReply(raw: $0.assumingMemoryBound(to: redisReply.self)) })
                }, box, argc, argv, lengths)
        }
        if status != REDIS_OK {
            Unmanaged<RedisCallback>.fromOpaque(box).release()
            return false
        }
        sentAt.append((Platform.monotonicMillis(), args.storage.count))
        bytesInFlight += args.storage.count
        if !isCongested, inFlight >= Self.congestionCommands || bytesInFlight >= Self.congestionBytes {
            isCongested = true
            congestions += 1
        }
        return true
    }

    /// Whether a command can go out now without adding to a congestion.
    var canSend: Bool { isReady && !isCongested }

    private func answered() {
        lastHeard = Platform.monotonicMillis()
        if let sent = sentAt.popFirst() { bytesInFlight -= sent.bytes }
        if isCongested, inFlight <= Self.congestionCommands / 2, bytesInFlight <= Self.congestionBytes / 2 {
            isCongested = false
            onRelieved?()
        }
    }

    /// Milliseconds the oldest command in flight has waited (0 when none).
    func oldestWait(now: UInt64) -> UInt64 {
        let oldest = min(sentAt.first?.at ?? now, subscriptionsSentAt.first ?? now)
        return now - min(now, oldest)
    }

    /// Milliseconds since anything arrived on this connection.
    func silence(now: UInt64) -> UInt64 { now - min(now, max(lastHeard, readySince)) }

    /// Drops a connection that stopped answering (a stalled or vanished Redis, which
    /// TCP alone may not notice for minutes): pending callbacks get nil, and the
    /// usual reconnect follows.
    func reset(_ reason: String) {
        guard let context else { return }
        logger.error("redis not answering, reconnecting", [("role", role), ("reason", reason)])
        lastFailure = reason
        redisAsyncFree(context)
    }

    /// Sends SUBSCRIBE or UNSUBSCRIBE; replies and messages go to `onPush`.
    @discardableResult
    func sendSubscription(_ args: RedisArgs) -> Bool {
        guard let context, isReady else { return false }
        let status = args.withArgv { argc, argv, lengths in
            redisAsyncCommandArgv(
                context,
                { ac, reply, _ in
                    guard let ac, let reply, let data = ac.pointee.data else { return }
                    let link = Unmanaged<RedisLink>.fromOpaque(data).takeUnretainedValue()
                    link.lastHeard = Platform.monotonicMillis()
                    let push = RedisReply(raw: reply.assumingMemoryBound(to: redisReply.self))
                    if push.count >= 1, push[0].equals("subscribe") || push[0].equals("unsubscribe") {
                        _ = link.subscriptionsSentAt.popFirst()
                    }
                    link.onPush?(push)
                }, nil, argc, argv, lengths)
        }
        guard status == REDIS_OK else { return false }
        let now = Platform.monotonicMillis()
        for _ in 1..<max(args.count, 2) { subscriptionsSentAt.append(now) }  // one confirmation per topic
        return true
    }
}
