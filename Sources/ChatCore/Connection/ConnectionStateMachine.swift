/// The life of one client connection, from accept to teardown, as a pure state
/// machine: the I/O code (ChatServer's `Connection`) reports what happened (bytes,
/// end of input, a flush, a tick of the clock, a close asked for) and performs what
/// the answer says (send a close frame, leave the channels, stop or resume reading,
/// shut the socket's write side, drop it). No sockets, no clock reads: time comes in.
///
/// ```
/// http ──upgrade──▶ open ──close (ours or the peer's)──▶ closing ──▶ closed
///   │                 │                                    ▲  (flushed and the peer's EOF,
///   └──answer─────────┼────────────────────────────────────┘   or the linger ran out)
///   └──drop───────────┴──drop (EOF, reset, timeouts, eviction, shutdown)──▶ closed
/// ```
///
/// Closing (RFC 6455 section 7): our close frame is the last frame sent; the write
/// side is shut once everything before it has left, and the socket is dropped when
/// the peer hangs up, or when it has read nothing for a linger, and after
/// `closingLimitMillis` whatever it does. Bytes that arrive meanwhile (the peer's
/// answering close among them) are not read.
public struct ConnectionStateMachine: Sendable {
    public enum Phase: Sendable {
        /// Reading the request head (and body), or answering it.
        case http
        /// WebSocket open.
        case open
        /// Close sent (or HTTP answer queued): flushing, then waiting for the peer's EOF.
        case closing
        /// Torn down at the end of this turn.
        case closed
    }

    public struct Settings: Sendable {
        /// How long a new connection has to send its request (HANDSHAKE_TIMEOUT).
        public var handshakeTimeoutMillis: UInt64
        /// Silence after which a client is pinged (PING_INTERVAL); 0: never.
        public var pingIntervalMillis: UInt64
        /// Time a pinged client has to answer (PONG_TIMEOUT).
        public var pongTimeoutMillis: UInt64
        /// Unsent bytes past which a client is too slow (OUTPUT_BUFFER_LIMIT); reading
        /// also pauses past it while our own replies pile up, and resumes at half.
        public var outputLimit: Int
        /// How long a closing connection waits for the peer to read and hang up.
        public var lingerMillis: UInt64
        /// The longest a connection may take to read its last answer or events once it
        /// is closing (a reader that trickles a few bytes at a time would hold its socket
        /// and buffers for as long as it liked).
        public var closingLimitMillis: UInt64

        public init(
            handshakeTimeoutMillis: UInt64, pingIntervalMillis: UInt64, pongTimeoutMillis: UInt64, outputLimit: Int,
            lingerMillis: UInt64 = 2_000, closingLimitMillis: UInt64 = 60_000
        ) {
            self.handshakeTimeoutMillis = handshakeTimeoutMillis
            self.pingIntervalMillis = pingIntervalMillis
            self.pongTimeoutMillis = pongTimeoutMillis
            self.outputLimit = outputLimit
            self.lingerMillis = lingerMillis
            self.closingLimitMillis = closingLimitMillis
        }
    }

    public let settings: Settings
    public private(set) var phase: Phase = .http
    /// Why the connection is closing (the first reason wins).
    public private(set) var closeReason: CloseReason?
    /// End of the handshake allowance (http) or of the linger (closing), monotonic ms.
    public private(set) var deadline: UInt64
    /// When the last bytes arrived (heartbeats, the rate limiter's clock).
    public private(set) var lastReceived: UInt64
    /// When the server's unanswered ping went out; 0 when none is outstanding.
    public private(set) var pingSentAt: UInt64 = 0
    /// Found over the output limit: gets nothing more, closed at the turn's end.
    public private(set) var isTooSlow = false
    /// Not read while the Redis command link is congested (backpressure).
    public private(set) var isHeldForRedis = false
    /// Not read while our own replies exceed the output limit.
    public private(set) var isReadPaused = false
    /// The peer sent its FIN after a complete request, or while an answer was leaving.
    public private(set) var peerFinished = false
    private var shutdownWhenFlushed = false
    private var closingSince: UInt64 = 0
    /// Bytes the kernel held for the peer at the last look during the linger: fewer
    /// at the next look means the peer is still reading.
    private var lingerKernelQueue: Int32 = 0
    private var countsHandshake: Bool
    private var countsWebSocket = false

    /// A connection accepted at `now`; `countsHandshake` when its address's handshake
    /// count was taken for it (not for a trusted proxy).
    public init(settings: Settings, now: UInt64, countsHandshake: Bool) {
        self.settings = settings
        self.countsHandshake = countsHandshake
        deadline = now + settings.handshakeTimeoutMillis
        lastReceived = now
    }

