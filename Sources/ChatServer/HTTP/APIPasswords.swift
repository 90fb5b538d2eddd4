import ChatCore
import EventIO

/// The HTTP API's channel passwords.
extension Worker {
    /// `PUT /api/channels/NAME {"password": "..." | null}`: protects a channel (or
    /// changes its password), or opens it again with null.
    func setPassword(_ conn: Connection, _ name: String, _ body: [UInt8]) {
        guard let fields = parseBody(conn, body) else { return }
        let keys = ChannelKeys(prefix: config.redisPrefix, tag: name)
        let done: (Bool) -> Void = { [unowned self] protected in
            self.apiJSON(conn) { o in
                o.field("channel", name)
                o.field("protected", protected)
            }
        }
        switch fields["password"] {
        case .null?:
            hub.store.setPassword(keys, channel: name, hash: "") { [unowned self] ok in
                if ok { done(false) } else { self.unavailable(conn) }
            }
        case .string(let password)? where !password.isEmpty && password.unicodeScalars.count <= JoinOptions.maxPasswordLength
                                            && !password.utf8.contains(0):
            let accepted = hasher.submit(.hash(password)) { [unowned self] outcome in
                guard case .hashed(let hash?) = outcome else { return self.unavailable(conn) }
                self.hub.store.setPassword(keys, channel: name, hash: hash) { [unowned self] ok in
                    if ok { done(true) } else { self.unavailable(conn) }
                }
            }
            if !accepted { unavailable(conn) }
        default:
            apiError(conn, 400, "bad_request", "\"password\" must be a string of 1 to \(JoinOptions.maxPasswordLength) characters, or null")
        }
    }
}
