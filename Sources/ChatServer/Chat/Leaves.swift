import ChatCore

/// Leaves: a member that leaves (or whose connection closes), in whatever state its
/// join is, and the leaves Redis has not taken yet (`LeaveQueue`).
extension ChannelHub {
    func leave(_ conn: Connection, _ name: String, ref: Ref?) {
        guard let m = membership(conn, name) else {
            return fail(conn, .notJoined, "not in channel \(name)", channel: name, ref: ref)
        }
        detach(m, ack: true, ref: ref)
    }

    /// The client left (`ack`: it gets `left` with `ref`) or its connection is going
    /// away: out of the connection's channels now, and the join's machine says what
    /// else, in whatever state the join is (JoinMachine, `leave`).
    func detach(_ m: Membership, ack: Bool, ref: Ref?) {
        removeMembership(m)
        step(m, .leave(ack: ack, ref: ref))
        release(m.channel)
    }

    /// Runs the leave script: presence, the leave notice, and the `left` reply. A leave
    /// of a join whose script is in flight goes right behind it on the same connection,
    /// so Redis runs the two in order and a join that comes next (join, leave, join in
    /// a row) lands after both; their replies come in the same order.
    func sendLeave(_ m: Membership, ack: Bool, ref: Ref?) {
        let channel = m.channel
        let conn = m.connection
        let leave = LeaveQueue.Leave(keys: channel.keys, entry: m.entry, folded: m.folded)
        // Behind the leaves already waiting, or when the link cannot take it now: it
        // waits its turn (and the client hears `left` at once).
        guard leaves.isEmpty, store.canSend else {
            queue(leave)
            if ack { conn.sendEvent(ServerEvents.left(channel: channel.name, count: nil, ref: ref)) }
            return
        }
        store.leave(channel.keys, leave.entry, folded: leave.folded, instance: redisID) {
            [unowned self] result in
            switch result {
            case .success(let appended):
                self.logger.debug(
                    "left",
                    [
                        ("conn", String(conn.id)), ("channel", channel.name), ("nickname", conn.nickname),
                        ("count", String(appended.count ?? 0)),
                    ])
                if ack { conn.sendEvent(ServerEvents.left(channel: channel.name, count: appended.count, ref: ref)) }
            case .failure(let failure):
                self.logger.limited(
                    "leave_failed", .warn, "leave not recorded in redis yet, will retry",
                    [("channel", channel.name), ("nickname", conn.nickname), ("error", self.describe(failure))])
                if case .unavailable = failure { self.queue(leave) }
                if ack { conn.sendEvent(ServerEvents.left(channel: channel.name, count: nil, ref: ref)) }
            }
        }
    }

    /// Makes sure the member hash does not keep a membership whose join or leave may
    /// or may not have happened (a removal that finds nothing is a no-op).
    func queueLeave(_ m: Membership) {
        queue(LeaveQueue.Leave(keys: m.channel.keys, entry: m.entry, folded: m.folded))
        drainLeaves()
    }

    func queue(_ leave: LeaveQueue.Leave) {
        if !leaves.append(leave) {
            logger.limited("leave_overflow", .error, "leave queue over its bound; the oldest leave was given up")
        }
    }

    /// Sends waiting leaves while the command link takes them: when it is relieved or
    /// ready again, and once a second. One that fails for want of Redis waits again.
    func drainLeaves() {
        leaves.drain { leave in
            guard store.canSend else { return false }
            store.leave(leave.keys, leave.entry, folded: leave.folded, instance: redisID) {
                [unowned self] result in
                if case .failure(.unavailable) = result { self.queue(leave) }
            }
            return true
        }
    }
}