    /// Frames may be queued (nothing follows our close frame, RFC 6455 5.5.1).
    @inline(__always) public var acceptsFrames: Bool { phase == .open }
    /// Raw bytes may be queued (an HTTP answer; the rest of a batch while closing).
    @inline(__always) public var acceptsBytes: Bool { phase != .closed }

    // MARK: Input

    /// Bytes arrived: they prove the peer alive.
    public mutating func received(now: UInt64) {
        lastReceived = now
        pingSentAt = 0
    }

    /// The peer's input ended. `answering`: a complete request is being answered (an
    /// HTTP API call waiting for Redis).
    public mutating func inputEnded(answering: Bool, pendingOutput: Int) -> EndOfInput {
        if (phase == .http && answering) || (phase == .closing && pendingOutput > 0) {
            peerFinished = true
            return .stopReading
        }
        return .drop(.clientGone, detail: phase == .open ? "peer closed without a close frame" : nil)
    }

    /// After a read: whether to stop reading because our own replies pile up (an echo
    /// client that does not read), so TCP pushes back on it.
    public mutating func shouldPauseReading(pendingOutput: Int) -> Bool {
        guard phase == .open || phase == .http, pendingOutput > settings.outputLimit, !isReadPaused else {
            return false
        }
        isReadPaused = true
        return true
    }

    /// Reading would add to a congested Redis link: hold it (only an open chat
    /// connection is held; the caller knows which are chat). False: read on.
    public mutating func holdForRedis() -> Bool {
        guard phase == .open else { return false }
        isHeldForRedis = true
        return true
    }

    /// Redis is relieved: true when reading resumes. The heartbeat starts over (the
    /// client's silence while it was held was ours).
    public mutating func releasedByRedis(now: UInt64) -> Bool {
        guard isHeldForRedis else { return false }
        isHeldForRedis = false
        lastReceived = now
        pingSentAt = 0
        return phase != .closed && !isReadPaused
    }

    // MARK: Phases

    /// The handshake was accepted: the WebSocket is open. `countsWebSocket` when its
    /// address's WebSocket count was taken for it.
    public mutating func upgraded(countsWebSocket: Bool) -> Transition {
        precondition(phase == .http, "upgrade outside the HTTP phase")
        var t = Transition()
        t.releaseHandshake = countsHandshake
        countsHandshake = false
        self.countsWebSocket = countsWebSocket
        phase = .open
        return t
    }

    /// Starts the closing handshake with a close frame (nil when not open: a second
    /// close, or one after the peer's, sends nothing).
    public mutating func close(code: UInt16?, reason: String, why: CloseReason, now: UInt64) -> Transition? {
        guard phase == .open else { return nil }
        var t = enterClosing(why, now: now)
        t.closeFrame = CloseFrame(code: code, reason: reason)
        return t
    }

    /// The peer's close frame: answered with its code (RFC 6455 section 5.5.1), an
    /// empty close with an empty one.
    public mutating func peerClosed(code: UInt16?, now: UInt64) -> Transition? {
        close(code: code, reason: "", why: .clientClose, now: now)
    }

    /// The peer broke RFC 6455: closed with the code that names it (1002, 1007, 1009).
    public mutating func protocolViolated(code: UInt16, reason: String, now: UInt64) -> Transition? {
        close(code: code, reason: reason, why: .protocolError, now: now)
    }

    /// The client kept sending past its rate limit: 1008.
    public mutating func flooded(now: UInt64) -> Transition? {
        close(code: CloseCode.policyViolation, reason: "message rate limit exceeded", why: .flooding, now: now)
    }

    /// A plain HTTP answer was queued: the connection closes once it has left (nil
    /// when it is not in its HTTP phase any more).
    public mutating func answered(now: UInt64) -> Transition? {
        guard phase == .http else { return nil }
        return enterClosing(.httpAnswered, now: now)
    }

    private mutating func enterClosing(_ why: CloseReason, now: UInt64) -> Transition {
        var t = Transition()
        if closeReason == nil { closeReason = why }
        closingSince = now
        t.leftOpen = phase == .open
        t.releaseHandshake = countsHandshake
        countsHandshake = false
        phase = .closing
        t.leaveChannels = true
        shutdownWhenFlushed = true
        deadline = now + settings.lingerMillis
        t.sampleKernelQueue = true
        if isReadPaused || isHeldForRedis, !peerFinished {
            isReadPaused = false
            isHeldForRedis = false
            t.resumeReading = true
        }
        return t
    }

