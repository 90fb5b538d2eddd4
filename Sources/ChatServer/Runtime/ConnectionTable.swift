/// This worker's connections: the table (removal swaps the last one in, by
/// `tableIndex`), their ids, the open WebSocket count, and the accept-order queue of
/// those still in their HTTP phase (the oldest makes room at the socket limit).
struct ConnectionTable {
    private(set) var all: ContiguousArray<Connection> = []
    /// Connections in the WebSocket open phase (MAX_CONNECTIONS counts these).
    var openWebSockets = 0
    /// Connections in accept order, pruned from the front as they upgrade or close.
    private var handshaking = FrontQueue<Connection>()
    private var lastID: UInt64 = 0

    var count: Int { all.count }

    /// The id for the next accepted connection.
    mutating func nextID() -> UInt64 {
        lastID += 1
        return lastID
    }

    mutating func add(_ conn: Connection) {
        conn.tableIndex = all.count
        all.append(conn)
        handshaking.append(conn)
    }

    /// Takes a torn-down connection out of the table.
    mutating func remove(_ conn: Connection) {
        let index = conn.tableIndex
        let last = all.removeLast()
        if index < all.count {
            all[index] = last
            last.tableIndex = index
        }
    }

    /// Drops connections no longer in their HTTP phase from the front of the queue.
    mutating func pruneHandshaking() {
        while let first = handshaking.first, first.phase != .http { _ = handshaking.popFirst() }
    }

    /// The oldest connection still in its HTTP phase, taken off the queue.
    mutating func popOldestHandshaking() -> Connection? {
        while let oldest = handshaking.popFirst() {
            if oldest.phase == .http { return oldest }
        }
        return nil
    }
}
