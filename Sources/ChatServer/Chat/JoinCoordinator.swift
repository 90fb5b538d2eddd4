import ChatCore

/// Joins: what a join waits for and where its events come from. Each membership's join
/// is a `JoinMachine` (ChatCore): it waits in its channel's line for the subscription
/// (and, with a replay, for a history-read turn), runs the join script, has its password
/// checked or hashed off the loop when the script asks, and becomes a member at the seam
/// between replay and live (docs/ARCHITECTURE.md, "Joining without gaps or extras").
/// This file owns the shared resources (the lines, the history-read slots) and feeds the
/// machines; JoinActions.swift performs what they return.
extension ChannelHub {
    func join(_ conn: Connection, _ name: String, options: JoinOptions = JoinOptions(), ref: Ref?) {
        guard conn.isOpenChat else { return }
        if membership(conn, name) != nil {
            return fail(conn, .alreadyJoined, "already in channel \(name)", channel: name, ref: ref)
        }
        // Joined and left again and again while waiting for a history read.
        if conn.replaysWaiting.count >= settings.maxChannelsPerConnection {
            return fail(
                conn, .rateLimited, "too many joins waiting for their history; wait for them", channel: name, ref: ref)
        }
        if conn.memberships.count >= settings.maxChannelsPerConnection {
            return fail(
                conn, .tooManyChannels,
                "a connection may be in at most \(settings.maxChannelsPerConnection) channels", channel: name,
                ref: ref)
        }
        guard store.isAvailable, subscriber.isReady else {
            fail(conn, .unavailable, "chat storage is unavailable, try again shortly", channel: name, ref: ref)
            if conn.seedChannel != nil {
                conn.close(code: CloseCode.tryAgainLater, reason: "chat unavailable", why: .refused)
            }
            return
        }
        let channel =
            channels[name]
            ?? {
                let c = LocalChannel(name: name, keys: ChannelKeys(prefix: settings.redisPrefix, tag: name))
                channels[name] = c
                return c
            }()
        nextJoin += 1
        let m = Membership(
            channel: channel, connection: conn, joinRef: ref, field: "\(redisID):\(conn.id):\(nextJoin)",
            folded: conn.foldedNickname, options: options)
        conn.memberships[name] = m
        proceed(m)
    }

    /// Feeds a join's machine `event` and performs the actions it returns, in order.
    func step(_ m: Membership, _ event: JoinMachine.Event, _ context: JoinContext? = nil) {
        perform(m, m.join.handle(event), context)
    }

    /// What the join can do now: run its script (the channel is subscribed, nobody waits
    /// before it, Redis takes commands), wait in the channel's line, or fail at once
    /// (Redis is gone: rather than hang).
    func proceed(_ m: Membership) {
        let channel = m.channel
        let readiness: JoinMachine.Readiness
        if !subscriber.isReady || !store.isAvailable {
            readiness = .unavailable
        } else if channel.subscription == .active, channel.waiting.isEmpty, store.canSend {
            readiness = .now(turn(m))
        } else {
            readiness = .later
        }
        step(m, .proceed(readiness))
        release(channel)  // a join refused at once (leaves waiting) leaves the channel unused
    }

    /// What the machine needs to know when a join's turn comes.
    func turn(_ m: Membership) -> JoinMachine.Turn {
        JoinMachine.Turn(
            connectionOpen: m.connection.isOpenChat, leavesWaiting: !leaves.isEmpty, holdsHistorySlot: m.holdsReplaySlot
        )
    }

    /// In the channel's line: it is subscribed to, or (backpressure) waits for Redis to
    /// take more commands; then `startWaiting` moves the line.
    func waitForChannel(_ m: Membership) {
        let channel = m.channel
        channel.waiting.append(m)
        if channel.subscription == .active { holdForRedis(channel) } else { subscribe(channel) }
    }

