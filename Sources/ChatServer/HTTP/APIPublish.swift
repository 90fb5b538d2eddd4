import ChatCore
import EventIO

/// The HTTP API's publish and broadcast (an application backend's messages).
extension Worker {
    /// `POST /api/publish {"channel","message","sender"?}` and `POST /api/broadcast
    /// {"message","sender"?}`: the message goes through Redis like a client's (history,
    /// every instance); `sender` defaults to `System` and may be a reserved name.
    func publish(_ conn: Connection, _ body: [UInt8], toEveryone: Bool) {
        guard let fields = parseBody(conn, body) else { return }
        guard case .string(let text)? = fields["message"] else { return apiError(conn, 400, "bad_request", "\"message\" must be a string") }
        if let (code, why) = protocolLimits.check(text) { return apiError(conn, 400, code.rawValue, why) }
        var sender = "System"
        switch fields["sender"] {
        case nil, .null?: break
        case .string(let s)?:
            // The backend may sign as a reserved name: the syntax rules still apply.
            let trimmed = s.trimmingWhitespace()
            if case .failure(let v) = Names.nicknameSyntax(trimmed) {
                return apiError(conn, 400, "invalid_nickname", v.message)
            }
            sender = trimmed
        default: return apiError(conn, 400, "bad_request", "\"sender\" must be a string")
        }
        var event: [UInt8] = []
        let keys: ChannelKeys
        var channelName = ""
        if toEveryone {
            ServerEvents.appendBroadcastBody(sender: sender, text: text, to: &event)
            keys = ChannelKeys.global(prefix: config.redisPrefix)
        } else {
            guard case .string(let raw)? = fields["channel"] else { return apiError(conn, 400, "bad_request", "\"channel\" must be a string") }
            guard case .success(let name) = Names.channel(raw) else { return apiError(conn, 400, "invalid_channel", "invalid channel name") }
            channelName = name
            ServerEvents.appendMessageBody(channel: name, sender: sender, text: text, to: &event)
            keys = ChannelKeys(prefix: config.redisPrefix, tag: name)
        }
        hub.store.publish(keys, body: event) { [unowned self] result in
            switch result {
            case .failure: self.unavailable(conn)
            case .success(let appended):
                self.stats.published += 1
                self.apiJSON(conn) { o in
                    o.field("id", appended.id)
                    if !toEveryone { o.field("channel", channelName) }
                }
            }
        }
    }
}
