import CSendRing

/// Many non-blocking `send()`s to different sockets in one system call (io_uring):
/// a channel's batch written to each of its members costs one kernel entry instead of
/// one per member. Used from the event loop's thread only; `nil` from `make` where
/// the kernel has no io_uring or forbids it (containers' seccomp profiles often do),
/// and then callers write with `send()` as before.
public final class SendRing {
    private let ring: OpaquePointer

    /// A ring of `entries` sends per submission; nil with `error` set to the errno
    /// that says why not.
    public static func make(entries: UInt32, error: inout Int32) -> SendRing? {
        guard let ring = chat_send_ring_create(entries, &error) else { return nil }
        return SendRing(ring)
    }

    private init(_ ring: OpaquePointer) { self.ring = ring }

    deinit { chat_send_ring_destroy(ring) }

    /// Queues `send(fd, bytes)`; false when the ring is full (submit first). The bytes
    /// must stay valid until `submit()` returns.
    public func queue(fd: Int32, _ bytes: UnsafeRawBufferPointer, tag: UInt64) -> Bool {
        chat_send_ring_queue(ring, fd, bytes.baseAddress, UInt32(bytes.count), tag) == 0
    }

    public var queued: Int { Int(chat_send_ring_queued(ring)) }

    /// Makes every queued send and hands each result to `result(tag, bytesOrMinusErrno)`.
    /// Returns 0, or the errno of a kernel refusal: then the ring must not be used again,
    /// and the sends that got no result were not made.
    public func submit(_ result: (UInt64, Int32) -> Void) -> Int32 {
        let status = chat_send_ring_submit(ring)
        var tag: UInt64 = 0
        var res: Int32 = 0
        while chat_send_ring_next(ring, &tag, &res) == 1 { result(tag, res) }
        return status < 0 ? -status : 0
    }
}
