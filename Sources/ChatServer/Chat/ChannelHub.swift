import ChatCore
import EventIO

/// The chat: this worker's channel table and what clients ask of it. Every message
/// goes through Redis (ChatStore), even between two members on this worker, so that
/// every member on every instance sees one order. What Redis delivers on the
/// subscriber connection is framed once and appended to each local member's output.
final class ChannelHub {
    unowned(unsafe) let worker: Worker
    let store: ChatStore
    private let subscriber: RedisLink
    private let prefix: [UInt8]
    private let globalKeys: ChannelKeys
    private(set) var channels: [String: LocalChannel] = [:]
    private var globalSubscribed = false
    /// Liveness of the subscriber connection: once a second this instance publishes on
    /// its own heartbeat topic and expects the message back within REDIS_TIMEOUT.
    private let heartbeatTopic: [UInt8]
    private var heartbeatSentAt: UInt64 = 0
    private var heartbeatSubscribed = false
    /// Scratch buffers reused for every message: one frame encoding per message.
    private var frame: [UInt8] = []
    private var body: [UInt8] = []
    private var subscriptionArgs = RedisArgs()
    /// Channels with a batch this turn, and the batch of broadcasts to everyone.
    private var batchedChannels: [LocalChannel] = []
    private var globalBatch = FrameBatch()
    /// `/chat/join` connections by seed channel: they get broadcasts in the seed
    /// envelope, made once per group (empty: nobody here needs it, nothing is made).
    private var seedGroups: [String: SeedGroup] = [:]
    /// Sends accepted while a join waits for its subscription, per membership.
    static let queuedSendLimit = 64
    /// Password checks or hashes one connection may have running at once.
    static let passwordChecksPerConnection = 4
    /// Numbers joins, for unique member-hash fields.
    private var nextJoin: UInt64 = 0
    /// Protected channels whose password this instance wrote back after Redis lost it
    /// (/healthz, /metrics).
    private(set) var passwordsRestored = 0
    /// History reads running in Redis, bounded per process and per client.
    let historyReads: HistoryReads
    private var replaysDue = false
    /// Leaves Redis has not taken yet (see `LeaveQueue`): never dropped.
    private(set) var leaves: LeaveQueue

    init(worker: Worker, store: ChatStore, subscriber: RedisLink, prefix: String) {
        self.worker = worker
        self.store = store
        self.subscriber = subscriber
        self.prefix = Array("\(prefix):{".utf8)
        self.globalKeys = ChannelKeys.global(prefix: prefix)
        self.heartbeatTopic = store.keyspace.heartbeat(worker.instanceID)
        leaves = LeaveQueue(capacity: worker.connectionLimit * worker.config.maxChannelsPerConnection)
        historyReads = HistoryReads(limit: worker.config.historyReads)
        subscriber.onPush = { [unowned self] reply in self.onPush(reply) }
    }

    deinit {
        ringTargets.deallocate()
        ringAnswered.deallocate()
    }

    var isReady: Bool { store.isAvailable && subscriber.isReady && globalSubscribed }

    // MARK: Client requests

    func handle(_ parsed: Result<ClientRequest, ChatError>, from conn: Connection) {
        // Frames after one that closed the connection (in the same read) do nothing.
        guard conn.isOpenChat else { return }
        let request: ClientRequest
        switch parsed {
        case .failure(let error):
            conn.sendEvent(ServerEvents.error(error))
            return
        case .success(let r): request = r
        }
        switch request.op {
        case .join(let channel, let options): join(conn, channel, options: options, ref: request.ref)
        case .presence(let channel, let cursor): presence(conn, channel, cursor: cursor, ref: request.ref)
        case .leave(let channel): leave(conn, channel, ref: request.ref)
        case .send(let channel, let text):
            guard let target = channel ?? conn.seedChannel else {
                conn.sendEvent(ServerEvents.error(ChatError(.badRequest, "missing \"channel\"", ref: request.ref)))
                return
            }
            send(conn, target, text: text, ref: request.ref)
        case .broadcast(let text): broadcast(conn, text: text, ref: request.ref)
        case .ping: conn.sendEvent(ServerEvents.pong(ref: request.ref))
        }
    }

