/// What `ConnectionStateMachine` answers: the actions the I/O code performs.
extension ConnectionStateMachine {
    /// A close frame to queue: the code (nil: an empty close, answering one) and reason.
    public struct CloseFrame: Equatable, Sendable {
        public var code: UInt16?
        public var reason: String
    }

    /// What a change of phase asks of the I/O code, in this order.
    public struct Transition: Equatable, Sendable {
        /// Queue this close frame (the last frame the connection sends).
        public var closeFrame: CloseFrame?
        /// The connection stopped being an open WebSocket (the open count goes down).
        public var leftOpen = false
        /// It left its HTTP phase counted against its address's handshakes.
        public var releaseHandshake = false
        /// Its socket is gone: its address's WebSocket count goes down.
        public var releaseWebSocket = false
        /// Leave every channel (after the phase changed: nothing may follow the close frame).
        public var leaveChannels = false
        /// Read again (closing reads until the peer's EOF, paused or held or not).
        public var resumeReading = false
        /// The linger starts: report the kernel's send queue (`lingerSampled`).
        public var sampleKernelQueue = false
        /// Stop both events and hand the connection to the end-of-turn reaper.
        public var teardown = false
    }

    /// What to do when the peer's input ends (EOF).
    public enum EndOfInput: Equatable, Sendable {
        /// The peer may still read (`shutdown(SHUT_WR)`, `nc -N`): stop reading; the
        /// answer goes out and the connection closes once it has.
        case stopReading
        /// Drop the connection (`drop`), logging the detail if any.
        case drop(CloseReason, detail: String?)
    }

    /// What a flush that left `remaining` bytes asks for.
    public struct AfterFlush: Equatable, Sendable {
        /// Everything before our close has left: `shutdown(SHUT_WR)`.
        public var shutdownWrite = false
        /// Read again (our replies drained to half the limit).
        public var resumeReading = false
        /// Both sides are done: drop the connection for this reason.
        public var drop: CloseReason?
    }

    /// Where unsent output stands against the limit.
    public enum OutputCheck: Equatable, Sendable {
        case within
        /// Over the limit now, for the first time: count it, log it, close at the turn's end.
        case becameTooSlow
        /// Found too slow before: gets nothing more.
        case tooSlow
    }

    /// What the once-a-second tick asks for.
    public enum Tick: Equatable, Sendable {
        case nothing
        case sendPing
        /// The linger ran out: call `lingerExpired` with the current queues.
        case checkLinger
        case drop(CloseReason, detail: String?)
    }

    /// What SIGTERM asks of this connection.
    public enum Shutdown: Equatable, Sendable {
        case nothing
        /// Tell a chat client, then close with 1001 (`close(...)`).
        case closeGoingAway
        case drop
    }
}
