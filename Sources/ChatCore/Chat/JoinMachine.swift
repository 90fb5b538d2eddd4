/// The join of one membership, from the `join` op to a member (or a refusal), as a state
/// machine: the server's join coordinator (ChatServer/Chat/JoinCoordinator.swift) feeds
/// it what happened — its turn came, Redis answered, the password was checked, the
/// client left or sent — and performs the actions it returns, in order. Nothing here
/// touches a socket, Redis or a clock, so every sequence and race is a unit test
/// (Tests/ChatCoreTests/JoinMachineTests.swift).
///
/// The path of a join:
///
/// ```
/// waitingForSubscription ─turn─▶ [waitingForReplay ─historyTurn─▶] joining ─replied(.joined)─▶
///     answerJoined, replayed(caughtUp) ─▶ active (the seam had its notice)
///                                       | activating ─noticeArrived─▶ active
/// joining ─replied(.verify/.claim)─▶ authorizing ─passwordChecked─▶ proceed (the script runs again)
/// joining ─replied(.new)─▶ channelCreation(allowed) ─▶ proceed
/// ```
///
/// Resources shared by all joins stay with the coordinator: the channel's line for its
/// subscription, the history-read slots, the leave queue, the hasher, the allowances.
/// The machine asks for them (`askHistorySlot`, `askPasswordAttempt`, …) and is told the
/// answer as an event. Actions that need an answer say which event brings it.
public struct JoinMachine: Sendable {
    public enum State: Equatable, Sendable {
        /// In its channel's line: the worker is not yet subscribed to the channel's
        /// topic, or Redis takes no more commands now (and the initial state).
        case waitingForSubscription
        /// Waits for a history-read slot: a join with a replay (`since`/`history`).
        case waitingForReplay
        /// The join script is in flight.
        case joining
        /// The password is being checked or hashed (off the loop); the join script
        /// runs again after.
        case authorizing
        /// Joined, but the subscriber connection has not yet delivered the join
        /// notice: becomes a member when it does (`noticeArrived`).
        case activating
        /// Receives the channel's messages.
        case active
        /// Left (or the connection closed) while the join script was in flight: its
        /// leave follows the script on the same connection; the reply ends the join.
        case cancelled
        case gone
    }

    public enum Action: Equatable, Sendable {
        /// Get in the channel's line (subscribe it, or wait for Redis to take commands);
        /// the line calls `turn` when it moves.
        case waitForChannel
        /// Out of the channel's line (left before its turn).
        case leaveChannelLine
        /// Ask for a history-read slot; answer: `historySlot(granted:)`.
        case askHistorySlot
        /// No slot now: wait in the history-read line; `historyTurn` when it comes.
        case waitForHistoryTurn
        /// Out of the history-read line (dropped before its turn).
        case leaveHistoryLine
        /// The history-read slot this join holds, if any, goes to the next.
        case releaseHistorySlot
        /// Run the join script; answer: `replied`.
        case runScript(Script)
        /// Run the leave script for this membership (right behind its join script, if
        /// one is in flight); `ack`: the client asked, and gets `left` with `ref`.
        case sendLeave(ack: Bool, ref: Ref?)
        /// Look whether the join can run now; answer: `proceed(Readiness)`.
        case proceed
        /// Ask the address's password-attempt allowance and count the connection's
        /// checks running; answer: `passwordAttempt(allowed:checksRunning:)`.
        case askPasswordAttempt
        /// Ask the address's new-channel allowance; answer: `channelCreation(allowed:)`.
        case askChannelCreation
        /// Check or hash off the loop; answer: `passwordChecked`, or `passwordCheckRefused`
        /// if the hasher is full.
        case checkPassword(PasswordJob)
        /// The join script counted the check as a wrong password: take it back.
        case forgiveWrongPassword
        /// The channel is protected by this hash: remember it (written back if Redis
        /// loses the channel's settings).
        case rememberPassword(hash: String)
        /// Refused: out of the connection's channels, and the error to the join's `ref`.
        case refuse(Refusal)
        /// A `/chat/join` connection closes after its refused join (others: nothing).
        case closeSeedConnection(Refusal)
        /// Each held message gets `not_joined`.
        case dropHeld([HeldSend])
        /// The `left` reply (no count) to a leave that waited for this join.
        case answerLeft(ref: Ref?)
        /// `not_joined` to the join's `ref`: left before the join could happen.
        case answerLeftMeanwhile
        /// The `joined` reply. `replay`: with the history, then `replayed(caughtUp:)`
        /// (whether the channel already delivered the join notice). Without: the join
        /// happened but was left meanwhile (the leave answers next).
        case answerJoined(replay: Bool)
        /// A member now; the seam's events from the join id on go to it first.
        case enterFromSeam
        /// Wait for the join notice to come through (`noticeArrived`).
        case awaitNotice
        /// Publish these messages (sent while joining, or now).
        case publish([HeldSend])
        /// Out of the channel's members (a leave).
        case leaveMembers
        /// Out of the channel's activation list (a leave).
        case stopActivating
        /// The script's outcome is unknown: make sure Redis keeps no member hash entry.
        case forgetMember
        /// A send not taken.
        case refuseSend(ref: Ref?, SendRefusal)
    }