    /// Drops the connection now (peer gone, I/O error, timeout, eviction, shutdown);
    /// nil when it is closed already.
    public mutating func drop(_ why: CloseReason) -> Transition? {
        guard phase != .closed else { return nil }
        var t = Transition()
        if closeReason == nil { closeReason = why }
        t.leftOpen = phase == .open
        t.releaseHandshake = countsHandshake
        countsHandshake = false
        t.releaseWebSocket = countsWebSocket  // closing still holds the socket: counted until closed
        countsWebSocket = false
        phase = .closed
        t.leaveChannels = true
        t.teardown = true
        return t
    }

    // MARK: Output

    /// Checks unsent output against the limit: a client past it is too slow to keep.
    @inline(__always) public mutating func checkOutput(pending: Int) -> OutputCheck {
        if isTooSlow { return .tooSlow }
        guard pending > settings.outputLimit else { return .within }
        isTooSlow = true
        return .becameTooSlow
    }

    /// End of turn (and before each flush): a connection found too slow during the
    /// turn closes with 1008, its backlog in front of the close frame (the buffer may
    /// begin with the rest of a frame the socket took part of, so it cannot be cut).
    public mutating func closeIfTooSlow(now: UInt64) -> Transition? {
        guard isTooSlow, phase == .open else { return nil }
        return close(
            code: CloseCode.policyViolation, reason: "too slow: unread messages over the limit", why: .slowConsumer,
            now: now)
    }

    /// `n` bytes were written: while closing, the linger runs from the last progress.
    /// True when the kernel's send queue should be reported (`lingerSampled`).
    public mutating func wrote(_ n: Int, now: UInt64) -> Bool {
        guard n > 0, phase == .closing else { return false }
        deadline = now + settings.lingerMillis
        return true
    }

    /// The kernel's send queue for the peer, measured where a transition or `wrote` asked.
    public mutating func lingerSampled(kernelQueue: Int32) {
        lingerKernelQueue = kernelQueue
    }

    /// A flush left `remaining` bytes unsent.
    public mutating func flushed(remaining: Int) -> AfterFlush {
        var after = AfterFlush()
        if remaining == 0 {
            if shutdownWhenFlushed {
                shutdownWhenFlushed = false
                after.shutdownWrite = true
            }
            if peerFinished, phase == .closing {
                after.drop = closeReason ?? .clientGone  // both sides done
                return after
            }
        }
        if isReadPaused, remaining <= settings.outputLimit / 2, phase == .open {
            isReadPaused = false
            after.resumeReading = true
        }
        return after
    }

    // MARK: Time

    /// Once a second: the handshake deadline, the linger, heartbeats.
    public mutating func tick(now: UInt64) -> Tick {
        switch phase {
        case .http:
            guard now >= deadline else { return .nothing }
            return .drop(.handshakeTimeout, detail: "no complete request within \(settings.handshakeTimeoutMillis) ms")
        case .closing:
            return now >= deadline ? .checkLinger : .nothing
        case .open:
            // A connection held for Redis is not read: its pong may be waiting in the
            // socket, so its silence is ours, not the client's.
            guard settings.pingIntervalMillis > 0, !isHeldForRedis else { return .nothing }
            if pingSentAt != 0 {
                guard now - pingSentAt >= settings.pongTimeoutMillis else { return .nothing }
                return .drop(.pongTimeout, detail: "no pong within \(settings.pongTimeoutMillis) ms")
            }
            guard now - lastReceived >= settings.pingIntervalMillis else { return .nothing }
            pingSentAt = now
            return .sendPing
        case .closed:
            return .nothing
        }
    }

    /// The linger ran out. While an answer or the last events are still leaving
    /// (bytes wait in our buffer and the peer took some from the kernel since the last
    /// look) the connection gets another linger, within `closingLimitMillis` of the
    /// close; otherwise it is dropped (nil: another linger). So a big answer read
    /// slowly arrives whole, and a peer that stops reading is let go after one linger.
    public mutating func lingerExpired(now: UInt64, pendingOutput: Int, kernelQueue: Int32) -> CloseReason? {
        defer { lingerKernelQueue = kernelQueue }
        if pendingOutput > 0, kernelQueue < lingerKernelQueue, now - closingSince < settings.closingLimitMillis {
            deadline = now + settings.lingerMillis
            return nil
        }
        return closeReason ?? .clientGone
    }

    /// SIGTERM: an open connection is told and closed with 1001, one still in its
    /// HTTP phase dropped; a closing one finishes its close.
    public func shutdown() -> Shutdown {
        switch phase {
        case .open: return .closeGoingAway
        case .http: return .drop
        case .closing, .closed: return .nothing
        }
    }

    /// The close `.closeGoingAway` asks for (after the chat client's notice): 1001.
    public mutating func closeGoingAway(now: UInt64) -> Transition? {
        close(code: CloseCode.goingAway, reason: "server shutting down", why: .shutdown, now: now)
    }
}
