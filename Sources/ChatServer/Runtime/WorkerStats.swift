import ChatCore

/// Counters of one worker, exported on /metrics (see `Metrics.swift`). A class: the
/// worker and every connection share one, and a connection counts straight into it.
final class WorkerStats {
    var connectionsOpened: UInt64 = 0
    /// Sockets closed at accept (socket limit, too many handshakes from one address).
    var acceptsRefused: UInt64 = 0
    var closes: [CloseReason: UInt64] = [:]
    var upgrades: UInt64 = 0
    var upgradesRefused: UInt64 = 0
    var httpErrors: UInt64 = 0
    var messagesIn: UInt64 = 0
    var published: UInt64 = 0
    var messagesFromRedis: UInt64 = 0
    var deliveries: UInt64 = 0
    var eventsOut: UInt64 = 0
    var slowConsumers: UInt64 = 0
    var rateLimited: UInt64 = 0
    var pings: UInt64 = 0
    var bytesIn: UInt64 = 0
    var bytesOut: UInt64 = 0
    /// Fan-out sends made through the io_uring ring (any result), and its submissions.
    var ringSends: UInt64 = 0
    var ringSubmits: UInt64 = 0
    /// Fan-out sends the socket took only part of (the rest waited in the output buffer).
    var partialWrites: UInt64 = 0
}
