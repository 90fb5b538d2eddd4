import CIORing

/// Many non-blocking `send()`s or `recv()`s on different sockets in one system call
/// (io_uring): a channel's batch written to each of its members costs one kernel entry
/// instead of one per member. Used from the event loop's thread only; `nil` from
/// `make` where the kernel has no io_uring or forbids it (containers' seccomp profiles
/// often do), and then callers use `send()`/`recv()` as before.
public final class IORing {
    private let ring: OpaquePointer

    /// A ring of `entries` operations per submission; nil with `error` set to the errno
    /// that says why not.
    public static func make(entries: UInt32, error: inout Int32) -> IORing? {
        guard let ring = chat_io_ring_create(entries, &error) else { return nil }
        return IORing(ring)
    }

    private init(_ ring: OpaquePointer) { self.ring = ring }

    deinit { chat_io_ring_destroy(ring) }

    /// Queues `send(fd, bytes)`; false when the ring is full (submit first) or broken.
    /// The bytes must stay valid until `submit()` returns.
    @inline(__always)
    public func queueSend(fd: Int32, _ bytes: UnsafeRawBufferPointer, tag: UInt64) -> Bool {
        chat_io_ring_queue_send(ring, fd, bytes.baseAddress, UInt32(bytes.count), tag) == 0
    }

    /// Queues `recv(fd, into: buffer)`, likewise.
    public func queueRecv(fd: Int32, into buffer: UnsafeMutableRawBufferPointer, tag: UInt64) -> Bool {
        chat_io_ring_queue_recv(ring, fd, buffer.baseAddress, UInt32(buffer.count), tag) == 0
    }

    public var queued: Int { Int(chat_io_ring_queued(ring)) }

    /// Makes every queued operation and hands each result to `result(tag, bytesOrMinusErrno)`.
    /// Returns 0, or the errno of a kernel refusal: then the ring must not be used again,
    /// and the operations that got no result were not made.
    public func submit(_ result: (UInt64, Int32) -> Void) -> Int32 {
        let status = chat_io_ring_submit(ring)
        var tag: UInt64 = 0
        var res: Int32 = 0
        while chat_io_ring_next(ring, &tag, &res) == 1 { result(tag, res) }
        return status < 0 ? -status : 0
    }
}
