import EventIO
import Glibc

/// The subscribers' reads through io_uring: a socket that libevent reports readable
/// gets a queued `recv` into a slot of its own, and at the end of the loop turn one
/// system call makes them all. With thousands of sockets each getting one small
/// message, one `read()` per socket made the tool the bottleneck (W2); this takes the
/// per-read system call away and leaves the same work in the kernel otherwise.
/// `--reads read` keeps one `read()` per socket.
final class BatchReader {
    static let slots = 1_024
    /// A socket holding more than a slot is reported readable again next turn.
    static let slotBytes = 16_384

    private let ring: IORing
    private let arena: UnsafeMutableRawBufferPointer
    private var queued: [Unmanaged<BenchConnection>] = []
    /// The batch being completed (swapped with `queued`, so a turn allocates nothing)
    /// and which of its reads got a result.
    private var batch: [Unmanaged<BenchConnection>] = []
    private var answered = [Bool](repeating: false, count: slots)
    private var endOfTurn: LoopEvent!
    private(set) var isBroken = false
    /// Reads made through the ring (reported as `ring_reads`).
    private(set) var reads: UInt64 = 0

    /// nil where the kernel does not allow io_uring (then the tool reads with read()).
    init?(loop: EventLoop) {
        var error: Int32 = 0
        guard let ring = IORing.make(entries: UInt32(Self.slots), error: &error) else { return nil }
        self.ring = ring
        arena = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.slots * Self.slotBytes, alignment: 64)
        queued.reserveCapacity(Self.slots)
        batch.reserveCapacity(Self.slots)
        endOfTurn = LoopEvent(loop, .deferred) { [unowned self] in self.flush() }
    }

    deinit { arena.deallocate() }

    /// Queues one read of `c` (it has no other read queued: libevent reports a socket
    /// once per turn, and the queue is flushed before the next).
    func queue(_ c: BenchConnection) -> Bool {
        if isBroken { return false }
        if queued.count == Self.slots { flush() }
        guard ring.queueRecv(fd: c.fd, into: slot(queued.count), tag: UInt64(queued.count)) else { return false }
        queued.append(.passUnretained(c))
        if queued.count == 1 { endOfTurn.trigger() }
        return true
    }

    private func slot(_ k: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: arena[(k * Self.slotBytes)..<((k + 1) * Self.slotBytes)])
    }

    /// Makes the queued reads and hands each connection what it got.
    func flush() {
        guard !queued.isEmpty, batch.isEmpty else { return }
        swap(&queued, &batch)
        defer { batch.removeAll(keepingCapacity: true) }
        for k in batch.indices { answered[k] = false }
        let error = ring.submit { tag, result in
            let k = Int(tag)
            answered[k] = true
            reads += 1
            batch[k].takeUnretainedValue().readCompleted(result: Int(result), slot(k))
        }
        if error != 0 {
            isBroken = true  // reads not made are made with read() now, and from now on
            for k in batch.indices where !answered[k] { batch[k].takeUnretainedValue().readCompleted(result: nil, nil) }
        }
    }
}
