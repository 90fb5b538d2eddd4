import CLibevent
import ChatCore
import Confusables
import EventIO
import Glibc

/// One worker: one event loop, one listening socket, two Redis connections, its own
/// connection and channel tables. Nothing is shared with other workers or instances
/// except through Redis. The runtime of the process: it accepts sockets, keeps the
/// connection table, runs the end-of-turn phases (`TurnScheduler`) and the
/// once-a-second housekeeping, and is each connection's `ConnectionHost`. Its parts
/// are built and wired by the composition root (App/WorkerAssembly.swift).
final class Worker {
    /// How long a closing connection waits for the peer to read our close and hang up.
    static let lingerMillis: UInt64 = 2_000
    /// Descriptors kept free of WebSocket clients when MAX_CONNECTIONS is automatic: for
    /// the listener, Redis, log files and connections still in their HTTP phase.
    static let descriptorReserve = 256

    let config: Config
    let logger: Logger
    let loop: EventLoop
    let instanceID: String
    /// This process's id towards Redis: INSTANCE_ID plus a random suffix (so that a
    /// restart is a new instance), or the random instance id.
    let redisID: String
    /// Channel password hashing, on a thread of its own.
    private(set) var hasher: PasswordHasher!
    private(set) var registry: InstanceRegistry!
    private(set) var hub: ChannelHub!
    let commands: RedisLink
    let subscriber: RedisLink
    /// Password attempts per client address (PASSWORD_ATTEMPTS a minute).
    private var passwordBuckets: AddressBuckets
    /// Channels created per client address (CHANNEL_CREATE_RATE a minute).
    private var creationBuckets: AddressBuckets
    let httpLimits: HTTPLimits
    /// What an HTTP request gets (paths, methods, the upgrade policy).
    let routing: HTTPRouting
    /// The HTTP API's handlers (the router hands them the API's requests).
    private(set) var api: APIHandlers!
    /// Every connection's timeouts and output limit (its `ConnectionStateMachine`).
    let connectionSettings: ConnectionStateMachine.Settings
    /// How nicknames are compared (reserved names, uniqueness in a channel): with
    /// ICU's confusable skeletons, which ChatCore cannot import itself.
    let nicknameFolding = NicknameFolding(skeleton: Confusables.skeleton)
    let protocolLimits: ProtocolLimits
    let stats = WorkerStats()
    /// One read buffer for every socket: reads are handled to completion before the
    /// next, so idle connections hold no read memory.
    let readBuffer: UnsafeMutableRawBufferPointer
    var table = ConnectionTable()
    /// The end of each loop turn: flushes, batches, replays, reaping.
    let turn: TurnScheduler
    /// MAX_CONNECTIONS, or the descriptor limit minus a reserve when it is 0.
    let connectionLimit: Int
    /// Connections per client address (MAX_HANDSHAKES_PER_ADDRESS, MAX_CONNECTIONS_PER_ADDRESS).
    var addressLimits: AddressLimits
    /// Sockets beyond MAX_CONNECTIONS kept for connections in their HTTP phase (and
    /// those closing), so that /healthz and new clients get in when WebSockets fill
    /// the limit; within the descriptor reserve.
    let socketHeadroom: Int
    /// Admission at the socket limit and per address (`AcceptPolicy`).
    private var accepting: AcceptPolicy
    static let evictionsPerTurn = 16
    var housekeeping: LoopEvent!
    var shutdownPoll: LoopEvent?
    private var signalEvents: [LoopEvent] = []
    var listener: Listener?
    /// WORKER_PORTS: this worker's own port, besides the shared one.
    var ownListener: Listener?
    /// This worker's number under a supervisor (nil for a single process).
    var workerIndex: Int?
    /// The web client (WEB_ROOT), reloaded on SIGHUP.
    var site = StaticSite()
    /// Batched fan-out sends (IO_URING); nil where the kernel does not allow io_uring.
    private(set) var sendRing: IORing?
    var shutdownDeadline: UInt64 = 0
    var isShuttingDown = false
    var unregistered = false

    /// Every connection, in no particular order.
    var connections: ContiguousArray<Connection> { table.all }
    /// Connections in the WebSocket open phase (MAX_CONNECTIONS counts these).
    var openWebSockets: Int { table.openWebSockets }

