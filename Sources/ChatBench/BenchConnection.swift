import CLibevent
import ChatCore
import EventIO
import Glibc

/// What a connection reports to its owner.
protocol BenchConnectionOwner: AnyObject {
    func opened(_ c: BenchConnection)
    func message(_ c: BenchConnection, _ payload: UnsafeRawBufferPointer, now: UInt64)
    func failed(_ c: BenchConnection, _ reason: String)
}

/// One client WebSocket: non-blocking connect (from a chosen source address), the
/// handshake, masked text frames out, frames in through ChatCore's MessageReader.
final class BenchConnection {
    enum State { case connecting, handshaking, open, closed }

    let index: Int
    let channel: Int
    private(set) var fd: Int32 = -1
    private(set) var state = State.connecting
    private var event: OpaquePointer?
    private var writeEvent: OpaquePointer?
    private var pending: [UInt8] = []
    private var head: [UInt8] = []
    private var reader = MessageReader(maxMessageSize: 1 << 24, expectMasked: false)
    private let path: String
    private let host: String
    unowned(unsafe) let owner: BenchConnectionOwner
    unowned(unsafe) let loop: EventLoop
    let buffer: UnsafeMutableRawBufferPointer
    /// Reads of an open connection go through the ring when there is one.
    unowned(unsafe) let batchReader: BatchReader?
    /// A read of this socket is queued on the ring: closing waits for its result, so
    /// that the descriptor is not reused under it.
    private var readQueued = false
    var isReady = false
    /// Last sequence number seen (duplicate detection), and counts.
    var lastSeq: Int64 = -1

    init(
        index: Int, channel: Int, loop: EventLoop, buffer: UnsafeMutableRawBufferPointer, batchReader: BatchReader?,
        owner: BenchConnectionOwner, path: String
    ) {
        self.batchReader = batchReader
        self.index = index
        self.channel = channel
        self.loop = loop
        self.buffer = buffer
        self.owner = owner
        self.path = path
        self.host = "bench"
    }

    /// Starts connecting; returns an error text when the socket cannot even start.
    /// With `port`, the source port is chosen here: the kernel's own search for a free
    /// ephemeral port gets slow (quadratic) with tens of thousands of connections
    /// from one address, and would make the tool, not the server, the bottleneck.
    func connect(to endpoint: Endpoint, from source: (UInt8, UInt8, UInt8, UInt8)?, port: UInt16 = 0) -> String? {
        fd = socket(
            AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return "socket: \(Platform.errorText(errno))" }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        if let source {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var local = Self.address(source, port: port)
            var rc = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if rc != 0 && port != 0 {
                // That port is taken: let the kernel choose (IP_BIND_ADDRESS_NO_PORT, 24).
                Glibc.close(fd)
                fd = socket(
                    AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                    0)
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                setsockopt(fd, Int32(IPPROTO_IP), 24, &one, socklen_t(MemoryLayout<Int32>.size))
                local = Self.address(source, port: 0)
                rc = withUnsafePointer(to: &local) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
            if rc != 0 { return "bind: \(Platform.errorText(errno))" }
        }
        var remote = Self.address(endpoint.address, port: endpoint.port)
        let rc = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 && errno != EINPROGRESS { return "connect: \(Platform.errorText(errno))" }
        let context = Unmanaged.passUnretained(self).toOpaque()
        event = event_new(
            loop.base, fd, Int16(EV_READ | EV_PERSIST),
            { _, _, arg in
                Unmanaged<BenchConnection>.fromOpaque(arg!).takeUnretainedValue().onReadable()
            }, context)
        writeEvent = event_new(
            loop.base, fd, Int16(EV_WRITE | EV_PERSIST),
            { _, _, arg in
                Unmanaged<BenchConnection>.fromOpaque(arg!).takeUnretainedValue().onWritable()
            }, context)
        event_add(writeEvent, nil)  // connected when writable
        return nil
    }

    static func address(_ a: (UInt8, UInt8, UInt8, UInt8), port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = UInt32(a.0) | UInt32(a.1) << 8 | UInt32(a.2) << 16 | UInt32(a.3) << 24
        return addr
    }

    private func onWritable() {
        if state == .connecting {
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            if err != 0 { return fail("connect: \(Platform.errorText(err))") }
            state = .handshaking
            event_add(event, nil)
            let key = Base64.encode((0..<16).map { _ in UInt8.random(in: 0...255) })
            let request =
                "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n"
            write(Array(request.utf8))
            if pending.isEmpty { event_del(writeEvent) }
            return
        }
        flushPending()
    }

    private func flushPending() {
        while !pending.isEmpty {
            let n = pending.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR {
                    event_add(writeEvent, nil)
                    return
                }
                return fail("write: \(Platform.errorText(errno))")
            }
            pending.removeFirst(n)
        }
        event_del(writeEvent)
    }

