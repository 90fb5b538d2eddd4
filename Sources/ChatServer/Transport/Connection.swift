import CLibevent
import ChatCore
import EventIO
import Glibc

/// One client socket: HTTP until it upgrades, then WebSocket. It performs what the
/// pure protocol code decides (ChatCore) and owns the socket's output buffer.
///
/// Output is never written from inside a callback: bytes are appended to the
/// evbuffer and the connection is marked dirty; the turn scheduler flushes every dirty
/// connection once at the end of the loop turn, so many messages become one write.
/// Teardown is also deferred to the end of the turn (the turn's reaping), so no
/// callback further up the stack can touch a freed buffer.
final class Connection {
    typealias Phase = ConnectionStateMachine.Phase

    let id: UInt64
    let fd: Int32
    /// The rest of the worker, as far as a connection reaches it.
    unowned(unsafe) let host: ConnectionHost
    /// The worker's counters (counted straight into, on the fan-out path too).
    unowned(unsafe) let stats: WorkerStats
    /// One read buffer for every socket (the worker's).
    let readBuffer: UnsafeMutableRawBufferPointer
    let protocolLimits: ProtocolLimits
    var readEvent: OpaquePointer?
    var writeEvent: OpaquePointer?
    let output: OpaquePointer
    /// The connection's lifecycle and closing: every decision about this socket's
    /// phase, deadlines, heartbeat, reading and closing is the machine's; this class
    /// performs what it answers (`perform`).
    var machine: ConnectionStateMachine
    var phase: Phase { machine.phase }
    /// Why the connection is closing (the first reason wins).
    var closeReason: CloseReason? { machine.closeReason }
    /// The TCP peer's address, and the client's (the same, or the one a trusted proxy
    /// forwards): limits per address count the client's.
    let peerAddress: String
    var clientAddress: String
    var http: HTTPRequestParser?
    /// A request whose body is still arriving (the HTTP API's POST/PUT), and the body so far.
    var awaitingBody: (request: HTTPRequest, length: Int, body: [UInt8])?
    /// The request being answered is a HEAD: whatever answers it, its body is not sent
    /// (RFC 9110 9.3.2), errors included.
    var answersHead = false
    var reader = MessageReader(maxMessageSize: 0)
    var endpoint: Endpoint = .echo
    /// Set on `/chat/join` connections, whose clients read every event in the seed
    /// server's envelope (`SeedEnvelope`): the channel the envelope names for an event
    /// without one of its own (a broadcast, an error). The channel asked for, valid or
    /// not (an invalid one is refused in that envelope too).
    var envelopeChannel: String?
    /// Position in the hub's seed group of `envelopeChannel` (broadcasts), -1 if none.
    var seedGroupIndex = -1
    /// Trimmed, valid nickname (chat endpoints).
    var nickname = "" {
        didSet { foldedNickname = host.nicknameFolding.folded(nickname) }
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
    /// Chat endpoints only; nil when RATE_LIMIT is 0.
    var limiter: MessageRateLimiter?
    /// False when the output buffer is known to be empty, so the fan-out can skip
    /// asking libevent (a cache miss per recipient otherwise).
    var buffered = false
    /// Whether the write event is registered (libevent's state, mirrored).
    var writeArmed = false

    /// `countsHandshake`: the address's handshake count was taken for this connection.
    init(id: UInt64, fd: Int32, peerAddress: String, host: ConnectionHost, countsHandshake: Bool) {
        self.peerAddress = peerAddress
        self.clientAddress = peerAddress
        self.id = id
        self.fd = fd
        self.host = host
        self.stats = host.stats
        self.readBuffer = host.readBuffer
        self.protocolLimits = host.protocolLimits
        self.machine = ConnectionStateMachine(
            settings: host.connectionSettings, now: Platform.monotonicMillis(), countsHandshake: countsHandshake)
        self.output = evbuffer_new()
        self.http = HTTPRequestParser(limits: host.httpLimits)
        let context = Unmanaged.passUnretained(self).toOpaque()
        readEvent = event_new(
            host.loop.base, fd, Int16(EV_READ | EV_PERSIST),
            { _, _, arg in
                Unmanaged<Connection>.fromOpaque(arg!).takeUnretainedValue().onReadable()
            }, context)
        writeEvent = event_new(
            host.loop.base, fd, Int16(EV_WRITE | EV_PERSIST),
            { _, _, arg in
                Unmanaged<Connection>.fromOpaque(arg!).takeUnretainedValue().onWritable()
            }, context)
        event_add(readEvent, nil)
    }

    /// Frees the socket and its events. Only the end-of-turn reaping calls this.
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
        if phase == .open, endpoint.isChat, host.isRedisCongested, machine.holdForRedis() {
            event_del(readEvent)
            host.hold(self)
            return
        }
        let buffer = readBuffer
        let n = read(fd, buffer.baseAddress, buffer.count)
        if n > 0 {
            stats.bytesIn += UInt64(n)
            machine.received(now: Platform.monotonicMillis())  // any bytes prove the peer is alive
            received(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n]))
        } else if n == 0 {
            switch machine.inputEnded(answering: http == nil && awaitingBody == nil, pendingOutput: pendingOutput) {
            case .stopReading:
                event_del(readEvent)
                return
            case .drop(let why, let detail):
                abort(why, detail)
            }
        } else if errno == ECONNRESET {
            abort(.clientGone, phase == .open ? "connection reset by peer" : nil)  // as a reset noticed by a write
        } else if errno != EAGAIN && errno != EINTR {
            abort(.ioError, "read failed: \(Platform.errorText(errno))")
        }
        if machine.shouldPauseReading(pendingOutput: pendingOutput) {
            // Our own replies are piling up (an echo client that does not read):
            // stop reading until the peer drains them, so TCP pushes back on it.
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
                stats.httpErrors += 1
                respond(HTTPResponse.error(error))
            case .complete(let request, let leftover):
                http = nil
                answersHead = request.method == "HEAD"
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
                host.route(self, request, body: [])
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
        host.route(self, pending.request, body: pending.body)
    }

    private func readFrames(_ bytes: UnsafeMutableRawBufferPointer) {
        reader.read(bytes) { event in
            switch event {
            case .text(let payload):
                stats.messagesIn += 1
                guard admit(payload) else { return }
                switch endpoint {
                case .echo: sendFrame(Opcode.text, payload)
                case .seed(let channel):
                    host.chat(ClientProtocol.parse(payload, limits: protocolLimits, seedChannel: channel), from: self)
                case .multi:
                    host.chat(ClientProtocol.parse(payload, limits: protocolLimits, seedChannel: nil), from: self)
                }
            case .binary(let payload):
                stats.messagesIn += 1
                guard admit(nil) else { return }
                if case .echo = endpoint {
                    sendFrame(Opcode.binary, payload)
                } else {
                    sendEvent(
                        ServerEvents.error(
                            ChatError(.unsupportedData, "binary messages are not supported; send JSON text")))
                }
            case .ping(let payload):
                sendFrame(Opcode.pong, payload)
            case .pong:
                break
            case .close(let code, _):
                if let t = machine.peerClosed(code: code, now: Platform.monotonicMillis()) { perform(t) }
            case .failure(let code, let reason):
                host.logger.debug(
                    "websocket protocol error", [("conn", String(id)), ("code", String(code)), ("reason", reason)])
                if let t = machine.protocolViolated(code: code, reason: reason, now: Platform.monotonicMillis()) {
                    perform(t)
                }
            }
        }
    }

    /// Applies the message rate limit: an over-limit message gets `rate_limited` (with
    /// its `ref` and channel when it is a valid op, so a client knows which one was
    /// dropped); a client that keeps flooding is closed with 1008.
    private func admit(_ text: UnsafeRawBufferPointer?) -> Bool {
        guard limiter != nil else { return true }
        switch limiter!.check(now: machine.lastReceived) {
        case .allow:
            return true
        case .refuse:
            stats.rateLimited += 1
            var error = ChatError(.rateLimited, "too many messages: at most \(host.messageRate) per second")
            // Refusals are bounded by the patience bucket, so parsing them costs little.
            if let text, endpoint.isChat,
                case .success(let request) = ClientProtocol.parse(
                    text, limits: protocolLimits, seedChannel: seedChannel)
            {
                error.ref = request.ref
                error.channel = request.op.channel ?? seedChannel
            }
            sendEvent(ServerEvents.error(error))
            return false
        case .flooding:
            stats.rateLimited += 1
            host.logger.limited(
                "flooding", .warn, "client disconnected for flooding", [("conn", String(id)), ("nickname", nickname)])
            if let t = machine.flooded(now: Platform.monotonicMillis()) { perform(t) }
            return false
        }
    }

    /// Whether a chat message of `size` bytes (as stored) is within RATE_LIMIT_BYTES now.
    func admitBytes(_ size: Int) -> Bool {
        guard limiter != nil else { return true }
        return limiter!.admitBytes(size, now: Platform.monotonicMillis())
    }

    // MARK: Upgrade

    /// Answers 101 and switches to WebSocket framing for `endpoint`; `countsWebSocket`:
    /// the address's WebSocket count was taken for it.
    func upgrade(accept: String, endpoint: Endpoint, maxMessageSize: Int, countsWebSocket: Bool) {
        send(WebSocketHandshake.switchingProtocols(accept: accept))
        self.endpoint = endpoint
        reader = MessageReader(maxMessageSize: maxMessageSize)
        perform(machine.upgraded(countsWebSocket: countsWebSocket))
        if endpoint.isChat { limiter = host.makeRateLimiter(now: machine.lastReceived) }
        stats.upgrades += 1
        host.webSocketOpened()
    }
}
