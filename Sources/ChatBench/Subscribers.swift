import ChatCore
import EventIO
import Glibc

/// The subscribers of one process: connects them (a bounded number at a time),
/// subscribes them, and measures what they receive.
final class Subscribers: BenchConnectionOwner {
    let options: BenchOptions
    let loop: EventLoop
    let indices: [Int]
    private var connections: [BenchConnection] = []
    private var nextToStart = 0
    private var connecting = 0
    private let endpoint: Endpoint
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 262_144, alignment: 16)
    /// io_uring reads (`--reads ring`), when the kernel allows them.
    let batchReader: BatchReader?
    private let readyMarker: [UInt8]
    private(set) var connected = 0
    private(set) var ready = 0
    private(set) var delivered: UInt64 = 0
    private(set) var duplicates: UInt64 = 0
    private(set) var failures = 0
    private(set) var firstError = ""
    var histogram = LatencyHistogram()
    /// Measuring only between start and stop of the publishing window.
    var measuring = false
    var onAllReady: (() -> Void)?
    /// Every subscriber is ready or failed, and some failed: waiting cannot help.
    var onSettledWithFailures: (() -> Void)?

    init(options: BenchOptions, loop: EventLoop, indices: [Int]) {
        self.options = options
        self.loop = loop
        self.indices = indices
        self.endpoint = Endpoint(options.expand(options.url, index: 0, channel: 0))!
        self.readyMarker = Array(options.ready.utf8)
        self.batchReader = options.ringReads ? BatchReader(loop: loop) : nil
        connections.reserveCapacity(indices.count)
    }

    func start() {
        if indices.isEmpty {
            onAllReady?()
            return
        }
        startMore()
    }

    private var starting = false

    private func startMore() {
        guard !starting else { return }  // failures while starting come back here
        starting = true
        defer { starting = false }
        while connecting < options.connectConcurrency, nextToStart < indices.count {
            let i = indices[nextToStart]
            nextToStart += 1
            let channel = i % options.channels
            let c = BenchConnection(
                index: i, channel: channel, loop: loop, buffer: buffer, batchReader: batchReader, owner: self,
                path: Endpoint(options.expand(options.url, index: i, channel: channel))!.path)
            connections.append(c)
            let s = options.sourceBase
            let source = (s.0, s.1, s.2, s.3 &+ UInt8(truncatingIfNeeded: i / options.perSource))
            let port = UInt16(Self.firstSourcePort + i % options.perSource)
            connecting += 1
            if let error = c.connect(to: endpoint, from: source, port: port) { failed(c, error) }
        }
    }

    func opened(_ c: BenchConnection) {
        connected += 1
        if options.join.isEmpty {
            markReady(c)
        } else {
            c.sendText(Array(options.expand(options.join, index: c.index, channel: c.channel).utf8))
            if readyMarker.isEmpty { markReady(c) }
        }
    }

    private func markReady(_ c: BenchConnection) {
        guard !c.isReady else { return }
        c.isReady = true
        ready += 1
        connecting -= 1
        startMore()
        if ready == indices.count { onAllReady?() }
    }

    func message(_ c: BenchConnection, _ payload: UnsafeRawBufferPointer, now: UInt64) {
        if !c.isReady {
            if Self.contains(payload, readyMarker) { markReady(c) }
            return
        }
        guard measuring, let (sentAt, seq) = Payload.parse(payload) else { return }
        if Int64(seq) <= c.lastSeq {
            duplicates += 1
            return
        }
        c.lastSeq = Int64(seq)
        delivered += 1
        histogram.record(now > sentAt ? (now - sentAt) / 1_000 : 0)
    }

    func failed(_ c: BenchConnection, _ reason: String) {
        failures += 1
        if firstError.isEmpty { firstError = "subscriber \(c.index): \(reason)" }
        if ready + failures >= indices.count { onSettledWithFailures?() }
        if !c.isReady {
            connecting -= 1
            startMore()
        }
    }

    /// Source ports are 20000 + (index mod per-source); 127.0.0.x addresses other than
    /// 127.0.0.1 are used only by this tool, so these ports are free on them.
    static let firstSourcePort = 20_000

    static func contains(_ hay: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, hay.count >= needle.count else { return needle.isEmpty }
        let first = needle[0]
        for i in 0...(hay.count - needle.count) where hay[i] == first {
            var k = 1
            while k < needle.count && hay[i + k] == needle[k] { k += 1 }
            if k == needle.count { return true }
        }
        return false
    }

    func closeAll() { for c in connections { c.close() } }
}
