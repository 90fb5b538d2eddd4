import ChatCore

/// A connection's place in a channel.
final class Membership {
    enum State {
        /// The worker is not yet subscribed to the channel's topic; the join waits.
        case waitingForSubscription
        /// The join script is in flight.
        case joining
        /// Receives the channel's messages.
        case active
        /// Left (or the connection closed) while the join script was in flight: the
        /// reply will undo the join.
        case cancelled
        case gone
    }

    let channel: LocalChannel
    let connection: Connection
    var state: State = .waitingForSubscription
    /// Index in `channel.members` while active.
    var index = -1
    /// The `ref` of the join op, echoed in the `joined` reply.
    var joinRef: Ref?
    /// The `ref` of a leave that arrived while joining (nil and `ackLeave` false on disconnect).
    var leaveRef: Ref?
    var ackLeave = false
    /// Messages sent while waiting for the subscription; published right after the join.
    var queued: [(text: String, ref: Ref?)] = []

    /// This connection's field in the channel's Redis member hash.
    var field: String { connection.worker.memberField(connection) }

    init(channel: LocalChannel, connection: Connection, joinRef: Ref?) {
        self.channel = channel
        self.connection = connection
        self.joinRef = joinRef
    }
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
    /// Joins waiting for the subscription.
    var waiting: [Membership] = []
    /// Join scripts sent and not yet answered.
    var joinsInFlight = 0
    /// While joins are in flight, the frames that arrived, by id: a joiner gets those
    /// from its own join notice on, so that it sees exactly what followed its join,
    /// after its `joined` reply, whatever order the two Redis connections deliver in.
    var seam: [(id: StreamID, frame: [UInt8])] = []
    static let seamLimit = 4_096

    init(name: String, keys: ChannelKeys) {
        self.name = name
        self.keys = keys
    }

    var isUnused: Bool { members.isEmpty && waiting.isEmpty && joinsInFlight == 0 }

    func addMember(_ m: Membership) {
        m.index = members.count
        m.state = .active
        members.append(m)
    }

    func removeMember(_ m: Membership) {
        let i = m.index
        guard i >= 0, i < members.count, members[i] === m else { return }
        let last = members.removeLast()
        if i < members.count {
            members[i] = last
            last.index = i
        }
        m.index = -1
    }

    func recordForSeam(_ frame: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        guard let id = StreamID.leading(payload) else { return }
        if seam.count >= Self.seamLimit { seam.removeFirst(seam.count / 2) }
        seam.append((id, Array(frame)))
    }
}
