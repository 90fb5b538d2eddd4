import ChatCore
import EventIO

/// The HTTP API's channel passwords.
extension APIHandlers {
    /// `PUT /api/channels/NAME {"password": "..." | null}` (checked by
    /// `APIRequests.password`): protects a channel (or changes its password), or opens
    /// it again with null. The hash is made on the hasher's thread. This instance keeps
    /// the new hash for a channel it has members in at once (written back if Redis
    /// loses the channel's settings: fail closed); the others learn it from Redis
    /// within a round of `relistChannels`.
    func setPassword(_ conn: Connection, _ name: String, _ body: [UInt8]) {
        let password: String?
        switch APIRequests.password(body) {
        case .failure(let error): return apiError(conn, error)
        case .success(let p): password = p
        }
        let keys = ChannelKeys(prefix: settings.redisPrefix, tag: name)
        let done: (Bool) -> Void = { [unowned self] protected in
            self.apiJSON(conn) { o in
                o.field("channel", name)
                o.field("protected", protected)
            }
        }
        guard let password else {
            store.setPassword(keys, channel: name, hash: "") { [unowned self] ok in
                guard ok else { return self.unavailable(conn) }
                self.hub.keepPassword("", channel: name)
                done(false)
            }
            return
        }
        let accepted = hasher.submit(.hash(password)) { [unowned self] outcome in
            guard case .hashed(let hash?) = outcome else { return self.unavailable(conn) }
            self.store.setPassword(keys, channel: name, hash: hash) { [unowned self] ok in
                guard ok else { return self.unavailable(conn) }
                self.hub.keepPassword(hash, channel: name)
                done(true)
            }
        }
        if !accepted { unavailable(conn) }
    }
}