    private func fail(_ conn: Connection, _ code: ErrorCode, _ message: String, channel: String? = nil, ref: Ref?) {
        conn.sendEvent(ServerEvents.error(ChatError(code, message, channel: channel, ref: ref)))
    }

    private func membership(_ conn: Connection, _ channel: String) -> Membership? {
        conn.memberships[channel]
    }

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
    private func proceed(_ m: Membership) {
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
    private func startWaiting(_ channel: LocalChannel) {
        var started = 0
        defer { channel.waiting.removeFirst(started) }
        for m in channel.waiting {
            guard store.canSend else { return holdForRedis(channel) }
            started += 1
            if m.state == .waitingForSubscription { startJoin(m) }
        }
    }

    /// Channels whose joins wait for the command link to be relieved (backpressure: a
    /// thousand joins released by one subscription must not all go out at once).
    private var heldChannels: [LocalChannel] = []

    private func holdForRedis(_ channel: LocalChannel) {
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
    private func startJoin(_ m: Membership) {
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
    private func endReplay(_ m: Membership) {
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
    private func refuseJoin(_ m: Membership, _ code: ErrorCode, _ message: String) {
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
    private func dropQueued(_ m: Membership) {
        let queued = m.queued
        m.queued = []
        for q in queued {
            fail(m.connection, .notJoined, "not sent: not in channel \(m.channel.name) (the join was refused or left)", channel: m.channel.name, ref: q.ref)
        }
    }

    /// Checks or hashes the client's password off the loop, then joins again.
    private func authorize(_ m: Membership, _ job: PasswordHasher.Job) {
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

    private func finishJoin(_ m: Membership, _ result: Result<ChatStore.JoinOutcome, StoreFailure>) {
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

    /// `presence` op: who is in a channel. A password-protected channel's members are
    /// shown to its members only.
    /// One page of MEMBER_LIST_LIMIT names at most (read with HSCAN, sorted within the
    /// page: never the whole member list), and the cursor of the next.
    func presence(_ conn: Connection, _ name: String, cursor: String?, ref: Ref?) {
        // One at a time per connection: a page of a big channel is work in Redis and here.
        guard !conn.presencePending else {
            return fail(conn, .rateLimited, "one presence at a time: wait for the answer to the last one", channel: name, ref: ref)
        }
        conn.presencePending = true
        let pageSize = max(worker.config.memberListLimit, 1)
        store.memberPage(ChannelKeys(prefix: worker.config.redisPrefix, tag: name), cursor: cursor ?? "0", pageSize: pageSize) { [unowned self] result in
            conn.presencePending = false
            guard conn.isOpenChat else { return }
            // A member is one whose join went through (not one still proving its password).
            let state = self.membership(conn, name)?.state
            let isMember = state == .active || state == .activating
            switch result {
            case .failure:
                self.fail(conn, .unavailable, "chat storage is unavailable, try again shortly", channel: name, ref: ref)
            case .success(let info) where info.protected && !isMember:
                self.fail(conn, .forbidden, "channel \(name) is password-protected: join it to see its members", channel: name, ref: ref)
            case .success(let page):
                let names = page.trimmed(to: pageSize)
                conn.sendEvent(ServerEvents.presence(channel: name, count: page.count, members: names, cursor: page.next, ref: ref))
            }
        }
    }

    func leave(_ conn: Connection, _ name: String, ref: Ref?) {
        guard let m = membership(conn, name) else { return fail(conn, .notJoined, "not in channel \(name)", channel: name, ref: ref) }
        detach(m, ack: true, ref: ref)
    }

    /// Leaves every channel of a connection that is going away (no replies).
    func disconnect(_ conn: Connection) {
        for m in conn.memberships.values { detach(m, ack: false, ref: nil) }
        conn.memberships.removeAll()
        removeSeedConnection(conn)
    }

    /// A `/chat/join` connection is open: it gets broadcasts with its seed group.
    func addSeedConnection(_ conn: Connection) {
        guard conn.seedGroupIndex < 0, let channel = conn.envelopeChannel else { return }
        let group = seedGroups[channel] ?? {
            let g = SeedGroup(channel: channel)
            seedGroups[channel] = g
            return g
        }()
        conn.seedGroupIndex = group.targets.count
        group.targets.append(.passUnretained(conn))
    }

    private func removeSeedConnection(_ conn: Connection) {
        let i = conn.seedGroupIndex
        guard i >= 0, let channel = conn.envelopeChannel, let group = seedGroups[channel] else { return }
        conn.seedGroupIndex = -1
        let last = group.targets.removeLast()
        if i < group.targets.count {
            group.targets[i] = last
            last._withUnsafeGuaranteedRef { $0.seedGroupIndex = i }
        }
        if group.targets.isEmpty { seedGroups[channel] = nil }
    }

    private func removeMembership(_ m: Membership) {
        if m.connection.memberships[m.channel.name] === m { m.connection.memberships[m.channel.name] = nil }
    }

    private func detach(_ m: Membership, ack: Bool, ref: Ref?) {
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
    private func runLeave(_ m: Membership, ack: Bool, ref: Ref?) {
        m.state = .gone
        sendLeave(m, ack: ack, ref: ref)
    }

    private func sendLeave(_ m: Membership, ack: Bool, ref: Ref?) {
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
    private func queueLeave(_ m: Membership) {
        queue(LeaveQueue.Leave(keys: m.channel.keys, entry: m.entry, folded: m.folded))
        drainLeaves()
    }

    private func queue(_ leave: LeaveQueue.Leave) {
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

    /// Removes a member of a dead instance (the registry's cleanup): its leave notice
    /// goes to the channel like any other. Refused (false) if the instance is alive
    /// again when the script runs: it is writing its members back.
    func removeDeadMember(_ entry: MemberEntry, instance: String, _ done: @escaping (Bool) -> Void) {
        let keys = ChannelKeys(prefix: worker.config.redisPrefix, tag: entry.channel)
        store.leave(keys, entry, folded: worker.nicknameFolding.folded(entry.nickname), instance: instance, ofDeadInstance: true) { result in
            if case .success = result { done(true) } else { done(false) }
        }
    }

    /// The command connection is (again) ready: redo what the hash missed. Members
    /// that are here are written again (a Redis that restarted without persistence
    /// forgot them), and removals that failed are run now; neither publishes notices
    /// twice (a removal that finds nothing publishes nothing).
    func commandsReady() {
        var restored = 0
        restoreMembers()
        for channel in channels.values where channel.hasMembers || !channel.activating.isEmpty { restored += 1 }
        let waiting = leaves.count
        drainLeaves()
        if waiting > 0 || restored > 0 {
            worker.logger.info("redis member hashes restored", [("channels", String(restored)), ("removals", String(waiting))])
        }
    }

    /// Writes every present member back into Redis (hash, nickname index, directory,
    /// this instance's membership set), without notices: after a reconnect, or when
    /// the registry finds this instance was taken for dead.
    func restoreMembers() {
        for channel in channels.values {
            let present = channel.members.map { ($0.entry, $0.folded) } + channel.seedMembers.map { ($0.entry, $0.folded) }
                + channel.activating.elements.map { ($0.member.entry, $0.member.folded) }
            store.restoreMembers(channel.keys, channel: channel.name, passwordHash: channel.passwordHash, present.map { (entry: $0.0, folded: $0.1) },
                                 instance: worker.redisID) { [unowned self] in
                self.passwordsRestored += 1
                self.worker.logger.warn("channel password restored: redis had lost the settings of a protected channel; it stays protected",
                                        [("channel", channel.name)])
            }
        }
    }

    func send(_ conn: Connection, _ name: String, text: String, ref: Ref?) {
        guard let m = membership(conn, name) else { return fail(conn, .notJoined, "not in channel \(name)", channel: name, ref: ref) }
        guard admitBytes(conn, text, channel: name, ref: ref) else { return }
        switch m.state {
        case .waitingForSubscription, .waitingForReplay, .joining, .authorizing:
            guard m.queued.count < Self.queuedSendLimit else {
                return fail(conn, .rateLimited, "over \(Self.queuedSendLimit) messages sent while channel \(name) is still being joined: this one was dropped",
                            channel: name, ref: ref)
            }
            m.queued.append((text, ref))
        case .activating, .active:
            publish(m, text: text, ref: ref)
        case .cancelled, .gone:
            fail(conn, .notJoined, "not in channel \(name)", channel: name, ref: ref)
        }
    }

    private func publish(_ m: Membership, text: String, ref: Ref?) {
        let conn = m.connection, channel = m.channel
        body.removeAll(keepingCapacity: true)
        ServerEvents.appendMessageBody(channel: channel.name, sender: conn.nickname, text: text, to: &body)
        store.publish(channel.keys, body: body) { [unowned self] result in
            switch result {
            case .success: self.worker.stats.published += 1
            case .failure(let failure):
                self.worker.logger.limited("not_published", .warn, "message not published", [("channel", channel.name), ("error", self.describe(failure))])
                self.fail(conn, .unavailable, Self.notSent("message", failure), channel: channel.name, ref: ref)
            }
        }
    }

    func broadcast(_ conn: Connection, text: String, ref: Ref?) {
        guard worker.config.allowBroadcast else { return fail(conn, .forbidden, "broadcast is disabled on this server", ref: ref) }
        guard admitBytes(conn, text, channel: nil, ref: ref) else { return }
        body.removeAll(keepingCapacity: true)
        ServerEvents.appendBroadcastBody(sender: conn.nickname, text: text, to: &body)
        store.publish(globalKeys, body: body) { [unowned self] result in
            switch result {
            case .success: self.worker.stats.published += 1
            case .failure(let failure):
                self.worker.logger.limited("not_published", .warn, "broadcast not published", [("error", self.describe(failure))])
                self.fail(conn, .unavailable, Self.notSent("broadcast", failure), ref: ref)
            }
        }
    }

    /// RATE_LIMIT_BYTES: a message's bytes as stored count against its sender's
    /// allowance (refused: `rate_limited`, the message dropped).
    private func admitBytes(_ conn: Connection, _ text: String, channel: String?, ref: Ref?) -> Bool {
        // As stored: the text escaped, and the channel and sender it goes with.
        let size = JSONWriter.escapedLength(text) + (channel?.utf8.count ?? 0) + conn.nickname.utf8.count + 64
        guard conn.admitBytes(size) else {
            worker.stats.rateLimited += 1
            fail(conn, .rateLimited, "too many bytes of messages: at most \(worker.config.rateLimitBytes) a second, not sent", channel: channel, ref: ref)
            return false
        }
        return true
    }

    /// What a failed publish tells its sender. When Redis stopped answering after the
    /// command went out, Redis may still run it: the message may yet be delivered.
    static func notSent(_ what: String, _ failure: StoreFailure) -> String {
        if case .unavailable(sent: true) = failure {
            return "\(what) not confirmed: chat storage stopped answering, it may still be delivered"
        }
        return "\(what) not sent: chat storage is unavailable"
    }

    private func describe(_ failure: StoreFailure) -> String {
        switch failure {
        case .unavailable(sent: true): return "no reply from redis"
        case .unavailable: return "redis unavailable"
        case .refused(let text): return text
        }
    }

    // MARK: Subscriptions

    private func subscribe(_ channel: LocalChannel) {
        guard channel.subscription == .none, subscriber.isReady else { return }
        channel.subscription = .pending
        sendSubscription("SUBSCRIBE", channel.keys.topic)
    }

    /// Drops the subscription of a channel nobody here needs any more.
    private func release(_ channel: LocalChannel) {
        guard channel.isUnused else { return }
        switch channel.subscription {
        case .active:
            channel.subscription = .leaving
            sendSubscription("UNSUBSCRIBE", channel.keys.topic)
        case .none:
            channels.removeValue(forKey: channel.name)
        case .pending, .leaving:
            break  // decided when Redis confirms
        }
    }

    private func sendSubscription(_ command: String, _ topic: [UInt8]) {
        subscriptionArgs.reset()
        subscriptionArgs.add(command)
        subscriptionArgs.add(topic)
        subscriber.sendSubscription(subscriptionArgs)
    }

    /// The subscriber connection is (again) ready: subscribe everything needed.
    func subscriberReady() {
        sendSubscription("SUBSCRIBE", globalKeys.topic)
        sendSubscription("SUBSCRIBE", heartbeatTopic)
        heartbeatSentAt = 0
        for channel in Array(channels.values) {
            channel.subscription = .none
            if channel.isUnused { channels.removeValue(forKey: channel.name) } else { subscribe(channel) }
        }
    }

    /// The subscriber connection was lost: subscriptions are gone, and joins
    /// waiting for one fail now rather than hang. Members stay members; their
    /// channels are subscribed again when Redis returns.
    func subscriberDown() {
        globalSubscribed = false
        heartbeatSubscribed = false
        heartbeatSentAt = 0
        for channel in Array(channels.values) {
            channel.subscription = .none
            // Their notice may never arrive now; they are members all the same.
            channel.activate(upTo: StreamID(milliseconds: .max, sequence: .max))
            let waiting = channel.waiting
            channel.waiting = []
            for m in waiting { refuseJoin(m, .unavailable, "could not join \(channel.name): chat storage is unavailable") }
            if channel.isUnused { channels.removeValue(forKey: channel.name) }
        }
    }

    private func onPush(_ reply: RedisReply) {
        guard reply.count >= 3 else { return }
        let kind = reply[0], topic = reply[1].bytes
        if kind.equals("message") {
            if isHeartbeat(topic) { heartbeatSentAt = 0; return }
            deliver(topic: topic, payload: reply[2].bytes)
        } else if kind.equals("subscribe") {
            if isGlobal(topic) { globalSubscribed = true; return }
            if isHeartbeat(topic) { heartbeatSubscribed = true; return }
            guard let name = channelName(topic), let channel = channels[name] else { return }
            channel.subscription = .active
            startWaiting(channel)
            release(channel)
        } else if kind.equals("unsubscribe") {
            guard let name = channelName(topic), let channel = channels[name] else { return }
            channel.subscription = .none
            if channel.isUnused { channels.removeValue(forKey: channel.name) } else { subscribe(channel) }
        }
    }

    /// Frames a published event once and adds it to the channel's batch for this
    /// turn; the batch is written to every local member at the end of the turn.
    private func deliver(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        worker.stats.messagesFromRedis += 1
        if isGlobal(topic) {
            // One order for everyone: what channels got before this broadcast goes out first.
            if !batchedChannels.isEmpty { flushChannelBatches() }
            FrameEncoder.appendHeader(opcode: Opcode.text, length: payload.count, to: &globalBatch.bytes)
            globalBatch.bytes.append(contentsOf: payload)
            globalBatch.events += 1
            if !seedGroups.isEmpty { batchForSeedGroups(payload) }
            worker.scheduleEndOfTurn()
            return
        }
        if globalBatch.events > 0 { flushGlobalBatch() }  // and broadcasts before what follows them
        frame.removeAll(keepingCapacity: true)
        FrameEncoder.appendHeader(opcode: Opcode.text, length: payload.count, to: &frame)
        frame.append(contentsOf: payload)
        frame.withUnsafeBytes { f in
            guard let name = channelName(topic), let channel = channels[name] else { return }
            let quiet = QuietNotice.isQuiet(payload)
            let id = channel.tracksIDs || quiet ? StreamID.leading(payload) : nil
            if quiet {
                // The marker of a join or leave in a big channel: it starts its joiner's
                // delivery; the others get the coalesced count update.
                channel.quietSince = true
                if let id {
                    channel.activate(upTo: id)
                    channel.record(id, frame: f, quiet: true)
                }
                return
            }
            if let id { channel.activate(upTo: id) }
            if !channel.members.isEmpty {
                channel.batch.bytes.append(contentsOf: f)
                channel.batch.events += 1
                queueBatch(channel)
            }
            // Seed members get the event in the seed envelope: made here once for all
            // of them, only in a channel that has some.
            var seed: [UInt8]?
            if !channel.seedMembers.isEmpty {
                let start = channel.seedBatch.bytes.count
                if !SeedEnvelope.appendFrame(event: payload, channel: channel.name, to: &channel.seedBatch.bytes) {
                    channel.seedBatch.bytes.append(contentsOf: f)  // not an object (not expected): as it is
                }
                channel.seedBatch.events += 1
                queueBatch(channel)
                if id != nil, channel.joinsInFlight > 0 { seed = Array(channel.seedBatch.bytes[start...]) }
            }
            if let id { channel.record(id, frame: f, seed: seed, quiet: false) }
        }
    }

    @inline(__always)
    private func queueBatch(_ channel: LocalChannel) {
        guard !channel.batchQueued else { return }
        channel.batchQueued = true
        batchedChannels.append(channel)
        worker.scheduleEndOfTurn()
    }

    /// A broadcast in the seed envelope for each seed group: parsed and encoded once,
    /// the envelopes differing only in the channel they name.
    private func batchForSeedGroups(_ payload: UnsafeRawBufferPointer) {
        let parts = SeedEnvelope.Parts(event: payload)
        for group in seedGroups.values {
            if let parts {
                parts.appendFrame(channel: group.channel, to: &group.batch.bytes)
            } else {  // not an object (not expected): as it is
                FrameEncoder.appendHeader(opcode: Opcode.text, length: payload.count, to: &group.batch.bytes)
                group.batch.bytes.append(contentsOf: payload)
            }
            group.batch.events += 1
        }
    }

    /// Once a second: a Redis connection that is waiting for something (a command's
    /// reply, the heartbeat) and has heard nothing at all for `timeoutMillis` is
    /// stalled and is reset (it reconnects; meanwhile the server answers
    /// `unavailable` and /healthz 503) instead of hanging every op. A connection that
    /// is behind but still receiving is left alone: resetting it would only lose more.
    func checkRedis(now: UInt64, timeoutMillis: UInt64) {
        for link in [store.link, subscriber] { link.expireConnect(now: now, timeoutMillis: timeoutMillis) }
        for link in [store.link, subscriber] where link.oldestWait(now: now) > timeoutMillis && link.silence(now: now) > timeoutMillis {
            link.reset("no reply for over \(timeoutMillis) ms")
        }
        guard store.isAvailable, subscriber.isReady, heartbeatSubscribed else { return }
        if heartbeatSentAt != 0 {
            if now - heartbeatSentAt > timeoutMillis, subscriber.silence(now: now) > timeoutMillis {
                subscriber.reset("heartbeat not delivered within \(timeoutMillis) ms")
            }
            return
        }
        var args = RedisArgs()
        args.add("PUBLISH")
        args.add(heartbeatTopic)
        args.add("1")
        if store.link.send(args, { _ in }) { heartbeatSentAt = now }
    }

    /// End of the turn: every channel's batch to each of its members (one write each),
    /// and the broadcasts to everyone. (A broadcast arriving behind channel events, or
    /// the other way round, hands out what is batched first: Redis's order is kept.)
    func flushBatches() {
        flushChannelBatches()
        flushGlobalBatch()
    }

    private func flushChannelBatches() {
        for channel in batchedChannels {
            channel.batchQueued = false
            if channel.batch.events > 0 {
                var taken = channel.batch.take()
                fanOut(taken, to: channel.targets)  // a copy of the targets: members may leave while we write
                channel.batch.recycle(&taken)
            }
            if channel.seedBatch.events > 0 {
                var taken = channel.seedBatch.take()
                fanOut(taken, to: channel.seedTargets)
                channel.seedBatch.recycle(&taken)
            }
        }
        batchedChannels.removeAll(keepingCapacity: batchedChannels.count < 4_096)
    }

    /// One batch (shared bytes) to `targets`: through the send ring when there are
    /// several, else with a send each.
    @inline(__always)
    private func fanOut(_ batch: FrameBatch, to targets: ContiguousArray<Unmanaged<Connection>>) {
        let events = batch.events
        batch.bytes.withUnsafeBytes { b in
            if targets.count > 1, !ringInUse, let ring = worker.sendRing {
                fanOut(b, events: events, ring: ring, to: targets)
            } else {
                for t in targets { t._withUnsafeGuaranteedRef { $0.writeShared(b, events: events) } }
            }
        }
    }

    private func flushGlobalBatch() {
        if globalBatch.events > 0 {
            var taken = globalBatch.take()
            let events = taken.events
            // Seed connections, if any, get their envelopes from their groups (below).
            let skipSeed = !seedGroups.isEmpty
            taken.bytes.withUnsafeBytes { b in
                if !ringInUse, let ring = worker.sendRing {
                    fanOutToAll(b, events: events, ring: ring, skipSeed: skipSeed)
                } else {
                    for conn in worker.connections where conn.isOpenChat && !(skipSeed && conn.envelopeChannel != nil) {
                        conn.writeShared(b, events: events)
                    }
                }
            }
            globalBatch.recycle(&taken)
        }
        if !seedGroups.isEmpty { flushSeedGroups() }
    }

    /// Each seed group's broadcasts (in the seed envelope) to its connections.
    private func flushSeedGroups() {
        for group in seedGroups.values where group.batch.events > 0 {
            var taken = group.batch.take()
            fanOut(taken, to: group.targets)  // a copy: connections may close while we write
            group.batch.recycle(&taken, limit: 65_536)
        }
    }

    /// Connections whose send is queued on the ring, by tag (the index of the send in
    /// the current submission), and which of them got a result.
    private let ringTargets = UnsafeMutablePointer<Unmanaged<Connection>>.allocate(capacity: Int(Worker.sendRingEntries))
    private let ringAnswered = UnsafeMutablePointer<Bool>.allocate(capacity: Int(Worker.sendRingEntries))
    private var ringCount = 0
    /// A fan-out is using the ring (its table above): one started from inside it (none
    /// is today) writes with send() instead of overwriting the table.
    private var ringInUse = false

    /// One batch to many connections through the send ring: every member whose socket
    /// has nothing pending gets a queued send of the shared bytes, and one system call
    /// makes up to `Worker.sendRingEntries` of them. The bytes live until the last
    /// submission returns, within the caller's `withUnsafeBytes`. Each member is
    /// visited once, so a socket never has two sends in one submission.
    private func fanOut(_ batch: UnsafeRawBufferPointer, events: Int, ring: IORing, to targets: ContiguousArray<Unmanaged<Connection>>) {
        ringInUse = true
        defer { ringInUse = false }
        var taken = 0
        for t in targets { t._withUnsafeGuaranteedRef { if queueShared($0, batch, events: events, ring) { taken += 1 } } }
        submitRing(ring, batch)
        worker.stats.deliveries += UInt64(taken * events)
    }

    private func fanOutToAll(_ batch: UnsafeRawBufferPointer, events: Int, ring: IORing, skipSeed: Bool) {
        ringInUse = true
        defer { ringInUse = false }
        var taken = 0
        for conn in worker.connections where conn.isOpenChat && !(skipSeed && conn.envelopeChannel != nil) {
            if queueShared(conn, batch, events: events, ring) { taken += 1 }
        }
        submitRing(ring, batch)
        worker.stats.deliveries += UInt64(taken * events)
    }

    /// One member's share of a ring fan-out: queued when its socket has nothing
    /// pending (true: the caller counts its deliveries).
    @inline(__always)
    private func queueShared(_ conn: Connection, _ batch: UnsafeRawBufferPointer, events: Int, _ ring: IORing) -> Bool {
        // A full ring is submitted before this member is looked at: handling those
        // results can add to its output (another channel's batch, when a member that
        // failed leaves), and its send must then queue behind, not go first.
        if ringCount == Int(Worker.sendRingEntries) { submitRing(ring, batch) }
        guard conn.acceptShared(batch, events: events) else { return false }
        guard ring.queueSend(fd: conn.fd, batch, tag: UInt64(ringCount)) else {  // the ring failed
            worker.stats.bytesOut += UInt64(conn.sharedSent(batch, result: conn.sendNow(batch)))
            return true
        }
        ringTargets[ringCount] = .passUnretained(conn)
        ringCount += 1
        return true
    }

    /// Makes the queued sends and hands each connection its result. False when the
    /// kernel refused the submission: then the sends without a result are made with
    /// send() here, and the worker stops using the ring.
    @discardableResult
    private func submitRing(_ ring: IORing, _ batch: UnsafeRawBufferPointer) -> Bool {
        let queued = ringCount
        guard queued > 0 else { return true }
        ringCount = 0
        ringAnswered.initialize(repeating: false, count: queued)
        let targets = ringTargets, answered = ringAnswered
        var bytes = 0
        let error = ring.submit { tag, result in
            answered[Int(tag)] = true
            bytes += targets[Int(tag)]._withUnsafeGuaranteedRef { $0.sharedSent(batch, result: Int(result)) }
        }
        worker.stats.ringSubmits += 1
        guard error != 0 else {
            worker.stats.ringSends += UInt64(queued)
            worker.stats.bytesOut += UInt64(bytes)
            return true
        }
        worker.dropSendRing(error)
        for k in 0..<queued {
            if answered[k] { worker.stats.ringSends += 1; continue }
            bytes += targets[k]._withUnsafeGuaranteedRef { $0.sharedSent(batch, result: $0.sendNow(batch)) }
        }
        worker.stats.bytesOut += UInt64(bytes)
        return false
    }

    /// The frame of a quiet join notice as the stream stores it, for its joiner (in the
    /// seed envelope for a seed member).
    private func quietNotice(channel: LocalChannel, nickname: String, appended: ChatStore.Appended, seed: Bool) -> [UInt8] {
        let json = QuietNotice.notice(id: appended.id, bodyPrefix: ServerEvents.presenceBodyPrefix(joined: true, channel: channel.name, nickname: nickname),
                                      count: appended.count ?? 0)
        var frame: [UInt8] = []
        json.withUnsafeBytes {
            if !seed || !SeedEnvelope.appendFrame(event: $0, channel: channel.name, to: &frame) {
                FrameEncoder.appendFrame(opcode: Opcode.text, payload: $0, to: &frame)
            }
        }
        return frame
    }

    /// Once a second: channels that saw quiet joins or leaves get a count update.
    func publishCounts() {
        guard store.isAvailable else { return }
        for channel in channels.values where channel.quietSince {
            channel.quietSince = false
            store.publishCount(channel.keys, eventPrefix: ServerEvents.countEventPrefix(channel: channel.name)) {
                channel.quietSince = true  // due but too soon: ask again next second
            }
        }
    }

    private func isHeartbeat(_ topic: UnsafeRawBufferPointer) -> Bool {
        heartbeatTopic.withUnsafeBytes { $0.elementsEqual(topic) }
    }

    private func isGlobal(_ topic: UnsafeRawBufferPointer) -> Bool {
        globalKeys.topic.withUnsafeBytes { $0.elementsEqual(topic) }
    }

    /// `general` from `<prefix>:{general}:pub`.
    private func channelName(_ topic: UnsafeRawBufferPointer) -> String? { store.keyspace.channelName(topic: topic) }
}

extension Connection {
    /// The channel of a `/chat/join` connection.
    var seedChannel: String? {
        if case .seed(let channel) = endpoint { return channel }
        return nil
    }
}