    /// Writes bytes now, queueing what the socket does not take.
    func write(_ bytes: [UInt8]) {
        guard state != .closed else { return }
        if !pending.isEmpty || state == .connecting {
            pending.append(contentsOf: bytes)
            return
        }
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno != EAGAIN && errno != EINTR { return fail("write: \(Platform.errorText(errno))") }
            pending.append(contentsOf: bytes)
            event_add(writeEvent, nil)
        } else if n < bytes.count {
            pending.append(contentsOf: bytes[n...])
            event_add(writeEvent, nil)
        }
    }

    /// Sends one masked text frame.
    func sendText(_ payload: [UInt8]) {
        var frame: [UInt8] = []
        frame.reserveCapacity(payload.count + 14)
        payload.withUnsafeBytes {
            FrameEncoder.appendFrame(
                opcode: Opcode.text, payload: $0, maskKey: UInt32.random(in: 1...UInt32.max), to: &frame)
        }
        write(frame)
    }

    private func onReadable() {
        if state == .open, !readQueued, let batchReader, batchReader.queue(self) {
            readQueued = true
            return
        }
        if readQueued { return }
        let n = read(fd, buffer.baseAddress, buffer.count)
        received(n < 0 ? -Int(errno) : n, buffer)
    }

    /// The result of a queued read (bytes or -errno, in `slot`); nil when the ring
    /// failed before making it: then it is made with read() now.
    func readCompleted(result: Int?, _ slot: UnsafeMutableRawBufferPointer?) {
        readQueued = false
        if state == .closed {
            closeDescriptor()  // closed while the read was queued
            return
        }
        guard let result, let slot else {
            let n = read(fd, buffer.baseAddress, buffer.count)
            return received(n < 0 ? -Int(errno) : n, buffer)
        }
        received(result, slot)
    }

    /// Bytes read into `into` (or -errno, or 0 for end of stream).
    private func received(_ n: Int, _ into: UnsafeMutableRawBufferPointer) {
        if n <= 0 {
            if n == -Int(EAGAIN) || n == -Int(EINTR) { return }
            return fail(n == 0 ? "closed by the server" : "read: \(Platform.errorText(Int32(-n)))")
        }
        let now = ProcStats.monotonicNanos()
        var bytes = UnsafeMutableRawBufferPointer(rebasing: into[0..<n])
        if state == .handshaking {
            head.append(contentsOf: bytes)
            guard let end = Self.headEnd(head) else {
                if head.count > 16_384 { fail("response head too large") }
                return
            }
            guard head.starts(with: Array("HTTP/1.1 101".utf8)) else {
                return fail("upgrade refused: " + String(decoding: head.prefix { $0 != 13 }, as: UTF8.self))
            }
            let rest = Array(head[end...])
            head = []
            state = .open
            owner.opened(self)
            guard !rest.isEmpty else { return }
            rest.withUnsafeBytes { r in
                _ = memcpy(buffer.baseAddress!, r.baseAddress!, r.count)
                bytes = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<r.count])
            }
        }
        guard state == .open else { return }
        reader.read(bytes) { event in
            switch event {
            case .text(let payload), .binary(let payload): owner.message(self, payload, now: now)
            case .ping(let payload):
                var frame: [UInt8] = []
                FrameEncoder.appendFrame(opcode: Opcode.pong, payload: payload, maskKey: 0x1234_5678, to: &frame)
                write(frame)
            case .pong: break
            case .close(let code, _): fail("closed by the server (\(code.map(String.init) ?? "no code"))")
            case .failure(let code, let reason): fail("protocol error \(code): \(reason)")
            }
        }
    }

    static func headEnd(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 3..<b.count where b[i] == 10 && b[i - 1] == 13 && b[i - 2] == 10 && b[i - 3] == 13 { return i + 1 }
        return nil
    }

    private func fail(_ reason: String) {
        guard state != .closed else { return }
        close()
        owner.failed(self, reason)
    }

    func close() {
        guard state != .closed else { return }
        state = .closed
        if let event { event_free(event) }
        if let writeEvent { event_free(writeEvent) }
        event = nil
        writeEvent = nil
        if !readQueued { closeDescriptor() }
    }

    private func closeDescriptor() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}