    init(config: Config, logger: Logger, loop: EventLoop, commands: RedisLink, subscriber: RedisLink) {
        self.config = config
        self.logger = logger
        self.loop = loop
        self.commands = commands
        self.subscriber = subscriber
        instanceID = config.instanceID.isEmpty ? Platform.randomHex(6) : config.instanceID
        redisID = config.instanceID.isEmpty ? instanceID : "\(config.instanceID).\(Platform.randomHex(3))"
        httpLimits = HTTPLimits(
            maxHeadBytes: config.maxHeaderBytes, maxRequestLineBytes: min(config.maxHeaderBytes, 4096))
        connectionSettings = ConnectionStateMachine.Settings(
            handshakeTimeoutMillis: UInt64(config.handshakeTimeoutMillis),
            pingIntervalMillis: UInt64(config.pingIntervalMillis),
            pongTimeoutMillis: UInt64(config.pongTimeoutMillis), outputLimit: config.outputBufferLimit,
            lingerMillis: Self.lingerMillis)
        protocolLimits = ProtocolLimits(
            maxMessageLength: config.maxMessageLength, maxMessageBytes: config.maxMessageBytes)
        readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
        passwordBuckets = AddressBuckets(
            rate: Double(config.passwordAttempts) / 60, capacity: Double(config.passwordAttempts))
        creationBuckets = AddressBuckets(
            rate: Double(config.channelCreateRate) / 60, capacity: Double(max(config.channelCreateRate, 1)))
        connectionLimit =
            config.maxConnections > 0
            ? config.maxConnections : max(16, Platform.raiseDescriptorLimit() - Self.descriptorReserve)
        routing = HTTPRouting(
            echoEnabled: config.echoEnabled, allowedOrigins: config.allowedOrigins, connectionLimit: connectionLimit)
        socketHeadroom = min(Self.descriptorReserve * 3 / 4, max(32, connectionLimit / 8))
        accepting = AcceptPolicy(socketLimit: connectionLimit + socketHeadroom, evictionsPerTurn: Self.evictionsPerTurn)
        addressLimits = AddressLimits(
            maxHandshakes: config.maxHandshakesPerAddress, maxWebSockets: config.maxConnectionsPerAddress)
        turn = TurnScheduler(loop: loop)
        housekeeping = LoopEvent(loop, .timer(repeating: true)) { [unowned self] in self.expireDeadlines() }
    }

    /// The chat, its helpers and the HTTP API (the composition root builds them with
    /// this worker).
    func attach(hub: ChannelHub, registry: InstanceRegistry, hasher: PasswordHasher, api: APIHandlers) {
        self.hub = hub
        self.api = api
        self.registry = registry
        self.hasher = hasher
    }

    /// Binds the port and starts connecting to Redis. Throws when the port cannot be bound.
    func start() throws {
        let listener = try Listener(loop: loop, host: config.host, port: config.port, logger: logger)
        self.listener = listener
        listener.start { [unowned self] fd in self.accept(fd) }
        if let workerIndex, config.workerPorts > 0 {
            let own = try Listener(
                loop: loop, host: config.host, port: config.workerPorts + workerIndex, logger: logger)
            ownListener = own
            own.start { [unowned self] fd in self.accept(fd) }
            logger.info(
                "also listening on this worker's own port", [("port", String(config.workerPorts + workerIndex))])
        }
        housekeeping.schedule(milliseconds: 1_000)
        for number in [SIGTERM, SIGINT] {
            signalEvents.append(
                LoopEvent(loop, .signal(number)) { [unowned self] in self.beginShutdown(signal: number) })
        }
        signalEvents.append(
            LoopEvent(loop, .signal(SIGHUP)) { [unowned self] in
                self.logger.reopenFiles()
                self.loadSite()
            })
        loadSite()
        startSendRing()
        commands.start()
        subscriber.start()
        logger.info(
            "listening",
            [
                ("host", config.host), ("port", String(config.port)), ("echo", String(config.echoEnabled)),
                ("max_connections", String(connectionLimit)),
            ])
    }

    private func startSendRing() {
        guard config.ioUring else {
            logger.info("fan-out writes: send() per member (IO_URING=false)")
            return
        }
        var error: Int32 = 0
        sendRing = IORing.make(entries: RingFanOut.entries, error: &error)
        if sendRing != nil {
            logger.info("fan-out writes: io_uring")
        } else {
            logger.info(
                "fan-out writes: send() per member, io_uring unavailable", [("error", Platform.errorText(error))])
        }
    }

    /// The ring failed (the kernel refused a submission): back to send() for good.
    func dropSendRing(_ error: Int32) {
        sendRing = nil
        logger.error(
            "io_uring submission failed; fan-out writes use send() from now on", [("error", Platform.errorText(error))])
    }

