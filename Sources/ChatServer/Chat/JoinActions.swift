import ChatCore

/// What a join's machine (`JoinMachine`) asks for, performed: replies, Redis scripts,
/// the lines it waits in, and its entry into the channel at the seam between replay and
/// live. Actions that need an answer feed it back to the machine (`step`).
extension ChannelHub {
    func perform(_ m: Membership, _ actions: [JoinMachine.Action], _ context: JoinContext?) {
        for action in actions { perform(m, action, context) }
    }

    private func perform(_ m: Membership, _ action: JoinMachine.Action, _ context: JoinContext?) {
        let channel = m.channel
        let conn = m.connection
        switch action {
        case .waitForChannel: waitForChannel(m)
        case .leaveChannelLine: channel.waiting.removeAll { $0 === m }
        case .askHistorySlot: step(m, .historySlot(granted: historyReads.admit(m)))
        case .waitForHistoryTurn: channel.replayWaiters += 1
        case .leaveHistoryLine:
            historyReads.withdraw(m)
            channel.replayWaiters -= 1
        case .releaseHistorySlot: endReplay(m)
        case .runScript(let script): runScript(m, script)
        case .sendLeave(let ack, let ref): sendLeave(m, ack: ack, ref: ref)
        case .proceed: proceed(m)
        case .askPasswordAttempt:
            // Hashing is costly on purpose: checks and new passwords count alike. A few
            // checks at a time per connection, so nobody fills the hashing queue.
            let allowed = runtime.allowPasswordAttempt(conn)
            step(
                m,
                .passwordAttempt(
                    allowed: allowed, checksRunning: conn.memberships.values.count { $0.state == .authorizing }))
        case .askChannelCreation:
            // A new channel lives in Redis for CHANNEL_TTL: one address creates at most
            // CHANNEL_CREATE_RATE a minute (bursts of as many).
            step(m, .channelCreation(allowed: runtime.allowChannelCreation(conn)))
        case .checkPassword(let job): checkPassword(m, job)
        case .forgiveWrongPassword:
            store.forgiveWrongPassword(channel.keys.passwordFailures(AddressBuckets.key(conn.clientAddress)))
        case .rememberPassword(let hash):
            // So that the channel stays protected if Redis loses its settings.
            channel.passwordHash = hash
        case .refuse(let refusal):
            if refusal == .wrongPassword {
                logger.limited(
                    "wrong_password", .info, "wrong channel password",
                    [("channel", channel.name), ("nickname", conn.nickname)])
            }
            removeMembership(m)
            fail(
                conn, refusal.code, refusal.message(channel: channel.name, nickname: conn.nickname),
                channel: channel.name, ref: m.joinRef)
        case .closeSeedConnection(let refusal):
            guard conn.seedChannel != nil else { return }
            if refusal.code == .unavailable {
                conn.close(code: CloseCode.tryAgainLater, reason: "chat unavailable", why: .refused)
            } else {
                conn.close(
                    code: CloseCode.policyViolation,
                    reason: refusal.message(channel: channel.name, nickname: conn.nickname), why: .refused)
            }
        case .dropHeld(let sends):
            // Nothing reaches a channel its sender is not in.
            for q in sends {
                fail(
                    conn, .notJoined, "not sent: not in channel \(channel.name) (the join was refused or left)",
                    channel: channel.name, ref: q.ref)
            }
        case .answerLeft(let ref): conn.sendEvent(ServerEvents.left(channel: channel.name, count: nil, ref: ref))
        case .answerLeftMeanwhile:
            fail(
                conn, .notJoined, "join of \(channel.name) not completed: left meanwhile", channel: channel.name,
                ref: m.joinRef)
        case .answerJoined(let replay):
            guard let context else { return }
            if replay { answerJoined(m, context) } else { acknowledgeJoin(m, context.joined) }
        case .enterFromSeam:
            if let context { enterFromSeam(m, context) }
        case .awaitNotice:
            // Events from before the join may still be on their way: start at the notice.
            if let context { channel.waitForNotice(m, from: context.joinID, notice: context.ownNotice) }
        case .publish(let sends):
            for q in sends { publish(m, text: q.text, ref: q.ref) }
        case .leaveMembers: channel.removeMember(m)
        case .stopActivating: channel.stopWaiting(m)
        case .forgetMember:
            // Without a reply, or after an error part-way, the script may have written:
            // make sure the member hash does not keep this field (a no-op if it did not),
            // now if Redis is there, else once it is back.
            queueLeave(m)
        case .refuseSend(let ref, .overLimit):
            fail(
                conn, .rateLimited,
                "over \(JoinMachine.heldSendLimit) messages sent while channel \(channel.name) is still being joined: "
                    + "this one was dropped",
                channel: channel.name, ref: ref)
        case .refuseSend(let ref, .notJoined):
            fail(conn, .notJoined, "not in channel \(channel.name)", channel: channel.name, ref: ref)
        }
    }

