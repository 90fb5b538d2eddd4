import CLibevent
import ChatCore
import EventIO
import Glibc

/// Publishes `rate` messages per second, round-robin over the channels, with the send
/// time in every payload: over one WebSocket in our protocol (the connection joins
/// every channel first), or by pipelined HTTP POSTs on keep-alive connections (Nchan).
final class Publisher: BenchConnectionOwner {
    let options: BenchOptions
    let loop: EventLoop
    private(set) var published: UInt64 = 0
    private(set) var acknowledged: UInt64 = 0
    /// Our own messages coming back to the WebSocket publisher (it is a member too).
    private(set) var echoes: UInt64 = 0
    /// Messages sent 2 ms or more after they were due (the 1 ms tick came late, so they
    /// went out in a burst with the ones after them): a steady rate has almost none.
    private(set) var late: UInt64 = 0
    private(set) var failures = 0
    private(set) var firstError = ""
    var onReady: (() -> Void)?
    private var joined = 0
    private var ws: BenchConnection?
    private var http: [HTTPPublishConnection] = []
    private var ticker: LoopEvent!
    private var startedAt: UInt64 = 0
    private var stopAt: UInt64 = 0
    private var onDone: (() -> Void)?
    /// Per channel: the publish op before and after the payload (WebSocket).
    private var prefixes: [[UInt8]] = []
    private var suffix: [UInt8] = []
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 262_144, alignment: 16)

    init(options: BenchOptions, loop: EventLoop) {
        self.options = options
        self.loop = loop
        // A 1 ms timer on libevent's coarse clock fires every scheduler tick (4 ms).
        precondition(loop.preciseTimers, "the publisher's loop needs precise timers")
        ticker = LoopEvent(loop, .timer(repeating: true)) { [unowned self] in self.tick() }
    }

    func start() {
        switch options.publish {
        case .websocket:
            let parts = options.publishTemplate.split(separator: "{payload}", omittingEmptySubsequences: false)
            prefixes = (0..<options.channels).map { Array(options.expand(String(parts[0]), channel: $0).utf8) }
            suffix = parts.count > 1 ? Array(parts[1].utf8) : []
            guard let endpoint = Endpoint(options.publishURL) else { return fail("bad --publish-url") }
            let c = BenchConnection(
                index: -1, channel: 0, loop: loop, buffer: buffer, batchReader: nil, owner: self, path: endpoint.path)
            ws = c
            if let e = c.connect(to: endpoint, from: nil) { fail(e) }
        case .http:
            guard let endpoint = Endpoint(options.publishURL) else { return fail("bad --publish-url") }
            for _ in 0..<4 {
                let c = HTTPPublishConnection(endpoint: endpoint, loop: loop, buffer: buffer) {
                    [unowned self] ok, error in
                    if ok { self.acknowledged += 1 } else { self.fail(error) }
                }
                if let e = c.connect() { fail(e) }
                http.append(c)
            }
            onReady?()
        case .none:
            onReady?()
        }
    }

    func opened(_ c: BenchConnection) {
        if options.join.isEmpty {
            onReady?()
            return
        }
        for k in 0..<options.channels { c.sendText(Array(options.expand(options.join, channel: k).utf8)) }
        if options.ready.isEmpty {  // no reply to wait for: ready once the joins are sent, as the subscribers are
            joined = options.channels
            onReady?()
        }
    }

    func message(_ c: BenchConnection, _ payload: UnsafeRawBufferPointer, now: UInt64) {
        if joined < options.channels {
            if !options.ready.isEmpty, Subscribers.contains(payload, Array(options.ready.utf8)) {
                joined += 1
                if joined == options.channels { onReady?() }
            }
            return
        }
        if Payload.parse(payload) != nil { echoes += 1 }
    }

    func failed(_ c: BenchConnection, _ reason: String) { fail("publisher: \(reason)") }

    private func fail(_ reason: String) {
        failures += 1
        if firstError.isEmpty { firstError = reason }
    }

    /// Publishes for `seconds`, then calls `done`.
    func run(seconds: Double, done: @escaping () -> Void) {
        startedAt = ProcStats.monotonicNanos()
        stopAt = startedAt + UInt64(seconds * 1e9)
        onDone = done
        ticker.schedule(milliseconds: 1)
    }

    private func tick() {
        let now = ProcStats.monotonicNanos()
        let due = UInt64(Double(min(now, stopAt) - startedAt) / 1e9 * options.rate)
        while published < due {
            // Message k is due once rate × elapsed reaches k + 1; a tick every 1 ms sends it
            // within a millisecond of that unless the loop was held up.
            let dueAt = startedAt + UInt64(Double(published + 1) / options.rate * 1e9)
            if now >= dueAt + 2_000_000 { late += 1 }
            let channel = Int(published % UInt64(options.channels))
            let payload = Payload.make(
                sentAt: ProcStats.monotonicNanos(), sequence: UInt32(truncatingIfNeeded: published),
                size: options.payload)
            switch options.publish {
            case .websocket: ws?.sendText(prefixes[channel] + payload + suffix)
            case .http: http[Int(published) % http.count].post(channel: options.channelName(channel), body: payload)
            case .none: break
            }
            published += 1
        }
        if now >= stopAt {
            ticker.cancel()
            onDone?()
            onDone = nil
        }
    }

    func closeAll() {
        ws?.close()
        for c in http { c.close() }
    }
}

