import ChatCore
import EventIO

/// The chat: this worker's channel table and what clients ask of it. Every message
/// goes through Redis (ChatStore), even between two members on this worker, so that
/// every member on every instance sees one order. What Redis delivers on the
/// subscriber connection is framed once and appended to each local member's output.
final class ChannelHub {
    /// The end of the turn, the send ring, the connection table, the allowances.
    unowned(unsafe) let runtime: any ChatRuntime
    let settings: ChatSettings
    let logger: Logger
    /// The worker's counters (messages from Redis, published, deliveries, ...).
    let stats: WorkerStats
    /// Channel password hashing and checks, on a thread of its own.
    let hasher: PasswordHasher
    /// How nicknames are compared (reserved names, uniqueness in a channel).
    let nicknameFolding: NicknameFolding
    /// This process's id towards Redis (member-hash fields, leaves, repairs).
    let redisID: String
    let store: ChatStore
    let subscriber: RedisLink
    let globalKeys: ChannelKeys
    var channels: [String: LocalChannel] = [:]
    /// Channels still to be listed again in the directory this round (`relistChannels`).
    var relistQueue: [String] = []
    var globalSubscribed = false
    /// Liveness of the Redis connections (the subscriber's heartbeat).
    var health: SubscriberHealth
    /// Scratch buffer reused for every message sent: one body encoding per message.
    var body: [UInt8] = []
    var subscriptionArgs = RedisArgs()
    /// Numbers joins, for unique member-hash fields.
    var nextJoin: UInt64 = 0
    /// Protected channels whose password this instance wrote back after Redis lost it
    /// (/healthz, /metrics).
    var passwordsRestored = 0
    /// History reads running in Redis, bounded per process and per client.
    let historyReads: HistoryReads
    var replaysDue = false
    /// Leaves Redis has not taken yet (see `LeaveQueue`): never dropped.
    var leaves: LeaveQueue
    /// Channels whose joins wait for the command link to be relieved (backpressure: a
    /// thousand joins released by one subscription must not all go out at once).
    var heldChannels: [LocalChannel] = []
    /// Framing once and the per-turn batches (FanOut/Delivery.swift).
    let delivery: Delivery

    /// `instanceID` names the subscriber's heartbeat topic; `redisID` is this process
    /// towards Redis (the instance id plus a random suffix).
    init(
        settings: ChatSettings, runtime: any ChatRuntime, store: ChatStore, subscriber: RedisLink, stats: WorkerStats,
        logger: Logger, hasher: PasswordHasher, nicknameFolding: NicknameFolding, instanceID: String, redisID: String
    ) {
        self.runtime = runtime
        self.settings = settings
        self.logger = logger
        self.stats = stats
        self.hasher = hasher
        self.nicknameFolding = nicknameFolding
        self.redisID = redisID
        self.store = store
        self.subscriber = subscriber
        self.globalKeys = ChannelKeys.global(prefix: settings.redisPrefix)
        self.health = SubscriberHealth(topic: store.keyspace.heartbeat(instanceID))
        leaves = LeaveQueue(capacity: settings.leaveQueueCapacity)
        historyReads = HistoryReads(limit: settings.historyReads)
        delivery = Delivery(runtime: runtime, stats: stats)
        subscriber.onPush = { [unowned self] reply in self.onPush(reply) }
    }

    var isReady: Bool { store.isAvailable && subscriber.isReady && globalSubscribed }

    // MARK: Client requests

    func handle(_ parsed: Result<ClientRequest, ChatError>, from conn: Connection) {
        // Frames after one that closed the connection (in the same read) do nothing.
        guard conn.isOpenChat else { return }
        let request: ClientRequest
        switch parsed {
        case .failure(let error):
            conn.sendEvent(ServerEvents.error(error))
            return
        case .success(let r): request = r
        }
        switch request.op {
        case .join(let channel, let options): join(conn, channel, options: options, ref: request.ref)
        case .presence(let channel, let cursor): presence(conn, channel, cursor: cursor, ref: request.ref)
        case .leave(let channel): leave(conn, channel, ref: request.ref)
        case .send(let channel, let text):
            guard let target = channel ?? conn.seedChannel else {
                conn.sendEvent(ServerEvents.error(ChatError(.badRequest, "missing \"channel\"", ref: request.ref)))
                return
            }
            send(conn, target, text: text, ref: request.ref)
        case .broadcast(let text): broadcast(conn, text: text, ref: request.ref)
        case .ping: conn.sendEvent(ServerEvents.pong(ref: request.ref))
        }
    }

    func fail(_ conn: Connection, _ code: ErrorCode, _ message: String, channel: String? = nil, ref: Ref?) {
        conn.sendEvent(ServerEvents.error(ChatError(code, message, channel: channel, ref: ref)))
    }

    func membership(_ conn: Connection, _ channel: String) -> Membership? {
        conn.memberships[channel]
    }

    /// Leaves every channel of a connection that is going away (no replies).
    func disconnect(_ conn: Connection) {
        for m in conn.memberships.values { detach(m, ack: false, ref: nil) }
        conn.memberships.removeAll()
        delivery.removeSeedConnection(conn)
    }

    /// A `/chat/join` connection is open: it gets broadcasts with its seed group.
    func addSeedConnection(_ conn: Connection) {
        delivery.addSeedConnection(conn)
    }

    /// End of the turn: every batch to its recipients (`Delivery`).
    func flushBatches() {
        delivery.flushBatches()
    }

    /// What the subscriber connection delivered on a channel's topic or the global one.
    func deliver(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        stats.messagesFromRedis += 1
        if isGlobal(topic) {
            delivery.broadcast(payload)
        } else {
            delivery.deliver(payload, to: channelName(topic).flatMap { channels[$0] })
        }
    }

    /// A password set, changed or removed ("") through the HTTP API: kept at once for a
    /// channel this worker has members in (written back if Redis loses it).
    func keepPassword(_ hash: String, channel name: String) {
        channels[name]?.passwordHash = hash
    }

    func removeMembership(_ m: Membership) {
        if m.connection.memberships[m.channel.name] === m { m.connection.memberships[m.channel.name] = nil }
    }

    /// What a failed publish tells its sender. When Redis stopped answering after the
    /// command went out, Redis may still run it: the message may yet be delivered.
    static func notSent(_ what: String, _ failure: StoreFailure) -> String {
        if case .unavailable(sent: true) = failure {
            return "\(what) not confirmed: chat storage stopped answering, it may still be delivered"
        }
        return "\(what) not sent: chat storage is unavailable"
    }

    func describe(_ failure: StoreFailure) -> String {
        switch failure {
        case .unavailable(sent: true): return "no reply from redis"
        case .unavailable: return "redis unavailable"
        case .refused(let text): return text
        }
    }
}

extension Connection {
    /// The channel of a `/chat/join` connection.
    var seedChannel: String? {
        if case .seed(let channel) = endpoint { return channel }
        return nil
    }
}
