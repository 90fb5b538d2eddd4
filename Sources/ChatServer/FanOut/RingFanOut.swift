import EventIO

/// Fan-out through the send ring (io_uring): one batch's sends to many connections
/// queued and made by one system call (docs/ARCHITECTURE.md, "The send ring"). Its
/// table of queued connections lives as long as the hub.
final class RingFanOut {
    /// Sends per ring submission (the ring's size): a channel larger than this takes several.
    static let entries: UInt32 = 1_024

    /// The connection table (broadcasts) and the ring's owner (a failed submission).
    unowned(unsafe) let runtime: any ChatRuntime
    let stats: WorkerStats

    init(runtime: any ChatRuntime, stats: WorkerStats) {
        self.runtime = runtime
        self.stats = stats
    }

    deinit {
        ringTargets.deallocate()
        ringAnswered.deallocate()
    }

    /// Connections whose send is queued on the ring, by tag (the index of the send in
    /// the current submission), and which of them got a result.
    private let ringTargets = UnsafeMutablePointer<Unmanaged<Connection>>.allocate(
        capacity: Int(RingFanOut.entries))
    private let ringAnswered = UnsafeMutablePointer<Bool>.allocate(capacity: Int(RingFanOut.entries))
    private var ringCount = 0
    /// A fan-out is using the ring (its table above): one started from inside it (none
    /// is today) writes with send() instead of overwriting the table.
    var inUse = false

    /// One batch to many connections through the send ring: every member whose socket
    /// has nothing pending gets a queued send of the shared bytes, and one system call
    /// makes up to `entries` of them. The bytes live until the last
    /// submission returns, within the caller's `withUnsafeBytes`. Each member is
    /// visited once, so a socket never has two sends in one submission.
    func fanOut(
        _ batch: UnsafeRawBufferPointer, events: Int, ring: IORing, to targets: ContiguousArray<Unmanaged<Connection>>
    ) {
        inUse = true
        defer { inUse = false }
        var taken = 0
        for t in targets {
            t._withUnsafeGuaranteedRef { if queueShared($0, batch, events: events, ring) { taken += 1 } }
        }
        submitRing(ring, batch)
        stats.deliveries += UInt64(taken * events)
    }

    func fanOutToAll(_ batch: UnsafeRawBufferPointer, events: Int, ring: IORing, skipSeed: Bool) {
        inUse = true
        defer { inUse = false }
        var taken = 0
        for conn in runtime.connections where conn.isOpenChat && !(skipSeed && conn.envelopeChannel != nil) {
            if queueShared(conn, batch, events: events, ring) { taken += 1 }
        }
        submitRing(ring, batch)
        stats.deliveries += UInt64(taken * events)
    }

    /// One member's share of a ring fan-out: queued when its socket has nothing
    /// pending (true: the caller counts its deliveries).
    @inline(__always)
    private func queueShared(_ conn: Connection, _ batch: UnsafeRawBufferPointer, events: Int, _ ring: IORing) -> Bool {
        // A full ring is submitted before this member is looked at: handling those
        // results can add to its output (another channel's batch, when a member that
        // failed leaves), and its send must then queue behind, not go first.
        if ringCount == Int(RingFanOut.entries) { submitRing(ring, batch) }
        guard conn.acceptShared(batch, events: events) else { return false }
        guard ring.queueSend(fd: conn.fd, batch, tag: UInt64(ringCount)) else {  // the ring failed
            stats.bytesOut += UInt64(conn.sharedSent(batch, result: conn.sendNow(batch)))
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
        let targets = ringTargets
        let answered = ringAnswered
        var bytes = 0
        let error = ring.submit { tag, result in
            answered[Int(tag)] = true
            bytes += targets[Int(tag)]._withUnsafeGuaranteedRef { $0.sharedSent(batch, result: Int(result)) }
        }
        stats.ringSubmits += 1
        guard error != 0 else {
            stats.ringSends += UInt64(queued)
            stats.bytesOut += UInt64(bytes)
            return true
        }
        runtime.dropSendRing(error)
        for k in 0..<queued {
            if answered[k] {
                stats.ringSends += 1
                continue
            }
            bytes += targets[k]._withUnsafeGuaranteedRef { $0.sharedSent(batch, result: $0.sendNow(batch)) }
        }
        stats.bytesOut += UInt64(bytes)
        return false
    }
}
