import ChatCore

/// Leaves: a member that leaves (or whose connection closes), in whatever state its
/// join is, and the leaves Redis has not taken yet (`LeaveQueue`).
extension ChannelHub {
    func leave(_ conn: Connection, _ name: String, ref: Ref?) {
        guard let m = membership(conn, name) else { return fail(conn, .notJoined, "not in channel \(name)", channel: name, ref: ref) }
        detach(m, ack: true, ref: ref)
    }

    func detach(_ m: Membership, ack: Bool, ref: Ref?) {
        removeMembership(m)
        let channel = m.channel
        switch m.state {
        case .waitingForSubscription where ack, .authorizing where ack, .waitingForReplay where ack:
            // The client's leave waits for its join, which goes on (see leaveQueued).
            m.leaveQueued = true
            m.leaveRef = ref
        case .waitingForReplay:
            historyReads.withdraw(m)
            channel.replayWaiters -= 1
            m.state = .gone
            release(channel)
        case .waitingForSubscription:
            channel.waiting.removeAll { $0 === m }
            m.state = .gone
            if ack { m.connection.sendEvent(ServerEvents.left(channel: channel.name, count: nil, ref: ref)) }
            release(channel)
        case .joining:
            // The join's script is on its way to Redis: the leave follows it at once on
            // the same connection, so Redis runs the two in order and a join that comes
            // next (join, leave, join in a row) lands after both. Their replies come in
            // the same order: `joined` (if the join happened), then `left`.
            m.state = .cancelled
            m.ackLeave = ack
            sendLeave(m, ack: ack, ref: ref)
        case .authorizing:
            // The password check finishes on its own and finds the membership gone.
            m.state = .gone
            if ack { m.connection.sendEvent(ServerEvents.left(channel: channel.name, count: nil, ref: ref)) }
        case .active:
            channel.removeMember(m)
            runLeave(m, ack: ack, ref: ref)
            release(channel)
        case .activating:
            channel.stopWaiting(m)
            runLeave(m, ack: ack, ref: ref)
            release(channel)
        case .cancelled, .gone:
            break
        }
    }

    /// Runs the leave script: presence, the leave notice, and the `left` reply.
    func runLeave(_ m: Membership, ack: Bool, ref: Ref?) {
        m.state = .gone
        sendLeave(m, ack: ack, ref: ref)
    }

    func sendLeave(_ m: Membership, ack: Bool, ref: Ref?) {
        let channel = m.channel, conn = m.connection
        let leave = LeaveQueue.Leave(keys: channel.keys, entry: m.entry, folded: m.folded)
        // Behind the leaves already waiting, or when the link cannot take it now: it
        // waits its turn (and the client hears `left` at once).
        guard leaves.isEmpty, store.canSend else {
            queue(leave)
            if ack { conn.sendEvent(ServerEvents.left(channel: channel.name, count: nil, ref: ref)) }
            return
        }
        store.leave(channel.keys, leave.entry, folded: leave.folded, instance: worker.redisID) { [unowned self] result in
            switch result {
            case .success(let appended):
                self.worker.logger.debug("left", [("conn", String(conn.id)), ("channel", channel.name), ("nickname", conn.nickname),
                                                  ("count", String(appended.count ?? 0))])
                if ack { conn.sendEvent(ServerEvents.left(channel: channel.name, count: appended.count, ref: ref)) }
            case .failure(let failure):
                self.worker.logger.limited("leave_failed", .warn, "leave not recorded in redis yet, will retry",
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
            worker.logger.limited("leave_overflow", .error, "leave queue over its bound; the oldest leave was given up")
        }
    }

    /// Sends waiting leaves while the command link takes them: when it is relieved or
    /// ready again, and once a second. One that fails for want of Redis waits again.
    func drainLeaves() {
        leaves.drain { leave in
            guard store.canSend else { return false }
            store.leave(leave.keys, leave.entry, folded: leave.folded, instance: worker.redisID) { [unowned self] result in
                if case .failure(.unavailable) = result { self.queue(leave) }
            }
            return true
        }
    }
}
