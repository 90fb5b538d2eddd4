/// Frames gathered during one loop turn for one set of recipients — a channel's
/// members, its seed members, everyone, a seed group — encoded once and handed out at
/// the end of the turn (or before a membership change).
struct FrameBatch {
    /// Whole frames, back to back.
    var bytes: [UInt8] = []
    /// Events in them (for the delivery counts).
    var events = 0

    /// The frames, taken out before they are handed out: a recipient found too slow
    /// meanwhile leaves its channel, which hands out again, and must find nothing left.
    mutating func take() -> FrameBatch {
        var taken = FrameBatch()
        swap(&taken, &self)
        return taken
    }

    /// Gives a handed-out buffer's capacity back for the next turn, unless something
    /// was batched meanwhile or the buffer grew past `limit`.
    mutating func recycle(_ taken: inout FrameBatch, limit: Int = 262_144) {
        guard bytes.isEmpty, taken.bytes.capacity <= limit else { return }
        taken.bytes.removeAll(keepingCapacity: true)
        swap(&bytes, &taken.bytes)
    }
}
