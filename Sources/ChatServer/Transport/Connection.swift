import CLibevent
import ChatCore
import Glibc
import EventIO

/// The WebSocket endpoint a connection upgraded on.
enum Endpoint {
    /// `/echo`: echoes every message (the conformance suite's target).
    case echo
    /// `/chat/join?channel=&nickname=`: the seed's one-channel contract.
    case seed(channel: String)
    /// `/ws?nickname=`: the multi-channel JSON protocol.
    case multi

    var isChat: Bool {
        if case .echo = self { return false }
        return true
    }
}

/// One client socket: HTTP until it upgrades, then WebSocket. It performs what the
/// pure protocol code decides (ChatCore) and owns the socket's output buffer.
///
/// Output is never written from inside a callback: bytes are appended to the
/// evbuffer and the connection is marked dirty; the worker flushes every dirty
/// connection once at the end of the loop turn, so many messages become one write.
/// Teardown is also deferred to the end of the turn (the worker's reaper), so no
/// callback further up the stack can touch a freed buffer.
final class Connection {
    enum Phase {
        /// Reading the request head.
        case http
        /// WebSocket open.
        case open
        /// Close sent (or HTTP answer sent): flushing, then waiting for the peer's EOF.
        case closing
        /// Torn down at the end of this turn.
        case closed
    }

    let id: UInt64
    let fd: Int32
    unowned(unsafe) let worker: Worker
    private var readEvent: OpaquePointer?
    private var writeEvent: OpaquePointer?
    private let output: OpaquePointer
    private(set) var phase: Phase = .http {
        didSet {
            // Per-address accounting follows the phase: see AddressLimits.
            if oldValue == .http, phase != .http, countedHandshake {
                countedHandshake = false
                worker.addressLimits.handshakeDone(AddressBuckets.key(peerAddress))
            }
            if phase == .closed, countedWebSocket {  // closing still holds the socket: counted until closed
                countedWebSocket = false
                worker.addressLimits.webSocketClosed(AddressBuckets.key(clientAddress))
            }
        }
    }
    /// The TCP peer's address, and the client's (the same, or the one a trusted proxy
    /// forwards): limits per address count the client's.
    let peerAddress: String
    var clientAddress: String
    /// Counted in `Worker.addressLimits` (handshake, WebSocket).
    var countedHandshake = false
    var countedWebSocket = false
    private var http: HTTPRequestParser?
    /// A request whose body is still arriving (the HTTP API's POST/PUT), and the body so far.
    private var awaitingBody: (request: HTTPRequest, length: Int, body: [UInt8])?
    private var reader = MessageReader(maxMessageSize: 0)
    private(set) var endpoint: Endpoint = .echo
    /// Set on `/chat/join` connections, whose clients read every event in the seed
    /// server's envelope (`SeedEnvelope`): the channel the envelope names for an event
    /// without one of its own (a broadcast, an error). The channel asked for, valid or
    /// not (an invalid one is refused in that envelope too).
    var envelopeChannel: String?
    /// Position in the hub's seed group of `envelopeChannel` (broadcasts), -1 if none.
    var seedGroupIndex = -1
    /// Trimmed, valid nickname (chat endpoints).
    var nickname = "" {
        didSet { foldedNickname = worker.nicknameFolding.folded(nickname) }
    }
    /// The nickname's keys for uniqueness in a channel (`NicknameFolding.folded`).
    private(set) var foldedNickname = ""
    /// A `presence` is in flight (one at a time per connection).
    var presencePending = false
    /// Joins with a replay running and waiting (see `HistoryReads`), and whether the
    /// connection is in its queue.
    var replaysRunning: Int8 = 0
    var replayQueued = false
    var replaysWaiting: [Membership] = []
    /// Channels this connection is in or joining.
    /// By channel name: a publisher in a thousand channels looks one up per message.
    var memberships: [String: Membership] = [:]
    /// In the worker's dirty list for this turn's flush.
    var isDirty = false
    /// Position in the worker's connection table.
    var tableIndex = -1
    /// Monotonic ms: end of the handshake allowance (http) or of the linger (closing).
    var deadline: UInt64
    /// Monotonic ms of the last bytes received (heartbeats).
    private(set) var lastReceived: UInt64
    /// When the server's unanswered ping went out; 0 when none is outstanding.
    var pingSentAt: UInt64 = 0
    /// Chat endpoints only; nil when RATE_LIMIT is 0.
    private var limiter: MessageRateLimiter?
    /// Why the connection is closing (the first reason wins).
    private(set) var closeReason: CloseReason?
    /// False when the output buffer is known to be empty, so the fan-out can skip
    /// asking libevent (a cache miss per recipient otherwise).
    private var buffered = false
    /// Found over OUTPUT_BUFFER_LIMIT this turn: gets nothing more, closed at the turn's end.
    private var tooSlow = false
    private var writeArmed = false
    private var readPaused = false
    /// Reading paused while the Redis command link is congested (backpressure).
    private var heldForRedis = false
    private var shutdownWhenFlushed = false
    /// The peer sent its FIN after a complete HTTP request, or while an answer was
    /// still leaving: it may still read (`shutdown(SHUT_WR)`, `nc -N`), so the answer
    /// goes out and the connection closes once it has.
    private var peerFinished = false
    /// Bytes the kernel held for the peer (unsent or unacknowledged) at the last look
    /// during the linger: fewer at the next look means the peer is still reading.
    private var lingerKernelQueue: Int32 = 0