    /// Starts the joins waiting in a subscribed channel, as many as Redis takes now; the
    /// rest wait for it to be relieved.
    func startWaiting(_ channel: LocalChannel) {
        var started = 0
        defer { channel.waiting.removeFirst(started) }
        for m in channel.waiting {
            guard store.canSend else { return holdForRedis(channel) }
            started += 1
            step(m, .turn(turn(m)))  // a join left meanwhile (and closed) ends here
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
        runtime.scheduleEndOfTurn()
    }

    /// End of the turn: joins whose turn for a history read has come.
    func startReplays() {
        guard replaysDue else { return }
        replaysDue = false
        for m in historyReads.next() {
            m.channel.replayWaiters -= 1
            // Redis may have gone away meanwhile.
            step(m, .historyTurn(redisReady: m.channel.subscription == .active && store.isAvailable, turn(m)))
            release(m.channel)  // a join that did not go on (left, then closed) leaves the channel unused
        }
    }

    /// Runs the join script: password and nickname checks, presence, the join notice,
    /// the history to replay, and the `joined` reply.
    func runScript(_ m: Membership, _ script: JoinMachine.Script) {
        let channel = m.channel
        let conn = m.connection
        channel.joinsInFlight += 1
        var request = ChatStore.JoinRequest(
            field: m.field, nickname: conn.nickname, folded: m.folded, entry: m.entry.encoded, channel: channel.name)
        request.verifiedHash = script.verifiedHash
        request.newPassword = script.newPassword
        if !script.replay {
            // Left before it ran: joined and left at once, so nobody would see a replay.
        } else if let since = m.options.since {
            request.replay = .since(since)
        } else if let n = m.options.history, n > 0 {
            request.replay = .last(min(n, settings.replayLimit))
        }
        request.replayLimit = settings.replayLimit
        // The replay is bounded in bytes too, inside Redis: the newest events within half
        // the output limit (the older ones: history_truncated on a resume, and the HTTP
        // history API), so that a channel of big messages can neither get every joiner
        // cut off as too slow nor make Redis build replies larger than that.
        request.replayBudget = settings.outputBufferLimit / 2
        request.passwordFailures = channel.keys.passwordFailures(AddressBuckets.key(conn.clientAddress))
        request.knownHash = channel.passwordHash
        request.mayCreate = script.mayCreate || settings.channelCreateRate == 0
        request.passwordFailureLimit = settings.passwordAttempts
        request.listLimit = settings.memberListLimit
        store.join(
            channel.keys, request,
            bodyPrefix: ServerEvents.presenceBodyPrefix(joined: true, channel: channel.name, nickname: conn.nickname)
        ) { [unowned self] result in
            self.joinReplied(m, result)
        }
    }

    /// The join script answered (or failed): the machine decides what follows.
    func joinReplied(_ m: Membership, _ result: Result<ChatStore.JoinOutcome, StoreFailure>) {
        let channel = m.channel
        let conn = m.connection
        channel.joinsInFlight -= 1
        endReplay(m)
        defer {
            if channel.joinsInFlight == 0 { channel.seam.clear() }
            release(channel)
        }
        let reply: JoinMachine.Reply
        var context: JoinContext?
        switch result {
        case .success(.joined(let joined)):
            logger.debug(
                "joined",
                [
                    ("conn", String(conn.id)), ("channel", channel.name), ("nickname", conn.nickname),
                    ("count", String(joined.appended.count ?? 0)),
                ])
            context = JoinContext(joined: joined)
            reply = .joined(protected: joined.protected)
        case .success(.nicknameTaken): reply = .nicknameTaken
        case .success(.passwordLimited(let wait)): reply = .passwordLimited(waitMillis: wait)
        case .success(.verify(let hash)): reply = .verify(hash: hash)
        case .success(.new): reply = .new
        case .success(.claim): reply = .claim
        case .failure(let failure):
            logger.limited(
                "join_failed", .warn, "join failed", [("channel", channel.name), ("error", describe(failure))])
            reply = .failed
        }
        step(m, .replied(reply), context)
    }

    /// Checks or hashes the client's password off the loop, then tells the machine.
    func checkPassword(_ m: Membership, _ job: JoinMachine.PasswordJob) {
        let channel = m.channel
        channel.authorizing += 1
        let hasherJob: PasswordHasher.Job
        switch job {
        case .verify(let password, let hash): hasherJob = .verify(password, against: hash)
        case .hash(let password): hasherJob = .hash(password)
        }
        let accepted = hasher.submit(hasherJob) { [unowned self] outcome in
            channel.authorizing -= 1
            defer { self.release(channel) }
            switch outcome {
            case .verified(let right): self.step(m, .passwordChecked(.verified(right)))
            case .hashed(let hash): self.step(m, .passwordChecked(.hashed(hash)))
            }
        }
        if !accepted {
            channel.authorizing -= 1
            step(m, .passwordCheckRefused)
        }
    }

    /// The frame of a quiet join notice as the stream stores it, for its joiner (in the
    /// seed envelope for a seed member).
    func quietNotice(channel: LocalChannel, nickname: String, appended: ChatStore.Appended, seed: Bool) -> [UInt8] {
        let bodyPrefix = ServerEvents.presenceBodyPrefix(joined: true, channel: channel.name, nickname: nickname)
        let json = QuietNotice.notice(id: appended.id, bodyPrefix: bodyPrefix, count: appended.count ?? 0)
        var frame: [UInt8] = []
        json.withUnsafeBytes {
            if !seed || !SeedEnvelope.appendFrame(event: $0, channel: channel.name, to: &frame) {
                FrameEncoder.appendFrame(opcode: Opcode.text, payload: $0, to: &frame)
            }
        }
        return frame
    }
}

/// A join script's `joined` answer while the machine's actions for it are performed
/// (the reply, the replay, the seam), and where the joiner's live events start.
struct JoinContext {
    let joined: ChatStore.Joined
    var joinID = StreamID(milliseconds: 0, sequence: 0)
    var ownNotice: [UInt8]?
}
