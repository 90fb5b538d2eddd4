import ChatCore

/// History reads running in Redis at once, bounded per process (HISTORY_READS) and per
/// client: a WebSocket connection runs one join with a replay at a time (its other joins
/// with `since`/`history` wait, in order), and an HTTP client address two history
/// requests. Joins wait for a slot rather than fail (a reconnecting web client rejoins
/// every channel with `since` at once); HTTP requests over the bound get 503/429.
///
/// Connections whose next replay waits only for a process slot queue up in order, so
/// one client with fifty channels cannot starve the others.
final class HistoryReads {
    let limit: Int
    static let perConnection = 1
    static let perAddress = 2
    private(set) var running = 0
    /// Connections with a replay waiting and none running, in the order they came.
    private var ready = FrontQueue<Connection>()
    /// HTTP history requests running, per client address (entries removed at zero).
    private var byAddress: [String: Int] = [:]

    init(limit: Int) { self.limit = max(limit, 1) }

    var isFull: Bool { running >= limit }

    /// Takes a slot for a join's replay now (true), or queues it (false: `next` hands it
    /// out later).
    func admit(_ m: Membership) -> Bool {
        let conn = m.connection
        if conn.replaysRunning < Self.perConnection && conn.replaysWaiting.isEmpty && !isFull {
            take(m)
            return true
        }
        conn.replaysWaiting.append(m)
        enqueue(conn)
        return false
    }

    private func take(_ m: Membership) {
        running += 1
        m.connection.replaysRunning += 1
        m.holdsReplaySlot = true
    }

    private func enqueue(_ conn: Connection) {
        guard !conn.replayQueued, conn.replaysRunning < Self.perConnection else { return }
        conn.replayQueued = true
        ready.append(conn)
    }

    /// A waiting join that is not going on (its connection closed): out of the queue.
    func withdraw(_ m: Membership) {
        m.connection.replaysWaiting.removeAll { $0 === m }
    }

    /// A join's replay is done (answered or failed): its slot goes to the next waiting.
    func finished(_ m: Membership) {
        guard m.holdsReplaySlot else { return }
        m.holdsReplaySlot = false
        running -= 1
        let conn = m.connection
        conn.replaysRunning -= 1
        if !conn.replaysWaiting.isEmpty { enqueue(conn) }
    }

    /// The joins that may start now, each holding its slot, in order.
    func next() -> [Membership] {
        var started: [Membership] = []
        while !isFull, let conn = ready.popFirst() {
            conn.replayQueued = false
            guard conn.replaysRunning < Self.perConnection, !conn.replaysWaiting.isEmpty else { continue }
            let m = conn.replaysWaiting.removeFirst()
            take(m)
            started.append(m)
            if !conn.replaysWaiting.isEmpty { enqueue(conn) }
        }
        return started
    }

    /// An HTTP history request from `address` may read now (its slot is taken), or the
    /// reason it may not.
    enum Refusal { case busy, perAddress }

    func admitRequest(from address: String) -> Refusal? {
        if isFull { return .busy }
        if byAddress[address, default: 0] >= Self.perAddress { return .perAddress }
        byAddress[address, default: 0] += 1
        running += 1
        return nil
    }

    func requestFinished(from address: String) {
        running -= 1
        let left = byAddress[address, default: 1] - 1
        byAddress[address] = left > 0 ? left : nil
    }
}
