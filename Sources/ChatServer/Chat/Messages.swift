import ChatCore

/// Messages and broadcasts: what a member sends goes to Redis, which publishes it to
/// every subscribed worker (`deliver`).
extension ChannelHub {
    func send(_ conn: Connection, _ name: String, text: String, ref: Ref?) {
        guard let m = membership(conn, name) else {
            return fail(conn, .notJoined, "not in channel \(name)", channel: name, ref: ref)
        }
        guard admitBytes(conn, text, channel: name, ref: ref) else { return }
        if m.join.isMember {
            publish(m, text: text, ref: ref)
        } else {
            // Held while joining (published after the join, dropped if it is refused),
            // or refused: the machine decides.
            step(m, .send(JoinMachine.HeldSend(text: text, ref: ref)))
        }
    }

    func publish(_ m: Membership, text: String, ref: Ref?) {
        let conn = m.connection
        let channel = m.channel
        body.removeAll(keepingCapacity: true)
        ServerEvents.appendMessageBody(channel: channel.name, sender: conn.nickname, text: text, to: &body)
        store.publish(channel.keys, body: body) { [unowned self] result in
            switch result {
            case .success: self.stats.published += 1
            case .failure(let failure):
                self.logger.limited(
                    "not_published", .warn, "message not published",
                    [("channel", channel.name), ("error", self.describe(failure))])
                self.fail(conn, .unavailable, Self.notSent("message", failure), channel: channel.name, ref: ref)
            }
        }
    }

    func broadcast(_ conn: Connection, text: String, ref: Ref?) {
        guard settings.allowBroadcast else {
            return fail(conn, .forbidden, "broadcast is disabled on this server", ref: ref)
        }
        guard admitBytes(conn, text, channel: nil, ref: ref) else { return }
        body.removeAll(keepingCapacity: true)
        ServerEvents.appendBroadcastBody(sender: conn.nickname, text: text, to: &body)
        store.publish(globalKeys, body: body) { [unowned self] result in
            switch result {
            case .success: self.stats.published += 1
            case .failure(let failure):
                self.logger.limited(
                    "not_published", .warn, "broadcast not published", [("error", self.describe(failure))])
                self.fail(conn, .unavailable, Self.notSent("broadcast", failure), ref: ref)
            }
        }
    }

    /// RATE_LIMIT_BYTES: a message's bytes as stored count against its sender's
    /// allowance (refused: `rate_limited`, the message dropped).
    func admitBytes(_ conn: Connection, _ text: String, channel: String?, ref: Ref?) -> Bool {
        // As stored: the text escaped, and the channel and sender it goes with.
        let size = JSONWriter.escapedLength(text) + (channel?.utf8.count ?? 0) + conn.nickname.utf8.count + 64
        guard conn.admitBytes(size) else {
            stats.rateLimited += 1
            fail(
                conn, .rateLimited,
                "too many bytes of messages: at most \(settings.rateLimitBytes) a second, not sent",
                channel: channel, ref: ref)
            return false
        }
        return true
    }
}
