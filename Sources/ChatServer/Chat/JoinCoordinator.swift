import ChatCore

/// Joins: a membership waits for its channel's subscription (and, with a replay, for a
/// history-read turn), runs the join script, has its password checked or hashed off the
/// loop when the script asks, and becomes a member at the seam between replay and live
/// (docs/ARCHITECTURE.md, "Joining without gaps or extras").
extension ChannelHub {
    func join(_ conn: Connection, _ name: String, options: JoinOptions = JoinOptions(), ref: Ref?) {
        guard conn.isOpenChat else { return }
        if membership(conn, name) != nil { return fail(conn, .alreadyJoined, "already in channel \(name)", channel: name, ref: ref) }
        if conn.replaysWaiting.count >= worker.config.maxChannelsPerConnection {  // joined and left again and again while waiting
            return fail(conn, .rateLimited, "too many joins waiting for their history; wait for them", channel: name, ref: ref)
        }
        if conn.memberships.count >= worker.config.maxChannelsPerConnection {
            return fail(conn, .tooManyChannels, "a connection may be in at most \(worker.config.maxChannelsPerConnection) channels", channel: name, ref: ref)
        }
        guard store.isAvailable, subscriber.isReady else {
            fail(conn, .unavailable, "chat storage is unavailable, try again shortly", channel: name, ref: ref)
            if conn.seedChannel != nil { conn.close(code: CloseCode.tryAgainLater, reason: "chat unavailable", why: .refused) }
            return
        }
        let channel = channels[name] ?? {
            let c = LocalChannel(name: name, keys: ChannelKeys(prefix: worker.config.redisPrefix, tag: name))
            channels[name] = c
            return c
        }()
        nextJoin += 1
        let m = Membership(channel: channel, connection: conn, joinRef: ref, field: "\(worker.redisID):\(conn.id):\(nextJoin)",
                           folded: conn.foldedNickname, options: options)
        conn.memberships[name] = m
        proceed(m)
    }

    /// Runs the join script once the channel's topic is subscribed.
    func proceed(_ m: Membership) {
        let channel = m.channel
        if !subscriber.isReady || !store.isAvailable {  // joins fail now rather than hang
            return refuseJoin(m, .unavailable, "could not join \(channel.name): chat storage is unavailable")
        }
        if channel.subscription == .active, channel.waiting.isEmpty, store.canSend {
            startJoin(m)
            release(channel)  // a join refused at once (leaves waiting) leaves the channel unused
        } else {
            // Waits for the channel's subscription, or (backpressure) for Redis to take
            // more commands: then `startWaiting` runs it, in order.
            m.state = .waitingForSubscription
            channel.waiting.append(m)
            if channel.subscription == .active { holdForRedis(channel) } else { subscribe(channel) }
        }
    }

    /// Starts the joins waiting in a subscribed channel, as many as Redis takes now; the
    /// rest wait for it to be relieved.
    func startWaiting(_ channel: LocalChannel) {
        var started = 0
        defer { channel.waiting.removeFirst(started) }
        for m in channel.waiting {
            guard store.canSend else { return holdForRedis(channel) }
            started += 1
            if m.state == .waitingForSubscription { startJoin(m) }
        }
    }

    func holdForRedis(_ channel: LocalChannel) {
        guard !channel.heldForRedis else { return }
        channel.heldForRedis = true
        heldChannels.append(channel)
    }

    /// The command link can take commands again: waiting leaves first, then held joins.
    func redisRelieved() {
        drainLeaves()
        let held = heldChannels
        heldChannels = []
        for channel in held {
            channel.heldForRedis = false
            // Gone from the table, or not subscribed (its subscription starts them).
            guard channels[channel.name] === channel, channel.subscription == .active else { continue }
            startWaiting(channel)
            release(channel)
        }
    }

