/// Connections per client address (IPv6: per /64), so that one address cannot take a
/// process's capacity: at most MAX_HANDSHAKES_PER_ADDRESS connections still in their
/// HTTP phase (more are closed at accept) and MAX_CONNECTIONS_PER_ADDRESS open
/// WebSockets (more upgrades get 429). Trusted proxies (TRUSTED_PROXIES) are not held
/// to the handshake bound — their clients are counted by the address they forward.
/// An address's entry lives while it has a connection.
public struct AddressLimits: Sendable {
    struct Load: Sendable {
        var handshaking: Int32 = 0
        var websockets: Int32 = 0
    }

    public let maxHandshakes: Int
    public let maxWebSockets: Int
    private var load: [String: Load] = [:]

    public init(maxHandshakes: Int, maxWebSockets: Int) {
        self.maxHandshakes = maxHandshakes
        self.maxWebSockets = maxWebSockets
    }

    public var addresses: Int { load.count }

    /// A new connection from `key` in its HTTP phase, unless the address has too many.
    public mutating func admitHandshake(_ key: String) -> Bool {
        guard maxHandshakes == 0 || load[key, default: Load()].handshaking < maxHandshakes else { return false }
        load[key, default: Load()].handshaking += 1
        return true
    }

    public mutating func handshakeDone(_ key: String) { change(key) { $0.handshaking -= 1 } }

    /// A WebSocket for `key`, unless the address has MAX_CONNECTIONS_PER_ADDRESS.
    public mutating func admitWebSocket(_ key: String) -> Bool {
        guard maxWebSockets == 0 || load[key, default: Load()].websockets < maxWebSockets else { return false }
        load[key, default: Load()].websockets += 1
        return true
    }

    public mutating func webSocketClosed(_ key: String) { change(key) { $0.websockets -= 1 } }

    private mutating func change(_ key: String, _ body: (inout Load) -> Void) {
        guard var entry = load[key] else { return }
        body(&entry)
        load[key] = entry.handshaking <= 0 && entry.websockets <= 0 ? nil : entry
    }
}
