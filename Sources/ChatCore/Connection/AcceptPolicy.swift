/// Admission of accepted sockets. Every socket counts against the process's socket
/// limit (MAX_CONNECTIONS plus a headroom for connections in their HTTP phase and
/// those closing): past it, the oldest connection still in its HTTP phase makes room
/// (an idle one holds a slot for at most HANDSHAKE_TIMEOUT anyway), at most
/// `evictionsPerTurn` a loop turn (an evicted socket closes at the end of the turn, so
/// this keeps the extra descriptors within the reserve); with none, the new socket is
/// closed. One address holds at most MAX_HANDSHAKES_PER_ADDRESS connections in their
/// HTTP phase; a trusted proxy is not held to that bound.
public struct AcceptPolicy: Sendable {
    /// Sockets the process keeps open at most (MAX_CONNECTIONS plus the headroom).
    public let socketLimit: Int
    public let evictionsPerTurn: Int
    public private(set) var evictionsThisTurn = 0

    public init(socketLimit: Int, evictionsPerTurn: Int = 16) {
        self.socketLimit = socketLimit
        self.evictionsPerTurn = evictionsPerTurn
    }

    public enum Room: Equatable, Sendable {
        /// Under the limit.
        case free
        /// At the limit: evict the oldest connection still in its HTTP phase
        /// (`evicted()`), or refuse if there is none.
        case evictOldest
        /// At the limit with this turn's evictions spent: close the new socket.
        case refuse
    }

    public enum Admission: Equatable, Sendable {
        /// Accept; `countsHandshake` when the address's handshake count was taken.
        case admit(countsHandshake: Bool)
        /// The address has MAX_HANDSHAKES_PER_ADDRESS connections in their HTTP phase.
        case refuse
    }

    /// Room for one more socket when `sockets` are open.
    public func room(sockets: Int) -> Room {
        guard sockets >= socketLimit else { return .free }
        return evictionsThisTurn < evictionsPerTurn ? .evictOldest : .refuse
    }

    /// A connection was evicted to make room.
    public mutating func evicted() { evictionsThisTurn += 1 }

    /// A new loop turn: evictions start over.
    public mutating func turnStarted() { evictionsThisTurn = 0 }

    /// The address's handshake bound (`key`: `AddressBuckets.key` of the peer).
    public static func admit(trustedProxy: Bool, addresses: inout AddressLimits, key: String) -> Admission {
        if trustedProxy { return .admit(countsHandshake: false) }
        return addresses.admitHandshake(key) ? .admit(countsHandshake: true) : .refuse
    }
}