    /// Runs the join script: password and nickname checks, presence, the join notice,
    /// the history to replay, and the `joined` reply.
    func startJoin(_ m: Membership) {
        let channel = m.channel, conn = m.connection
        // Left, then closed, before its join could start: nobody is left to answer
        // (the caller releases the channel).
        if m.leaveQueued, !conn.isOpenChat {
            m.state = .gone
            endReplay(m)
            return
        }
        // No join goes out while leaves wait for Redis: that keeps the leave queue
        // within the memberships this process holds (see LeaveQueue).
        if !leaves.isEmpty {
            endReplay(m)
            return refuseJoin(m, .unavailable, "could not join \(channel.name): the server is catching up with chat storage, try again shortly")
        }
        if m.wantsReplay, !m.leaveQueued, !m.holdsReplaySlot, !historyReads.admit(m) {
            m.state = .waitingForReplay
            channel.replayWaiters += 1
            return
        }
        m.state = .joining
        m.attempts += 1
        channel.joinsInFlight += 1
        var request = ChatStore.JoinRequest(field: m.field, nickname: conn.nickname, folded: m.folded, entry: m.entry.encoded, channel: channel.name)
        request.verifiedHash = m.verifiedHash
        request.newPassword = m.newPassword
        if m.leaveQueued {
            // Left before it ran: joined and left at once, so nobody would see a replay.
        } else if let since = m.options.since {
            request.replay = .since(since)
        } else if let n = m.options.history, n > 0 {
            request.replay = .last(min(n, worker.config.replayLimit))
        }
        request.replayLimit = worker.config.replayLimit
        // The replay is bounded in bytes too, inside Redis: the newest events within half
        // the output limit (the older ones: history_truncated on a resume, and the HTTP
        // history API), so that a channel of big messages can neither get every joiner
        // cut off as too slow nor make Redis build replies larger than that.
        request.replayBudget = worker.config.outputBufferLimit / 2
        request.passwordFailures = channel.keys.passwordFailures(AddressBuckets.key(conn.clientAddress))
        request.knownHash = channel.passwordHash
        request.mayCreate = m.mayCreate || worker.config.channelCreateRate == 0
        request.passwordFailureLimit = worker.config.passwordAttempts
        request.listLimit = worker.config.memberListLimit
        store.join(channel.keys, request,
                   bodyPrefix: ServerEvents.presenceBodyPrefix(joined: true, channel: channel.name, nickname: conn.nickname)) { [unowned self] result in
            self.finishJoin(m, result)
        }
        if m.leaveQueued {
            m.state = .cancelled
            m.ackLeave = true
            sendLeave(m, ack: true, ref: m.leaveRef)
        }
    }

    /// A join's replay is over (or not going on): its history-read slot goes to the
    /// next waiting join, at the end of this turn.
    func endReplay(_ m: Membership) {
        guard m.holdsReplaySlot else { return }
        historyReads.finished(m)
        scheduleReplays()
    }

    /// A history-read slot was freed: waiting joins start at the end of the turn.
    func scheduleReplays() {
        replaysDue = true
        worker.scheduleEndOfTurn()
    }

    /// End of the turn: joins whose turn for a history read has come.
    func startReplays() {
        guard replaysDue else { return }
        replaysDue = false
        for m in historyReads.next() {
            m.channel.replayWaiters -= 1
            guard m.state == .waitingForReplay else { endReplay(m); continue }
            guard m.channel.subscription == .active, store.isAvailable else {  // Redis went away meanwhile
                endReplay(m)
                refuseJoin(m, .unavailable, "could not join \(m.channel.name): chat storage is unavailable")
                release(m.channel)
                continue
            }
            startJoin(m)
            release(m.channel)  // a join that did not go on (left, then closed) leaves the channel unused
        }
    }

    /// A join that cannot go on: the client is told why and is not in the channel.
    func refuseJoin(_ m: Membership, _ code: ErrorCode, _ message: String) {
        let conn = m.connection
        removeMembership(m)
        m.state = .gone
        fail(conn, code, message, channel: m.channel.name, ref: m.joinRef)
        dropQueued(m)
        if m.leaveQueued { conn.sendEvent(ServerEvents.left(channel: m.channel.name, count: nil, ref: m.leaveRef)) }
        if conn.seedChannel != nil {
            if code == .unavailable {
                conn.close(code: CloseCode.tryAgainLater, reason: "chat unavailable", why: .refused)
            } else {
                conn.close(code: CloseCode.policyViolation, reason: message, why: .refused)
            }
        }
    }

    /// Messages sent while joining, for a join that was refused or left before it was
    /// answered: each gets an error (nothing reaches a channel its sender is not in).
    func dropQueued(_ m: Membership) {
        let queued = m.queued
        m.queued = []
        for q in queued {
            fail(m.connection, .notJoined, "not sent: not in channel \(m.channel.name) (the join was refused or left)", channel: m.channel.name, ref: q.ref)
        }
    }

