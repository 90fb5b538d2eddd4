import ChatCore

/// A connection's place in a channel. Its join is a `JoinMachine` (ChatCore): the
/// coordinator (JoinCoordinator.swift) feeds it events and performs its actions.
final class Membership {
    let channel: LocalChannel
    let connection: Connection
    /// A `/chat/join` connection's: it reads events in the seed server's envelope, so it
    /// is in `channel.seedMembers`, not `members` (see LocalChannel).
    let seed: Bool
    /// The join's state, held sends, queued leave and password round trips.
    var join: JoinMachine
    var state: JoinMachine.State { join.state }
    /// Index in `channel.members` (`seedMembers` for a seed member) while active.
    var index = -1
    /// The `ref` of the join op, echoed in the `joined` reply.
    let joinRef: Ref?
    /// Replay, password and the like, from the join op.
    let options: JoinOptions
    /// The nickname's folded form, unique in the channel.
    let folded: String
    /// Holds one of the process's history-read slots for its replay.
    var holdsReplaySlot = false

    /// This membership's field in the channel's Redis member hash,
    /// `<instance>:<connection>:<join>`: unique per join, so that a join, leave and
    /// join again in quick succession are three independent updates.
    let field: String

    init(
        channel: LocalChannel, connection: Connection, joinRef: Ref?, field: String, folded: String,
        options: JoinOptions
    ) {
        self.channel = channel
        self.connection = connection
        self.joinRef = joinRef
        self.field = field
        self.folded = folded
        self.options = options
        self.seed = connection.envelopeChannel != nil
        self.join = JoinMachine(options: options)
    }

    var entry: MemberEntry { MemberEntry(field: field, channel: channel.name, nickname: connection.nickname) }
}

/// This worker's view of one channel: the local members, the state of the
/// subscription to the channel's topic, and the joins in progress.
final class LocalChannel {
    enum Subscription {
        case none
        /// SUBSCRIBE sent, confirmation pending.
        case pending
        case active
        /// UNSUBSCRIBE sent; if members arrive meanwhile, subscribe again after it.
        case leaving
    }

    let name: String
    let keys: ChannelKeys
    var subscription: Subscription = .none
    /// Members that receive the channel's messages, swap-removed by index.
    var members: ContiguousArray<Membership> = []
    /// Members on `/chat/join` connections, which read every event in the seed server's
    /// envelope (`SeedEnvelope`): kept apart with a batch of their own, so that a
    /// channel's events are put in that envelope once per worker, and only in a channel
    /// that has such members: a channel without them pays nothing for it.
    var seedMembers: ContiguousArray<Membership> = []
    /// Joins waiting for the subscription (or, subscribed, for Redis to take more
    /// commands: then `heldForRedis`).
    var waiting: [Membership] = []
    var heldForRedis = false
    /// The password hash members joined with, when the channel is protected: written
    /// back if Redis loses the channel's settings (fail closed).
    var passwordHash = ""
    /// Join scripts sent and not yet answered.
    var joinsInFlight = 0
    /// Joins whose password is being checked off the loop.
    var authorizing = 0
    /// The frames delivered while joins are in flight, and the latest id (JoinSeam.swift).
    var seam = JoinSeam()
    /// Joiners whose reply came before their notice, in join-id order.
    private(set) var activating = ActivationList<Membership>()

    init(name: String, keys: ChannelKeys) {
        self.name = name
        self.keys = keys
    }

    var hasMembers: Bool { !members.isEmpty || !seedMembers.isEmpty }

    var isUnused: Bool {
        members.isEmpty && seedMembers.isEmpty && waiting.isEmpty && joinsInFlight == 0 && authorizing == 0
            && replayWaiters == 0 && !hasActivating
    }
    /// Joins waiting for a history-read slot.
    var replayWaiters = 0

    /// Whether events must be looked at by id (joins in progress).
    var tracksIDs: Bool { joinsInFlight > 0 || hasActivating }

    var hasActivating: Bool { !activating.isEmpty }

    /// `notice`: the joiner's own (quiet) notice frame, delivered to it on activation.
    func waitForNotice(_ m: Membership, from id: StreamID, notice: [UInt8]?) {
        activating.add(m, from: id, notice: notice)
    }

    func stopWaiting(_ m: Membership) {
        activating.remove(m)
    }

    /// Events that arrived this loop turn, framed, written to every member at the end
    /// of the turn (`Delivery.flushBatches`).
    var batch = FrameBatch()
    var batchQueued = false
    /// The same events in the seed envelope, for `seedMembers` (empty without them).
    var seedBatch = FrameBatch()

    /// Gives the pending batch to the current members now (through their output
    /// buffers): called before the member list changes, so that a joiner never gets
    /// what came before its join and a leaver gets everything up to its leave.
    func commitBatch() {
        if batch.events > 0 {
            var taken = batch.take()
            taken.bytes.withUnsafeBytes { b in
                for m in members { m.connection.deliver(frame: b, events: taken.events) }
            }
            batch.recycle(&taken)
        }
        if seedBatch.events > 0 {
            var taken = seedBatch.take()
            taken.bytes.withUnsafeBytes { b in
                for m in seedMembers { m.connection.deliver(frame: b, events: taken.events) }
            }
            seedBatch.recycle(&taken)
        }
    }

    /// The members' connections, index for index with `members`, unretained: the
    /// fan-out loop then touches no reference counts (the memberships keep the
    /// connections alive).
    private(set) var targets: ContiguousArray<Unmanaged<Connection>> = []
    /// The same for `seedMembers`.
    private(set) var seedTargets: ContiguousArray<Unmanaged<Connection>> = []

    func addMember(_ m: Membership) {
        commitBatch()
        if m.seed {
            m.index = seedMembers.count
            seedMembers.append(m)
            seedTargets.append(.passUnretained(m.connection))
        } else {
            m.index = members.count
            members.append(m)
            targets.append(.passUnretained(m.connection))
        }
    }

    func removeMember(_ m: Membership) {
        commitBatch()
        if m.seed {
            Self.remove(m, from: &seedMembers, &seedTargets)
        } else {
            Self.remove(m, from: &members, &targets)
        }
    }

    /// Swap-removes `m` from a member list and its targets.
    private static func remove(
        _ m: Membership, from members: inout ContiguousArray<Membership>,
        _ targets: inout ContiguousArray<Unmanaged<Connection>>
    ) {
        let i = m.index
        guard i >= 0, i < members.count, members[i] === m else { return }
        let last = members.removeLast()
        let lastTarget = targets.removeLast()
        if i < members.count {
            members[i] = last
            targets[i] = lastTarget
            last.index = i
        }
        m.index = -1
    }

    /// A quiet join or leave was seen since the last count update.
    var quietSince = false

    /// Before an event with `id` is delivered: joiners waiting for their notice
    /// (which has the join's id) become members when it (or anything later) arrives;
    /// a quiet joiner gets its own notice then.
    func activate(upTo id: StreamID) {
        while let (m, notice) = activating.popReady(upTo: id) {
            _ = m.join.handle(.noticeArrived)  // no actions: activating → active
            addMember(m)
            notice?.withUnsafeBytes { m.connection.deliver(frame: $0) }
        }
    }

    /// After an event is delivered while ids are tracked (`seam`). `seed`: the event's
    /// seed envelope frame, when seed members made one.
    @inline(__always)
    func record(_ id: StreamID, frame: UnsafeRawBufferPointer, seed: [UInt8]? = nil, quiet: Bool) {
        seam.record(id, frame: frame, seed: seed, quiet: quiet, keep: joinsInFlight > 0)
    }
}