    init(id: UInt64, fd: Int32, peerAddress: String, worker: Worker, handshakeDeadline: UInt64) {
        self.peerAddress = peerAddress
        self.clientAddress = peerAddress
        self.id = id
        self.fd = fd
        self.worker = worker
        self.deadline = handshakeDeadline
        self.lastReceived = Platform.monotonicMillis()
        self.output = evbuffer_new()
        self.http = HTTPRequestParser(limits: worker.httpLimits)
        let context = Unmanaged.passUnretained(self).toOpaque()
        readEvent = event_new(worker.loop.base, fd, Int16(EV_READ | EV_PERSIST), { _, _, arg in
            Unmanaged<Connection>.fromOpaque(arg!).takeUnretainedValue().onReadable()
        }, context)
        writeEvent = event_new(worker.loop.base, fd, Int16(EV_WRITE | EV_PERSIST), { _, _, arg in
            Unmanaged<Connection>.fromOpaque(arg!).takeUnretainedValue().onWritable()
        }, context)
        event_add(readEvent, nil)
    }

    /// Frees the socket and its events. Only the worker's reaper calls this.
    func destroy() {
        event_free(readEvent)
        event_free(writeEvent)
        readEvent = nil
        writeEvent = nil
        evbuffer_free(output)
        Glibc.close(fd)
    }

    var isOpenChat: Bool { phase == .open && endpoint.isChat }
    var pendingOutput: Int { evbuffer_get_length(output) }

    // MARK: Reading