    public enum Event: Equatable, Sendable {
        /// Whether the join can run now (the start, and after `proceed`).
        case proceed(Readiness)
        /// The channel's line moved to this join (subscribed, or Redis relieved).
        case turn(Turn)
        /// Answer to `askHistorySlot`.
        case historySlot(granted: Bool)
        /// A history-read slot came for a join waiting for one.
        case historyTurn(redisReady: Bool, Turn)
        /// The channel's subscription was lost while the join waited in its line.
        case storageLost
        case replied(Reply)
        case passwordAttempt(allowed: Bool, checksRunning: Int)
        case channelCreation(allowed: Bool)
        case passwordChecked(PasswordResult)
        case passwordCheckRefused
        /// The `joined` reply and history went out; `caughtUp`: the channel has already
        /// delivered the join notice (the seam holds what followed).
        case replayed(caughtUp: Bool)
        /// The join notice came through the subscriber connection.
        case noticeArrived
        /// The client left (`ack`), or its connection closed.
        case leave(ack: Bool, ref: Ref?)
        case send(HeldSend)
    }

    /// Messages held per joining membership.
    public static let heldSendLimit = 64
    /// Password checks or hashes one connection may have running at once.
    public static let passwordChecksPerConnection = 4
    /// Join scripts one join may run (a password that keeps changing asks again).
    public static let scriptRunLimit = 4

    public private(set) var state: State = .waitingForSubscription
    /// Messages sent before the join completed.
    public private(set) var held: [HeldSend] = []
    /// A leave that came while the join waited (its line, a history turn, a password
    /// check): the join is made all the same and the leave right behind it, so each op
    /// gets its reply, in order.
    public private(set) var leaveQueued = false
    public private(set) var leaveRef: Ref?
    /// Left by the client (not closed) while the script was in flight: the join, if it
    /// happened, is acknowledged before the leave.
    public private(set) var ackLeave = false
    /// Join scripts run.
    public private(set) var attempts = 0
    public private(set) var verifiedHash = ""
    public private(set) var newPassword: String
    public private(set) var mayCreate = false
    private let password: String?
    private let wantsReplay: Bool
    /// The check asked for (`askPasswordAttempt`), then running (`authorizing`).
    private var job: PasswordJob?

    public init(options: JoinOptions) {
        password = options.password
        newPassword = options.password == nil ? "" : "?"
        wantsReplay = options.since != nil || (options.history ?? 0) > 0
    }

    /// A join that is a member, or about to be one (its join went through).
    public var isMember: Bool { state == .active || state == .activating }