/// A keep-alive HTTP/1.1 connection sending pipelined POSTs and counting the answers.
final class HTTPPublishConnection {
    private let endpoint: Endpoint
    private let loop: EventLoop
    private let buffer: UnsafeMutableRawBufferPointer
    private var fd: Int32 = -1
    private var watcher: FDWatcher?
    private var writer: FDWatcher?
    private var pending: [UInt8] = []
    private var input: [UInt8] = []
    private let answered: (Bool, String) -> Void
    private let pathTemplate: String

    init(
        endpoint: Endpoint, loop: EventLoop, buffer: UnsafeMutableRawBufferPointer,
        answered: @escaping (Bool, String) -> Void
    ) {
        self.endpoint = endpoint
        self.loop = loop
        self.buffer = buffer
        self.answered = answered
        self.pathTemplate = endpoint.path
    }

    func connect() -> String? {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var remote = BenchConnection.address(endpoint.address, port: endpoint.port)
        let rc = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { return "publisher connect: \(Platform.errorText(errno))" }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        watcher = FDWatcher(loop, fd: fd, read: true, write: false) { [unowned self] _, _ in self.onReadable() }
        writer = FDWatcher(loop, fd: fd, read: false, write: true) { [unowned self] _, _ in self.flush() }
        watcher?.start()
        return nil
    }

    func post(channel: String, body: [UInt8]) {
        let path = pathTemplate.replacing("{ch}", with: channel)
        pending += Array("POST \(path) HTTP/1.1\r\nHost: bench\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
        flush()
    }

    private func flush() {
        while !pending.isEmpty {
            let n = pending.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 {
                if errno == EAGAIN {
                    writer?.start()
                    return
                }
                answered(false, "publisher write: \(Platform.errorText(errno))")
                return
            }
            pending.removeFirst(n)
        }
        writer?.stop()
    }

    private func onReadable() {
        let n = read(fd, buffer.baseAddress, buffer.count)
        guard n > 0 else {
            if n < 0 && errno == EAGAIN { return }
            watcher?.stop()
            answered(false, "publisher connection closed")
            return
        }
        input.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        // Responses: status line, headers with Content-Length, body.
        while let end = BenchConnection.headEnd(input) {
            let head = String(decoding: input[..<end], as: UTF8.self)
            var length = 0
            for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                length = Int(line.split(separator: ":")[1].trimmingCharacters()) ?? 0
            }
            guard input.count >= end + length else { return }
            let ok = head.hasPrefix("HTTP/1.1 2")
            input.removeFirst(end + length)
            answered(ok, ok ? "" : "publish refused: " + String(head.prefix { $0 != "\r" }))
        }
    }

    func close() {
        watcher?.stop()
        writer?.stop()
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}