    /// Left (or closed) while joining, and the join happened: acknowledged (every op
    /// gets its reply); the leave that undoes it is already in Redis behind it.
    private func acknowledgeJoin(_ m: Membership, _ joined: ChatStore.Joined) {
        let conn = m.connection
        let appended = joined.appended
        guard conn.seedChannel == nil else { return }
        conn.sendEvent(
            ServerEvents.joined(
                channel: m.channel.name, id: appended.id, count: appended.count ?? 0,
                members: joined.members.map { Names.sortedForDisplay($0) }, protected: joined.protected,
                ref: m.joinRef))
    }

    /// The `joined` reply and the history (it ends just before the join notice); then the
    /// machine learns whether the notice already came through.
    private func answerJoined(_ m: Membership, _ context: JoinContext) {
        let channel = m.channel
        let conn = m.connection
        let joined = context.joined
        let appended = joined.appended
        let replay = joined.replay
        // Seed clients show every event as a chat line; their join notice says it all.
        if conn.seedChannel == nil {
            let members = joined.members.map { Names.sortedForDisplay($0) }
            conn.sendEvent(
                ServerEvents.joined(
                    channel: channel.name, id: appended.id, count: appended.count ?? 0, members: members,
                    protected: joined.protected, replayed: replay.count, ref: m.joinRef))
        }
        if joined.truncated {
            conn.sendEvent(
                ServerEvents.historyTruncated(
                    channel: channel.name, since: m.options.since, oldest: joined.oldest, ref: m.joinRef))
        }
        // Bounded like live delivery: a client that lets more than OUTPUT_BUFFER_LIMIT
        // pile up is cut off as too slow (its close leaves, and the machine ends there).
        var event: [UInt8] = []
        for entry in replay where conn.isOpenChat {
            event.removeAll(keepingCapacity: true)
            entry.body.withUnsafeBytes { ServerEvents.stored(id: entry.id, body: $0, replay: true, to: &event) }
            conn.deliverEvent(event)
        }
        var next = context
        next.joinID = StreamID(appended.id) ?? channel.seam.lastSeen
        // A quiet notice was published as a marker only: the joiner's own copy is
        // rebuilt here from the reply.
        next.ownNotice =
            appended.quiet
            ? quietNotice(channel: channel, nickname: conn.nickname, appended: appended, seed: m.seed) : nil
        step(m, .replayed(caughtUp: channel.seam.lastSeen >= next.joinID), next)
    }

    /// The notice already came through: a member now, and the seam's events from the
    /// join id on go to it first. The member is added before, so that if they find the
    /// client too slow and close it, the close removes it like any member.
    private func enterFromSeam(_ m: Membership, _ context: JoinContext) {
        let channel = m.channel
        let conn = m.connection
        channel.addMember(m)
        if let dropped = channel.seam.dropped, dropped >= context.joinID {
            logger.limited(
                "seam", .warn, "joiner missed events: redis delivered more than the join buffer holds",
                [("channel", channel.name), ("nickname", conn.nickname)])
        }
        context.ownNotice?.withUnsafeBytes { conn.deliver(frame: $0) }
        for k in channel.seam.start(from: context.joinID)..<channel.seam.count {
            if m.seed {
                channel.seam.seedFrame(at: k, channel: channel.name).withUnsafeBytes { conn.deliver(frame: $0) }
            } else {
                channel.seam.entries[k].frame.withUnsafeBytes { conn.deliver(frame: $0) }
            }
        }
    }
}