    /// The next step for `event`, as actions to perform in order.
    public mutating func handle(_ event: Event) -> [Action] {
        switch event {
        case .proceed(let readiness): return proceed(readiness)
        case .turn(let turn):
            guard state == .waitingForSubscription else { return [] }
            return start(turn)
        case .historySlot(let granted):
            if granted { return runScript() }
            state = .waitingForReplay
            return [.waitForHistoryTurn]
        case .historyTurn(let redisReady, let turn):
            guard state == .waitingForReplay else { return [.releaseHistorySlot] }
            guard redisReady else { return [.releaseHistorySlot] + refuse(.unavailable) }
            return start(turn)
        case .storageLost:
            guard state == .waitingForSubscription else { return [] }
            return refuse(.unavailable)
        case .replied(let reply): return replied(reply)
        case .passwordAttempt(let allowed, let checksRunning):
            guard let job, state == .joining else { return [] }
            guard allowed else { return refuse(.tooManyPasswordAttempts) }
            guard checksRunning < Self.passwordChecksPerConnection else { return refuse(.tooManyPasswordChecks) }
            state = .authorizing
            return [.checkPassword(job)]
        case .channelCreation(let allowed):
            guard state == .joining else { return [] }
            guard allowed else { return refuse(.tooManyNewChannels) }
            mayCreate = true
            return [.proceed]
        case .passwordCheckRefused:
            guard state == .authorizing else { return [] }
            return refuse(.checksBusy)
        case .passwordChecked(let result): return checked(result)
        case .replayed(let caughtUp):
            guard state == .joining else {  // the replay found the client too slow: it closed
                state = .gone
                return drop()
            }
            state = caughtUp ? .active : .activating
            let sends = held
            held = []
            return [caughtUp ? .enterFromSeam : .awaitNotice] + (sends.isEmpty ? [] : [.publish(sends)])
        case .noticeArrived:
            if state == .activating { state = .active }
            return []
        case .leave(let ack, let ref): return leave(ack: ack, ref: ref)
        case .send(let message): return send(message)
        }
    }

    private mutating func proceed(_ readiness: Readiness) -> [Action] {
        guard state == .waitingForSubscription || state == .joining || state == .authorizing else { return [] }
        switch readiness {
        case .unavailable: return refuse(.unavailable)
        case .later:
            state = .waitingForSubscription
            return [.waitForChannel]
        case .now(let turn): return start(turn)
        }
    }

    /// Its turn: the script runs now, unless the join is over or must wait for a
    /// history-read slot.
    private mutating func start(_ turn: Turn) -> [Action] {
        // Left, then closed, before its join could start: nobody is left to answer.
        if leaveQueued && !turn.connectionOpen {
            state = .gone
            return [.releaseHistorySlot]
        }
        if turn.leavesWaiting { return [.releaseHistorySlot] + refuse(.catchingUp) }
        // A join left before its turn reads no history.
        if wantsReplay && !leaveQueued && !turn.holdsHistorySlot { return [.askHistorySlot] }
        return runScript()
    }

    private mutating func runScript() -> [Action] {
        state = .joining
        attempts += 1
        var actions: [Action] = [
            .runScript(
                Script(
                    replay: wantsReplay && !leaveQueued, verifiedHash: verifiedHash,
                    newPassword: newPassword, mayCreate: mayCreate))
        ]
        if leaveQueued {
            // Joined and left at once: the leave goes right behind the script.
            state = .cancelled
            ackLeave = true
            actions.append(.sendLeave(ack: true, ref: leaveRef))
        }
        return actions
    }

    private mutating func replied(_ reply: Reply) -> [Action] {
        guard state == .joining || state == .cancelled else { return [] }
        if state == .cancelled {
            switch reply {
            case .joined(let protected):
                // The join happened: acknowledged (every op gets its reply); the leave
                // that undoes it is already in Redis behind it and answers next.
                state = .gone
                return remember(protected) + (ackLeave ? [.answerJoined(replay: false)] : []) + drop()
            case .failed:
                state = .gone
                return [.forgetMember] + drop()
            default:
                // Did not happen (a password to check, a taken nickname): answered so,
                // and the leave (already sent) found nothing and answers next.
                state = .gone
                return (ackLeave ? [.answerLeftMeanwhile] : []) + drop()
            }
        }
        switch reply {
        case .joined(let protected):
            return remember(protected) + [.answerJoined(replay: true)]
        case .failed:
            return [.forgetMember] + refuse(.unavailable)
        case .nicknameTaken:
            return refuse(.nicknameTaken)
        case .passwordLimited(let wait):
            return refuse(.passwordLimited(waitMillis: wait))
        case .verify(let hash):
            guard attempts < Self.scriptRunLimit else { return refuse(.passwordKeepsChanging) }
            if hash.isEmpty {  // the password was removed since we checked it
                verifiedHash = ""
                return [.proceed]
            }
            guard let password else { return refuse(.needsPassword) }
            job = .verify(password: password, hash: hash)
            return [.askPasswordAttempt]
        case .new:
            // A new channel lives in Redis for CHANNEL_TTL: its creation counts.
            guard attempts < Self.scriptRunLimit else { return refuse(.tooManyNewChannels) }
            return [.askChannelCreation]
        case .claim:
            guard let password, attempts < Self.scriptRunLimit else { return refuse(.cannotSetPassword) }
            job = .hash(password: password)  // costly on purpose: counted like a check
            return [.askPasswordAttempt]
        }
    }

