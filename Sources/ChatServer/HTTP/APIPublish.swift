import ChatCore
import EventIO

/// The HTTP API's publish and broadcast (an application backend's messages).
extension APIHandlers {
    /// `POST /api/publish {"channel","message","sender"?}` and `POST /api/broadcast
    /// {"message","sender"?}` (checked by `APIRequests.publish`): the message goes
    /// through Redis like a client's (history, every instance).
    func publish(_ conn: Connection, _ body: [UInt8], toEveryone: Bool) {
        let message: APIRequests.Publish
        switch APIRequests.publish(body, toEveryone: toEveryone, limits: protocolLimits) {
        case .failure(let error): return apiError(conn, error)
        case .success(let m): message = m
        }
        var event: [UInt8] = []
        let keys: ChannelKeys
        if let name = message.channel {
            ServerEvents.appendMessageBody(channel: name, sender: message.sender, text: message.text, to: &event)
            keys = ChannelKeys(prefix: settings.redisPrefix, tag: name)
        } else {
            ServerEvents.appendBroadcastBody(sender: message.sender, text: message.text, to: &event)
            keys = ChannelKeys.global(prefix: settings.redisPrefix)
        }
        store.publish(keys, body: event) { [unowned self] result in
            switch result {
            case .failure: self.unavailable(conn)
            case .success(let appended):
                self.stats.published += 1
                self.apiJSON(conn) { o in
                    o.field("id", appended.id)
                    if let name = message.channel { o.field("channel", name) }
                }
            }
        }
    }
}
