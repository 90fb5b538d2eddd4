import ChatCore
import EventIO

/// Everything a `Connection` reaches beyond its own socket: the loop and the settings
/// it is made with, the end-of-turn work (flush, hold, reap), the per-address and
/// open-WebSocket accounting, the HTTP router and the chat. Narrow on purpose: a
/// connection does not see the worker's tables, Redis links or other parts.
protocol ConnectionHost: AnyObject {
    var loop: EventLoop { get }
    var logger: Logger { get }
    var stats: WorkerStats { get }
    var connectionSettings: ConnectionStateMachine.Settings { get }
    var httpLimits: HTTPLimits { get }
    var protocolLimits: ProtocolLimits { get }
    /// One read buffer for every socket (reads are handled to completion).
    var readBuffer: UnsafeMutableRawBufferPointer { get }
    var nicknameFolding: NicknameFolding { get }
    /// The Redis command link has too much in flight: chat clients are not read.
    var isRedisCongested: Bool { get }
    /// RATE_LIMIT (messages a second; for the refusal's text).
    var messageRate: Double { get }
    /// A chat connection's message limiter (nil when RATE_LIMIT is 0).
    func makeRateLimiter(now: UInt64) -> MessageRateLimiter?

    /// The connection has output for the end-of-turn flush.
    func markDirty(_ conn: Connection)
    /// Its reading waits until Redis is relieved (`Connection.release`).
    func hold(_ conn: Connection)
    /// Its socket is freed at the end of the turn.
    func reap(_ conn: Connection)
    func webSocketOpened()
    func webSocketClosed()
    /// The address's handshake count (taken at accept) is given back.
    func releaseHandshake(peerAddress: String)
    /// The address's WebSocket count (taken at the upgrade) is given back.
    func releaseWebSocket(clientAddress: String)

    /// A complete HTTP request (and its body).
    func route(_ conn: Connection, _ request: HTTPRequest, body: [UInt8])
    /// A chat message, parsed.
    func chat(_ request: Result<ClientRequest, ChatError>, from conn: Connection)
    /// The connection leaves every channel (closing or gone).
    func leaveAll(_ conn: Connection)
}

extension Worker: ConnectionHost, ChatRuntime {
    var isRedisCongested: Bool { commands.isCongested }
    var messageRate: Double { config.rateLimit }

    func makeRateLimiter(now: UInt64) -> MessageRateLimiter? {
        guard config.rateLimit > 0 else { return nil }
        return MessageRateLimiter(
            rate: config.rateLimit, burst: Double(config.rateBurst), bytesPerSecond: Double(config.rateLimitBytes),
            now: now)
    }

    func markDirty(_ conn: Connection) { turn.markDirty(conn) }
    func hold(_ conn: Connection) { turn.hold(conn) }
    func reap(_ conn: Connection) { turn.reap(conn) }
    func webSocketOpened() { table.openWebSockets += 1 }
    func webSocketClosed() { table.openWebSockets -= 1 }
    func releaseHandshake(peerAddress: String) { addressLimits.handshakeDone(AddressBuckets.key(peerAddress)) }
    func releaseWebSocket(clientAddress: String) { addressLimits.webSocketClosed(AddressBuckets.key(clientAddress)) }
    func chat(_ request: Result<ClientRequest, ChatError>, from conn: Connection) { hub.handle(request, from: conn) }
    func leaveAll(_ conn: Connection) { hub.disconnect(conn) }
}