    private mutating func checked(_ result: PasswordResult) -> [Action] {
        // The script counted the check as wrong; a right one is taken back, even if
        // the client left meanwhile.
        let forgive: [Action] = result == .verified(true) ? [.forgiveWrongPassword] : []
        guard state == .authorizing, let job else { return forgive }  // left (or closed) meanwhile
        self.job = nil
        switch result {
        case .verified(true):
            if case .verify(_, let hash) = job { verifiedHash = hash }
            return forgive + [.proceed]
        case .verified(false):
            return refuse(.wrongPassword)
        case .hashed(let hash?):
            newPassword = hash
            return [.proceed]
        case .hashed(nil):
            return refuse(.hashFailed)
        }
    }

    private mutating func leave(ack: Bool, ref: Ref?) -> [Action] {
        switch state {
        case .waitingForSubscription, .authorizing, .waitingForReplay:
            if ack {
                // The leave waits for its join, which goes on.
                guard !leaveQueued else { return [] }
                leaveQueued = true
                leaveRef = ref
                return []
            }
            let line: [Action] =
                state == .waitingForSubscription
                ? [.leaveChannelLine]
                : state == .waitingForReplay ? [.leaveHistoryLine] : []  // a check finishes and finds it gone
            state = .gone
            job = nil
            return line
        case .joining:
            // The script is on its way to Redis: the leave follows it at once on the same
            // connection, so Redis runs the two in order, and their replies come so.
            state = .cancelled
            ackLeave = ack
            return [.sendLeave(ack: ack, ref: ref)]
        case .active:
            state = .gone
            return [.leaveMembers, .sendLeave(ack: ack, ref: ref)]
        case .activating:
            state = .gone
            return [.stopActivating, .sendLeave(ack: ack, ref: ref)]
        case .cancelled, .gone:
            return []
        }
    }

    private mutating func send(_ message: HeldSend) -> [Action] {
        switch state {
        case .waitingForSubscription, .waitingForReplay, .joining, .authorizing:
            guard held.count < Self.heldSendLimit else { return [.refuseSend(ref: message.ref, .overLimit)] }
            held.append(message)
            return []
        case .activating, .active:
            return [.publish([message])]
        case .cancelled, .gone:
            return [.refuseSend(ref: message.ref, .notJoined)]
        }
    }

    /// The refusal sequence: the error, the held messages dropped, the waiting leave
    /// answered, then (seed endpoint) the close.
    private mutating func refuse(_ refusal: Refusal) -> [Action] {
        state = .gone
        job = nil
        var actions: [Action] = [.refuse(refusal)] + drop()
        if leaveQueued { actions.append(.answerLeft(ref: leaveRef)) }
        actions.append(.closeSeedConnection(refusal))
        return actions
    }

    private mutating func drop() -> [Action] {
        guard !held.isEmpty else { return [] }
        let dropped = held
        held = []
        return [.dropHeld(dropped)]
    }

    private func remember(_ protected: Bool) -> [Action] {
        guard protected else { return [] }
        let hash = verifiedHash.isEmpty ? newPassword : verifiedHash
        return hash.count > 1 ? [.rememberPassword(hash: hash)] : []
    }
}