    /// Checks or hashes the client's password off the loop, then joins again.
    func authorize(_ m: Membership, _ job: PasswordHasher.Job) {
        let channel = m.channel
        // A few password checks at a time per connection, so nobody fills the hashing queue.
        if m.connection.memberships.values.count(where: { $0.state == .authorizing }) >= Self.passwordChecksPerConnection {
            return refuseJoin(m, .rateLimited, "too many password checks at once, try again in a moment")
        }
        m.state = .authorizing
        channel.authorizing += 1
        let accepted = worker.hasher.submit(job) { [unowned self] outcome in
            channel.authorizing -= 1
            defer { self.release(channel) }
            // The join script counted this check as a wrong password; a right one is
            // taken back (even if the client left meanwhile).
            if case .verified(true) = outcome {
                self.store.forgiveWrongPassword(channel.keys.passwordFailures(AddressBuckets.key(m.connection.clientAddress)))
            }
            guard m.state == .authorizing else { return }  // left (or closed) meanwhile
            switch outcome {
            case .verified(true):
                if case .verify(_, let hash) = job { m.verifiedHash = hash }
                self.proceed(m)
            case .verified(false):
                self.worker.logger.limited("wrong_password", .info, "wrong channel password", [("channel", channel.name), ("nickname", m.connection.nickname)])
                self.refuseJoin(m, .wrongPassword, "wrong password for channel \(channel.name)")
            case .hashed(let hash?):
                m.newPassword = hash
                self.proceed(m)
            case .hashed(nil):
                self.refuseJoin(m, .unavailable, "could not hash the password")
            }
        }
        if !accepted {
            channel.authorizing -= 1
            refuseJoin(m, .unavailable, "the server is busy checking passwords, try again shortly")
        }
    }