    /// Runs the loop until shutdown completes.
    func run() {
        loop.run()
        logger.info(
            "stopped",
            [
                ("connections_opened", String(stats.connectionsOpened)), ("messages_in", String(stats.messagesIn)),
                ("published", String(stats.published)), ("deliveries", String(stats.deliveries)),
            ])
    }

    var isRedisReady: Bool { hub.isReady }

    /// Reads WEB_ROOT into memory (at start and on SIGHUP).
    private func loadSite() {
        guard !config.webRoot.isEmpty else { return }
        let (site, problems) = WebRoot.load(config.webRoot)
        self.site = site
        if site.fileCount == 0 {
            // Nothing to serve: one line with the reason, rather than "loaded" with 0 files.
            for problem in problems.dropLast() { logger.warn("web client: \(problem)", [("web_root", config.webRoot)]) }
            logger.warn("no web client served: \(problems.last ?? "no files")", [("web_root", config.webRoot)])
            return
        }
        for problem in problems { logger.warn("web client: \(problem)", [("web_root", config.webRoot)]) }
        logger.info(
            "web client loaded",
            [
                ("web_root", config.webRoot), ("files", String(site.fileCount)),
                ("bytes", String(site.totalBytes)),
            ])
    }

    // MARK: Connections

    /// Performs what `AcceptPolicy` decides for a new socket: room at the socket limit
    /// (the oldest connection still in its HTTP phase evicted), the address's bound.
    private func accept(_ fd: Int32) {
        let peer = Platform.peerAddress(fd) ?? "?"
        table.pruneHandshaking()
        switch accepting.room(sockets: table.count) {
        case .free:
            break
        case .evictOldest:
            if let oldest = table.popOldestHandshaking() {
                oldest.abort(.evicted, "evicted: the process is at its socket limit")
                accepting.evicted()
            } else {
                return refuseAtSocketLimit(fd)
            }
        case .refuse:
            return refuseAtSocketLimit(fd)
        }
        let admission = AcceptPolicy.admit(
            trustedProxy: config.trustedProxies.trusts(peer), addresses: &addressLimits, key: AddressBuckets.key(peer))
        guard case .admit(let countsHandshake) = admission else {
            stats.acceptsRefused += 1
            logger.limited(
                "address_handshakes", .info,
                "connection refused: too many connections in their HTTP phase from one address",
                [("address", peer), ("limit", String(config.maxHandshakesPerAddress))])
            Glibc.close(fd)
            return
        }
        let conn = Connection(
            id: table.nextID(), fd: fd, peerAddress: peer, host: self, countsHandshake: countsHandshake)
        table.add(conn)
        stats.connectionsOpened += 1
    }

    private func refuseAtSocketLimit(_ fd: Int32) {
        stats.acceptsRefused += 1
        logger.limited(
            "socket_limit", .warn, "connection refused: socket limit reached",
            [("limit", String(accepting.socketLimit))])
        Glibc.close(fd)
    }

    /// Runs the end-of-turn phases (`TurnScheduler`) at the end of this turn.
    func scheduleEndOfTurn() { turn.schedule() }

    /// End-of-turn phase 0: the turn's counters start over.
    func turnStarted() { accepting.turnStarted() }

    /// End-of-turn reaping: a closed connection leaves the table and frees its socket.
    func remove(_ conn: Connection) {
        stats.closes[conn.closeReason ?? .clientGone, default: 0] += 1
        table.remove(conn)
        conn.destroy()
    }

    /// End-of-turn last phase.
    func turnEnded() {
        if isShuttingDown { checkShutdownDone() }
    }

    /// Once a second: Redis health, counts, queued leaves, the instance registry, and
    /// each connection's deadlines and heartbeat (`Connection.tick`).
    private func expireDeadlines() {
        let now = Platform.monotonicMillis()
        table.pruneHandshaking()
        hub.checkRedis(now: now, timeoutMillis: UInt64(config.redisTimeoutMillis))
        hub.publishCounts()
        hub.drainLeaves()
        if !isShuttingDown { registry.tick(now: now) }
        for conn in connections { conn.tick(now: now) }
    }

    /// Whether a client may create a channel now (CHANNEL_CREATE_RATE a minute per
    /// client address).
    func allowChannelCreation(_ conn: Connection) -> Bool {
        config.channelCreateRate == 0 || creationBuckets.take(conn.clientAddress, now: Platform.monotonicMillis())
    }

    /// Whether a client may try a channel password now (PASSWORD_ATTEMPTS a minute per
    /// client address, so reconnecting does not reset it).
    func allowPasswordAttempt(_ conn: Connection) -> Bool {
        passwordBuckets.take(conn.clientAddress, now: Platform.monotonicMillis())
    }
}
