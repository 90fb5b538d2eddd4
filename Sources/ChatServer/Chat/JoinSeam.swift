import ChatCore

/// The seam between a joiner's replay and its live events (docs/ARCHITECTURE.md,
/// "Joining without gaps or extras"). A joiner must see exactly the events from its own
/// join notice on, after its `joined` reply. The reply comes on the command connection,
/// the events on the subscriber connection, in either order. So while joins are in
/// flight a channel keeps the frames that arrived (`entries`, replayed from the join id
/// when the reply comes late) and the id of the latest (`lastSeen`); a joiner whose
/// reply comes early waits in its channel's `ActivationList` until its own notice
/// arrives.
struct JoinSeam {
    /// In id order. `seed`: the frame's seed envelope, made when a seed member needed
    /// it (`seedFrame(at:channel:)`).
    private(set) var entries: [(id: StreamID, frame: [UInt8], seed: [UInt8]?)] = []
    private var bytes = 0
    /// The newest event dropped from the seam (its bounds), if any since it was cleared.
    private(set) var dropped: StreamID?
    /// The id of the latest event delivered while ids are tracked.
    var lastSeen = StreamID(milliseconds: 0, sequence: 0)
    /// Bounds: more than this arriving within one join round trip means Redis is far
    /// behind; the oldest quarter is dropped and a late joiner that needed them is told
    /// (`JoinActions.swift`, `enterFromSeam`).
    static let frameLimit = 16_384
    static let byteLimit = 8 * 1_048_576

    var count: Int { entries.count }

    /// Index of the first entry at or after `id` (binary search: O(log n) per join).
    func start(from id: StreamID) -> Int {
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].id < id { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// After an event is delivered while ids are tracked: `lastSeen` moves; the frame is
    /// kept while joins are in flight (`keep`). Quiet markers only move `lastSeen`
    /// (they are nobody's to replay: a joiner's own notice is rebuilt).
    mutating func record(_ id: StreamID, frame: UnsafeRawBufferPointer, seed: [UInt8]? = nil, quiet: Bool, keep: Bool) {
        lastSeen = id
        guard keep, !quiet else { return }
        let size = frame.count + (seed?.count ?? 0)
        if entries.count >= Self.frameLimit || bytes + size > Self.byteLimit {
            let drop = max(1, entries.count / 4)
            dropped = entries[drop - 1].id
            bytes -= entries[..<drop].reduce(0) { $0 + $1.frame.count + ($1.seed?.count ?? 0) }
            entries.removeFirst(drop)
        }
        entries.append((id, Array(frame), seed))
        bytes += size
    }

    /// The seed envelope of entry `k` (a late seed joiner's replay), made once and kept
    /// for the next seed joiner; the plain frame if its payload is not an object.
    mutating func seedFrame(at k: Int, channel: String) -> [UInt8] {
        if let seed = entries[k].seed { return seed }
        let frame = entries[k].frame
        let made = frame.withUnsafeBytes { SeedEnvelope.frame(ofFrame: $0, channel: channel) } ?? frame
        entries[k].seed = made
        bytes += made.count
        return made
    }

    /// No join in flight any more: nothing to keep.
    mutating func clear() {
        entries.removeAll()
        bytes = 0
        dropped = nil
    }
}

/// Joiners whose reply came before their join notice, waiting for it: in join-id order
/// (replies come in command order, ids grow with it), so that thousands of people
/// joining one channel at once cost O(1) each here, not a scan of everyone still joining.
struct ActivationList<Member: AnyObject> {
    /// `notice`: the joiner's own (quiet) notice frame, delivered to it on activation.
    private(set) var waiting = FrontQueue<(member: Member, from: StreamID, notice: [UInt8]?)>()

    var isEmpty: Bool { waiting.isEmpty }

    mutating func add(_ member: Member, from id: StreamID, notice: [UInt8]?) {
        if let last = waiting.last, last.from > id {
            waiting.insert((member, id, notice)) { $0.from > id }  // out of order (not expected)
        } else {
            waiting.append((member, id, notice))
        }
    }

    mutating func remove(_ member: Member) {
        waiting.removeFirst { $0.member === member }
    }

    /// The next joiner whose notice is `id` or earlier (an event with `id` arrived), out
    /// of the list; nil when there is none.
    mutating func popReady(upTo id: StreamID) -> (member: Member, notice: [UInt8]?)? {
        guard let first = waiting.first, first.from <= id else { return nil }
        _ = waiting.popFirst()
        return (first.member, first.notice)
    }
}