    func finishJoin(_ m: Membership, _ result: Result<ChatStore.JoinOutcome, StoreFailure>) {
        let channel = m.channel, conn = m.connection
        channel.joinsInFlight -= 1
        endReplay(m)
        defer {
            if channel.joinsInFlight == 0 { channel.clearSeam() }
            release(channel)
        }
        if m.state == .cancelled, case .success(let outcome) = result, !outcome.isJoined {
            // Left while joining, and the join did not happen (a password to check, a
            // taken nickname): the join is answered so, and the leave (already sent, see
            // detach) found nothing and answers next.
            m.state = .gone
            if m.ackLeave { fail(conn, .notJoined, "join of \(channel.name) not completed: left meanwhile", channel: channel.name, ref: m.joinRef) }
            dropQueued(m)
            return
        }
        switch result {
        case .success(.nicknameTaken):
            refuseJoin(m, .nicknameTaken, "nickname \"\(conn.nickname)\" is already in channel \(channel.name)")
        case .success(.passwordLimited(let wait)):
            refuseJoin(m, .rateLimited, "too many wrong passwords for channel \(channel.name) from your address: try again in \((wait + 999) / 1_000) s")
        case .success(.verify(let hash)):
            guard m.attempts < 4 else { return refuseJoin(m, .unavailable, "the channel's password keeps changing, try again") }
            if hash.isEmpty {  // the password was removed since we checked it
                m.verifiedHash = ""
                return proceed(m)
            }
            guard let password = m.options.password else {
                return refuseJoin(m, .wrongPassword, "channel \(channel.name) needs a password")
            }
            guard worker.allowPasswordAttempt(conn) else {
                return refuseJoin(m, .rateLimited, "too many password attempts, wait a minute")
            }
            authorize(m, .verify(password, against: hash))
        case .success(.new):
            // A new channel lives in Redis for CHANNEL_TTL: one address creates at most
            // CHANNEL_CREATE_RATE a minute (bursts of as many).
            guard m.attempts < 4, worker.allowChannelCreation(conn) else {
                return refuseJoin(m, .rateLimited, "too many new channels from your address, try again in a minute (or join an existing one)")
            }
            m.mayCreate = true
            proceed(m)
        case .success(.claim):
            guard let password = m.options.password, m.attempts < 4 else { return refuseJoin(m, .unavailable, "could not set the channel's password") }
            guard worker.allowPasswordAttempt(conn) else {  // hashing is costly on purpose: creating is limited too
                return refuseJoin(m, .rateLimited, "too many password attempts, wait a minute")
            }
            authorize(m, .hash(password))
        case .success(.joined(let joined)):
            let appended = joined.appended
            // Remembered, so that the channel stays protected if Redis loses its settings.
            if joined.protected {
                let hash = m.verifiedHash.isEmpty ? m.newPassword : m.verifiedHash
                if hash.count > 1 { channel.passwordHash = hash }
            }
            worker.logger.debug("joined", [("conn", String(conn.id)), ("channel", channel.name), ("nickname", conn.nickname),
                                           ("count", String(appended.count ?? 0))])
            if m.state == .cancelled {
                // Left (or closed) while joining: the join happened, so it is acknowledged
                // (every op gets its reply); the leave that undoes it is already in Redis
                // behind it and answers next.
                if m.ackLeave, conn.seedChannel == nil {
                    conn.sendEvent(ServerEvents.joined(channel: channel.name, id: appended.id, count: appended.count ?? 0,
                                                       members: joined.members.map { Names.sortedForDisplay($0) }, protected: joined.protected,
                                                       ref: m.joinRef))
                }
                m.state = .gone
                dropQueued(m)
            } else if m.state == .joining {
                let replay = joined.replay, truncated = joined.truncated
                // Seed clients show every event as a chat line; their join notice says it all.
                if conn.seedChannel == nil {
                    let members = joined.members.map { Names.sortedForDisplay($0) }
                    conn.sendEvent(ServerEvents.joined(channel: channel.name, id: appended.id, count: appended.count ?? 0, members: members,
                                                       protected: joined.protected, replayed: replay.count, ref: m.joinRef))
                }
                // History first (it ends just before the join notice), then live events.
                if truncated {
                    conn.sendEvent(ServerEvents.historyTruncated(channel: channel.name, since: m.options.since, oldest: joined.oldest, ref: m.joinRef))
                }
                // Bounded like live delivery: a client that lets more than OUTPUT_BUFFER_LIMIT
                // pile up is cut off as too slow.
                var event: [UInt8] = []
                for entry in replay where conn.isOpenChat {
                    event.removeAll(keepingCapacity: true)
                    entry.body.withUnsafeBytes { ServerEvents.stored(id: entry.id, body: $0, replay: true, to: &event) }
                    conn.deliverEvent(event)
                }
                let joinID = StreamID(appended.id) ?? channel.lastSeen
                // A quiet notice was published as a marker only: the joiner's own copy is
                // rebuilt here from the reply.
                let ownNotice = appended.quiet ? quietNotice(channel: channel, nickname: conn.nickname, appended: appended, seed: m.seed) : nil
                if channel.lastSeen >= joinID {
                    // The notice already came through: replay from it, then live. The member
                    // is added first, so that if the replay finds the client too slow and
                    // closes it, the close removes it like any member.
                    channel.addMember(m)
                    if let dropped = channel.seamDropped, dropped >= joinID {
                        worker.logger.limited("seam", .warn, "joiner missed events: redis delivered more than the join buffer holds",
                                              [("channel", channel.name), ("nickname", conn.nickname)])
                    }
                    ownNotice?.withUnsafeBytes { conn.deliver(frame: $0) }
                    for k in channel.seamStart(from: joinID)..<channel.seam.count {
                        if m.seed {
                            channel.seedFrame(at: k).withUnsafeBytes { conn.deliver(frame: $0) }
                        } else {
                            channel.seam[k].frame.withUnsafeBytes { conn.deliver(frame: $0) }
                        }
                    }
                } else {
                    // Events from before the join may still be on their way: start at the notice.
                    m.state = .activating
                    channel.waitForNotice(m, from: joinID, notice: ownNotice)
                }
                // Messages sent while joining go out now, after the join notice.
                let queued = m.queued
                m.queued = []
                for q in queued { publish(m, text: q.text, ref: q.ref) }
            }
        case .failure(let failure):
            worker.logger.limited("join_failed", .warn, "join failed", [("channel", channel.name), ("error", describe(failure))])
            // Without a reply, or after an error part-way, the script may have written:
            // make sure the member hash does not keep this field (a no-op if it did not),
            // now if Redis is there, else once it is back.
            queueLeave(m)
            if m.state == .joining {
                refuseJoin(m, .unavailable, "could not join \(channel.name): chat storage is unavailable")
            } else {
                dropQueued(m)
            }
            m.state = .gone  // cancelled: its leave answers the client
        }
    }

    /// The frame of a quiet join notice as the stream stores it, for its joiner (in the
    /// seed envelope for a seed member).
    func quietNotice(channel: LocalChannel, nickname: String, appended: ChatStore.Appended, seed: Bool) -> [UInt8] {
        var json = Array("{\"id\":\"\(appended.id)\",\"ts\":\(appended.id.prefix { $0 != "-" }),".utf8)
        json += ServerEvents.presenceBodyPrefix(joined: true, channel: channel.name, nickname: nickname)
        json += Array("\(appended.count ?? 0),\"quiet\":true}".utf8)
        var frame: [UInt8] = []
        json.withUnsafeBytes {
            if !seed || !SeedEnvelope.appendFrame(event: $0, channel: channel.name, to: &frame) {
                FrameEncoder.appendFrame(opcode: Opcode.text, payload: $0, to: &frame)
            }
        }
        return frame
    }
}
