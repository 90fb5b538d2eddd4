import ChatCore

/// Leaves that Redis has not taken yet: a member who left (or whose connection closed)
/// while the command link was down or congested, and removals redone after a join or
/// leave whose outcome is unknown. A leave is never dropped — it would leave a ghost
/// (a member in the channel's hash, its nickname taken, the count wrong) until the
/// instance restarts. They are sent in order as the link allows: when it is relieved,
/// when it is ready again, and once a second.
///
/// Bounded by the memberships this process can hold: while any leave waits, no join is
/// sent (the join machine answers `unavailable`), so every waiting leave belongs to a
/// distinct membership that existed when the queue stopped being empty — at most
/// `connections × MAX_CHANNELS_PER_CONNECTION`.
struct LeaveQueue {
    struct Leave {
        let keys: ChannelKeys
        let entry: MemberEntry
        let folded: String
    }

    private var waiting = FrontQueue<Leave>()
    let capacity: Int

    init(capacity: Int) { self.capacity = max(capacity, 1) }

    var isEmpty: Bool { waiting.isEmpty }
    var count: Int { waiting.count }

    /// Queues a leave; false only if the bound above was broken (a bug: the oldest is
    /// then given up so that memory stays bounded).
    mutating func append(_ leave: Leave) -> Bool {
        var kept = true
        if waiting.count >= capacity {
            _ = waiting.popFirst()
            kept = false
        }
        waiting.append(leave)
        return kept
    }

    /// Takes leaves off the front while `send` accepts them (it returns false when the
    /// link cannot take one now: the leave stays first).
    mutating func drain(_ send: (Leave) -> Bool) {
        while let next = waiting.first, send(next) { _ = waiting.popFirst() }
    }
}