    private func onReadable() {
        // Backpressure: while Redis has too much in flight, chat clients are not read
        // (TCP pushes back on them) instead of piling more commands up.
        if phase == .open, endpoint.isChat, worker.commands.isCongested {
            heldForRedis = true
            event_del(readEvent)
            worker.hold(self)
            return
        }
        let buffer = worker.readBuffer
        let n = read(fd, buffer.baseAddress, buffer.count)
        if n > 0 {
            worker.stats.bytesIn += UInt64(n)
            lastReceived = Platform.monotonicMillis()
            pingSentAt = 0  // any bytes prove the peer is alive
            received(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n]))
        } else if n == 0 {
            if (phase == .http && http == nil && awaitingBody == nil) || (phase == .closing && pendingOutput > 0) {
                peerFinished = true
                event_del(readEvent)
                return
            }
            abort(.clientGone, phase == .open ? "peer closed without a close frame" : nil)
        } else if errno == ECONNRESET {
            abort(.clientGone, phase == .open ? "connection reset by peer" : nil)  // as a reset noticed by a write
        } else if errno != EAGAIN && errno != EINTR {
            abort(.ioError, "read failed: \(Platform.errorText(errno))")
        }
        if phase == .open || phase == .http, pendingOutput > worker.config.outputBufferLimit, !readPaused {
            // Our own replies are piling up (an echo client that does not read):
            // stop reading until the peer drains them, so TCP pushes back on it.
            readPaused = true
            event_del(readEvent)
        }
    }

    private func received(_ bytes: UnsafeMutableRawBufferPointer) {
        switch phase {
        case .http:
            if awaitingBody != nil { return receivedBody(UnsafeRawBufferPointer(bytes)) }
            guard let result = http?.feed(UnsafeRawBufferPointer(bytes)) else { return }
            switch result {
            case .needMore: break
            case .failure(let error):
                worker.stats.httpErrors += 1
                respond(HTTPResponse.error(error))
            case .complete(let request, let leftover):
                http = nil
                switch BodyFraming.contentLength(of: request, maxBytes: Self.maxBodyBytes) {
                case .failure(let error):
                    return respond(HTTPResponse.error(error))
                case .success(let length) where length > 0:
                    if request.header("upgrade") != nil {
                        // Bytes after the head are the client's first frames, not a body.
                        return respond(HTTPResponse.error(HTTPError(400, "a WebSocket upgrade request has no body")))
                    }
                    awaitingBody = (request, length, [])
                    return leftover.withUnsafeBytes { receivedBody($0) }
                case .success:
                    break
                }
                worker.route(self, request)
                if phase == .open, !leftover.isEmpty {
                    var rest = leftover
                    rest.withUnsafeMutableBytes { readFrames($0) }
                }
            }
        case .open:
            readFrames(bytes)
        case .closing, .closed:
            break  // the peer's last bytes after our close are ignored
        }
    }

    /// Largest request body (the HTTP API's JSON).
    static let maxBodyBytes = 65_536

    private func receivedBody(_ bytes: UnsafeRawBufferPointer) {
        guard var pending = awaitingBody else { return }
        pending.body.append(contentsOf: bytes.prefix(pending.length - pending.body.count))
        guard pending.body.count == pending.length else {
            awaitingBody = pending
            return
        }
        awaitingBody = nil
        worker.route(self, pending.request, body: pending.body)
    }

    private func readFrames(_ bytes: UnsafeMutableRawBufferPointer) {
        reader.read(bytes) { event in
            switch event {
            case .text(let payload):
                worker.stats.messagesIn += 1
                guard admit(payload) else { return }
                switch endpoint {
                case .echo: sendFrame(Opcode.text, payload)
                case .seed(let channel): worker.hub.handle(ClientProtocol.parse(payload, limits: worker.protocolLimits, seedChannel: channel), from: self)
                case .multi: worker.hub.handle(ClientProtocol.parse(payload, limits: worker.protocolLimits, seedChannel: nil), from: self)
                }
            case .binary(let payload):
                worker.stats.messagesIn += 1
                guard admit(nil) else { return }
                if case .echo = endpoint {
                    sendFrame(Opcode.binary, payload)
                } else {
                    sendEvent(ServerEvents.error(ChatError(.unsupportedData, "binary messages are not supported; send JSON text")))
                }
            case .ping(let payload):
                sendFrame(Opcode.pong, payload)
            case .pong:
                break
            case .close(let code, _):
                // Echo the peer's code (RFC 6455 section 5.5.1); an empty close gets an empty one.
                close(code: code, reason: "", why: .clientClose)
            case .failure(let code, let reason):
                worker.logger.debug("websocket protocol error", [("conn", String(id)), ("code", String(code)), ("reason", reason)])
                close(code: code, reason: reason, why: .protocolError)
            }
        }
    }

    /// Applies the message rate limit: an over-limit message gets `rate_limited` (with
    /// its `ref` and channel when it is a valid op, so a client knows which one was
    /// dropped); a client that keeps flooding is closed with 1008.
    private func admit(_ text: UnsafeRawBufferPointer?) -> Bool {
        guard limiter != nil else { return true }
        switch limiter!.check(now: lastReceived) {
        case .allow:
            return true
        case .refuse:
            worker.stats.rateLimited += 1
            var error = ChatError(.rateLimited, "too many messages: at most \(worker.config.rateLimit) per second")
            // Refusals are bounded by the patience bucket, so parsing them costs little.
            if let text, endpoint.isChat, case .success(let request) = ClientProtocol.parse(text, limits: worker.protocolLimits, seedChannel: seedChannel) {
                error.ref = request.ref
                error.channel = request.op.channel ?? seedChannel
            }
            sendEvent(ServerEvents.error(error))
            return false
        case .flooding:
            worker.stats.rateLimited += 1
            worker.logger.limited("flooding", .warn, "client disconnected for flooding", [("conn", String(id)), ("nickname", nickname)])
            close(code: CloseCode.policyViolation, reason: "message rate limit exceeded", why: .flooding)
            return false
        }
    }

    /// Whether a chat message of `size` bytes (as stored) is within RATE_LIMIT_BYTES now.
    func admitBytes(_ size: Int) -> Bool {
        guard limiter != nil else { return true }
        return limiter!.admitBytes(size, now: Platform.monotonicMillis())
    }

    // MARK: Upgrade

    /// Answers 101 and switches to WebSocket framing for `endpoint`.
    func upgrade(accept: String, endpoint: Endpoint, maxMessageSize: Int) {
        send(WebSocketHandshake.switchingProtocols(accept: accept))
        self.endpoint = endpoint
        reader = MessageReader(maxMessageSize: maxMessageSize)
        phase = .open
        if endpoint.isChat, worker.config.rateLimit > 0 {
            limiter = MessageRateLimiter(rate: worker.config.rateLimit, burst: Double(worker.config.rateBurst),
                                         bytesPerSecond: Double(worker.config.rateLimitBytes), now: lastReceived)
        }
        worker.stats.upgrades += 1
        worker.openWebSockets += 1
    }

    // MARK: Writing

    /// Appends raw bytes to the output and schedules a flush.
    func send(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { send(raw: $0) }
    }

    func send(raw bytes: UnsafeRawBufferPointer) {
        guard phase != .closed, bytes.count > 0 else { return }
        buffered = true
        evbuffer_add(output, bytes.baseAddress, bytes.count)
        markDirty()
    }

    /// Appends one unmasked frame. Nothing follows our close frame (RFC 6455 5.5.1).
    func sendFrame(_ opcode: UInt8, _ payload: UnsafeRawBufferPointer) {
        guard phase == .open else { return }
        var header: (UInt64, UInt16) = (0, 0)  // room for the largest header (10 bytes)
        let size = withUnsafeMutableBytes(of: &header) { h -> Int in
            h[0] = 0x80 | opcode
            let n = payload.count
            if n < 126 {
                h[1] = UInt8(n)
                return 2
            } else if n <= 0xFFFF {
                h[1] = 126; h[2] = UInt8(n >> 8); h[3] = UInt8(n & 0xFF)
                return 4
            }
            h[1] = 127
            for k in 0..<8 { h[2 + k] = UInt8(truncatingIfNeeded: UInt64(n) >> UInt64(56 - 8 * k)) }
            return 10
        }
        buffered = true
        _ = withUnsafeBytes(of: &header) { evbuffer_add(output, $0.baseAddress, size) }
        if payload.count > 0 { evbuffer_add(output, payload.baseAddress, payload.count) }
        markDirty()
    }

    /// Sends a JSON event that counts against OUTPUT_BUFFER_LIMIT like channel events
    /// (history replays): past it the client is cut off as too slow.
    func deliverEvent(_ json: [UInt8]) {
        guard phase == .open, !isTooSlow(evbuffer_get_length(output)) else { return }
        sendEvent(json)
    }

    /// Sends a JSON event as a text frame (in the seed envelope on `/chat/join`).
    func sendEvent(_ json: [UInt8]) {
        guard phase == .open else { return }
        if let channel = envelopeChannel, let envelope = SeedEnvelope.encode(event: json, channel: channel) {
            envelope.withUnsafeBytes { sendFrame(Opcode.text, $0) }
        } else {
            json.withUnsafeBytes { sendFrame(Opcode.text, $0) }
        }
        worker.stats.eventsOut += 1
    }

    /// Sends a ping (heartbeat); the answer, or any other bytes, clears `pingSentAt`.
    func sendPing(now: UInt64) {
        sendFrame(Opcode.ping, UnsafeRawBufferPointer(start: nil, count: 0))
        pingSentAt = now
    }

    /// Appends already-framed events to the output (seam replays, a batch committed
    /// before a membership change, a quiet notice for its joiner).
    func deliver(frame: UnsafeRawBufferPointer, events: Int = 1) {
        guard phase == .open, !isTooSlow(evbuffer_get_length(output)) else { return }
        buffered = true
        evbuffer_add(output, frame.baseAddress, frame.count)
        worker.stats.deliveries += UInt64(events)
        markDirty()
    }

    /// Writes a channel's batch of this turn (already-framed events shared by all its
    /// members): straight from the shared bytes when nothing else waits for this
    /// socket, so fan-out costs one `send` per member and no copy; what the socket
    /// does not take, or anything behind pending output, goes to the output buffer.
    func writeShared(_ batch: UnsafeRawBufferPointer, events: Int) {
        guard acceptShared(batch, events: events) else { return }
        worker.stats.deliveries += UInt64(events)
        worker.stats.bytesOut += UInt64(sharedSent(batch, result: sendNow(batch)))
    }

    /// One non-blocking send of `bytes`: the bytes sent, or -errno. send(), not
    /// write(): straight into the socket layer, past the file layer's position lock and
    /// checks, which on this path cost more than they do.
    func sendNow(_ bytes: UnsafeRawBufferPointer) -> Int {
        let n = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
        return n < 0 ? -Int(errno) : n
    }

    /// Takes a shared batch: false when this connection gets none of it (closing, too
    /// slow) or when it was queued behind output still waiting for the socket; true
    /// when the socket has nothing pending and the caller must send the bytes now
    /// (`send`, or a send ring) and report with `sharedSent`. The caller counts the
    /// deliveries of a true answer (stats are counted per fan-out, not per member).
    @inline(__always)
    func acceptShared(_ batch: UnsafeRawBufferPointer, events: Int) -> Bool {
        guard phase == .open else { return false }
        if !buffered { return !tooSlow }
        let pending = evbuffer_get_length(output)
        if isTooSlow(pending) { return false }
        if pending == 0 { return true }
        worker.stats.deliveries += UInt64(events)
        evbuffer_add(output, batch.baseAddress, batch.count)
        if !writeArmed { writeArmed = true; event_add(writeEvent, nil) }
        return false
    }

    /// The result of sending a batch `acceptShared` let through: bytes sent, or
    /// -errno. The rest waits in the output buffer for the socket. Returns the bytes
    /// sent, for the caller's count.
    func sharedSent(_ batch: UnsafeRawBufferPointer, result: Int) -> Int {
        var offset = 0
        if result < 0 {
            let e = Int32(-result)
            if e != EAGAIN && e != EINTR { writeFailed(e); return 0 }
        } else {
            offset = result
        }
        // Closing (a close frame queued meanwhile) still gets the rest, ahead of it.
        if offset == batch.count || phase == .closed { return offset }
        if offset > 0 { worker.stats.partialWrites += 1 }
        buffered = true
        // Prepended: these bytes come before anything queued after the batch was taken.
        evbuffer_prepend(output, batch.baseAddress! + offset, batch.count - offset)
        if !writeArmed { writeArmed = true; event_add(writeEvent, nil) }
        return offset
    }

    /// A client whose unsent bytes pass the limit is too slow to keep: it gets no more
    /// events, a close frame (1008) queued behind what it has not read, and the linger
    /// time to read it before the connection is dropped. Its memory is bounded by the
    /// limit plus one batch, and nobody else waits for it.
    ///
    /// The close itself waits for the end of the turn (`closeIfTooSlow`): it is found
    /// while a channel hands out events, often in the middle of a member-list change,
    /// and leaving the channels right there would change the list under that change.
    private func isTooSlow(_ pending: Int) -> Bool {
        if tooSlow { return true }
        guard pending > worker.config.outputBufferLimit else { return false }
        tooSlow = true
        worker.stats.slowConsumers += 1
        worker.logger.limited("slow_consumer", .warn, "slow consumer disconnected",
                              [("conn", String(id)), ("nickname", nickname), ("pending_bytes", String(pending))])
        markDirty()
        return true
    }

    /// End of turn: closes a connection found too slow during the turn.
    func closeIfTooSlow() {
        guard tooSlow, phase == .open else { return }
        // Its backlog stays in front of the close frame: the buffer may begin with the
        // rest of a frame the socket took part of, so it cannot be cut without breaking
        // the stream. Closing lasts a minute at most (`closingLimitMillis`), and its
        // address keeps counting the connection until then.
        close(code: CloseCode.policyViolation, reason: "too slow: unread messages over the limit", why: .slowConsumer)
    }

    private func markDirty() {
        if !isDirty {
            isDirty = true
            worker.markDirty(self)
        }
    }

    /// A write that failed for good: a peer that is gone (EPIPE, ECONNRESET) or an I/O error.
    private func writeFailed(_ e: Int32) {
        if e == EPIPE || e == ECONNRESET {
            abort(.clientGone, nil)
        } else {
            abort(.ioError, "write failed: \(Platform.errorText(e))")
        }
    }

    /// Writes what the output holds; arms the write event for the rest.
    func flush() {
        closeIfTooSlow()
        guard phase != .closed else { return }
        if evbuffer_get_length(output) > 0 {
            let n = evbuffer_write(output, fd)
            if n < 0 {
                let e = errno
                if e != EAGAIN && e != EINTR { return writeFailed(e) }
            } else {
                worker.stats.bytesOut += UInt64(n)
                // The linger runs from the last progress (see lingerExpired).
                if n > 0, phase == .closing {
                    deadline = Platform.monotonicMillis() + Worker.lingerMillis
                    lingerKernelQueue = kernelQueue()
                }
            }
        }
        let remaining = evbuffer_get_length(output)
        buffered = remaining > 0
        if remaining > 0 {
            if !writeArmed { writeArmed = true; event_add(writeEvent, nil) }
        } else {
            if writeArmed { writeArmed = false; event_del(writeEvent) }
            if shutdownWhenFlushed {
                shutdownWhenFlushed = false
                shutdown(fd, Int32(SHUT_WR))
            }
            if peerFinished, phase == .closing { return abort(closeReason ?? .clientGone, nil) }  // both sides done
        }
        if readPaused, remaining <= worker.config.outputBufferLimit / 2, phase == .open {
            readPaused = false
            event_add(readEvent, nil)
        }
    }

    private func onWritable() { flush() }

    var isHeldForRedis: Bool { heldForRedis }

    /// Redis is relieved: reading goes on (and the heartbeat starts over: the client's
    /// silence while it was held was ours).
    func release() {
        guard heldForRedis else { return }
        heldForRedis = false
        lastReceived = Platform.monotonicMillis()
        pingSentAt = 0
        if phase != .closed, !readPaused { event_add(readEvent, nil) }
    }

    // MARK: Closing

    /// Starts the closing handshake: sends a close frame, leaves every channel, and
    /// closes the TCP connection once the peer has read it (or after a short linger).
    func close(code: UInt16?, reason: String, why: CloseReason) {
        guard phase == .open else { return }
        let payload = code.map { FrameEncoder.closePayload(code: $0, reason: reason) } ?? []
        payload.withUnsafeBytes { sendFrame(Opcode.close, $0) }
        enterClosing(why)
    }

    /// Sends a plain HTTP response and closes.
    func respond(_ response: [UInt8]) {
        guard phase == .http else { return }
        http = nil
        awaitingBody = nil
        send(response)
        enterClosing(.httpAnswered)
    }

    /// The longest a connection may take to read its last answer or events once it is
    /// closing (a reader that trickles a few bytes at a time would hold its socket and
    /// buffers for as long as it liked).
    static let closingLimitMillis: UInt64 = 60_000
    private var closingSince: UInt64 = 0

    private func enterClosing(_ why: CloseReason) {
        if closeReason == nil { closeReason = why }
        closingSince = Platform.monotonicMillis()
        if phase == .open { worker.openWebSockets -= 1 }
        // The phase changes first: leaving the channels hands their pending batches to
        // the members, and nothing may follow our close frame (nor close us twice).
        phase = .closing
        worker.hub.disconnect(self)
        shutdownWhenFlushed = true
        deadline = Platform.monotonicMillis() + Worker.lingerMillis
        lingerKernelQueue = kernelQueue()
        if readPaused || heldForRedis, !peerFinished {
            readPaused = false
            heldForRedis = false
            event_add(readEvent, nil)
        }
    }

    /// The linger has run out. While an answer or the last events are still leaving
    /// (bytes wait in our buffer and the peer took some from the kernel since the last
    /// look, or we wrote some) the connection gets another linger; otherwise it is
    /// dropped. So a big answer read slowly arrives whole, and a peer that stops
    /// reading is let go after one linger.
    func lingerExpired(now: UInt64) {
        let queued = kernelQueue()
        defer { lingerKernelQueue = queued }
        if pendingOutput > 0, queued < lingerKernelQueue, now - closingSince < Self.closingLimitMillis {
            deadline = now + Worker.lingerMillis
            return
        }
        abort(closeReason ?? .clientGone, nil)
    }

    private func kernelQueue() -> Int32 {
        var queued: Int32 = 0
        return ioctl(fd, UInt(TIOCOUTQ), &queued) == 0 ? queued : 0
    }

    /// Drops the connection now (peer gone, I/O error, timeout). `detail` is logged
    /// at debug level; nil for ordinary ends.
    func abort(_ why: CloseReason, _ detail: String?) {
        guard phase != .closed else { return }
        if let detail { worker.logger.debug("connection dropped", [("conn", String(id)), ("reason", why.rawValue), ("detail", detail)]) }
        if closeReason == nil { closeReason = why }
        if phase == .open { worker.openWebSockets -= 1 }
        phase = .closed
        worker.hub.disconnect(self)
        event_del(readEvent)
        if writeArmed { writeArmed = false; event_del(writeEvent) }
        worker.reap(self)
    }
}
