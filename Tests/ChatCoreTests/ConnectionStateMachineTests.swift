import Testing

@testable import ChatCore

private let settings = ConnectionStateMachine.Settings(
    handshakeTimeoutMillis: 10_000, pingIntervalMillis: 30_000, pongTimeoutMillis: 10_000, outputLimit: 1_000,
    lingerMillis: 2_000, closingLimitMillis: 60_000)

private typealias Machine = ConnectionStateMachine

/// A connection accepted at t = 1000 ms.
private func accepted(countsHandshake: Bool = true, pingInterval: UInt64? = nil) -> Machine {
    var s = settings
    if let pingInterval { s.pingIntervalMillis = pingInterval }
    return Machine(settings: s, now: 1_000, countsHandshake: countsHandshake)
}

/// An open WebSocket (upgraded at t = 1000 ms, its address's WebSocket count taken).
private func open() -> Machine {
    var m = accepted()
    _ = m.upgraded(countsWebSocket: true)
    return m
}

/// An open WebSocket that started closing at t = 5000 ms (our close, 1000).
private func closing(kernelQueue: Int32 = 0) -> Machine {
    var m = open()
    _ = m.close(code: 1000, reason: "", why: .clientClose, now: 5_000)
    m.lingerSampled(kernelQueue: kernelQueue)
    return m
}

@Suite("Connection lifecycle: accept, HTTP, upgrade")
struct ConnectionHTTPPhaseTests {
    @Test("a new connection is in its HTTP phase, may take bytes but no frames")
    func fresh() {
        let m = accepted()
        #expect(m.phase == .http)
        #expect(m.acceptsBytes && !m.acceptsFrames)
        #expect(m.deadline == 11_000)
        #expect(m.closeReason == nil)
    }

    @Test("the upgrade opens the WebSocket and gives the handshake slot back once")
    func upgrade() {
        var m = accepted()
        let t = m.upgraded(countsWebSocket: true)
        #expect(m.phase == .open && m.acceptsFrames)
        #expect(t == Machine.Transition(releaseHandshake: true))
        // Closing later gives back nothing more for the handshake.
        let c = m.close(code: 1000, reason: "", why: .clientClose, now: 2_000)
        #expect(c?.releaseHandshake == false)
        #expect(c?.leftOpen == true)
    }

    @Test("a connection from a trusted proxy holds no handshake slot to give back")
    func uncounted() {
        var m = accepted(countsHandshake: false)
        do {
            let result = m.upgraded(countsWebSocket: false)
            #expect(result.releaseHandshake == false)
        }
        do {
            let result = m.drop(.clientGone)
            #expect(result?.releaseWebSocket == false)
        }
    }

    @Test("an HTTP answer starts closing: the write side shuts once it has left, then the peer's EOF ends it")
    func answered() {
        var m = accepted()
        let t = m.answered(now: 2_000)
        #expect(t?.releaseHandshake == true && t?.leftOpen == false && t?.closeFrame == nil)
        #expect(t?.leaveChannels == true && t?.sampleKernelQueue == true)
        #expect(m.phase == .closing && m.closeReason == .httpAnswered)
        #expect(m.deadline == 4_000)
        do {
            let result = m.answered(now: 2_100)
            #expect(result == nil)  // answered once
        }
        do {
            let result = m.flushed(remaining: 10)
            #expect(result == Machine.AfterFlush())
        }
        do {
            let result = m.flushed(remaining: 0)
            #expect(result == Machine.AfterFlush(shutdownWrite: true))
        }
        do {
            let result = m.flushed(remaining: 0)
            #expect(result == Machine.AfterFlush())  // shut once
        }
        do {
            let result = m.inputEnded(answering: false, pendingOutput: 0)
            #expect(result == .drop(.clientGone, detail: nil))
        }
        do {
            let result = m.drop(.clientGone)
            #expect(result?.teardown == true)
        }
        #expect(m.closeReason == .httpAnswered)  // the first reason wins
    }

    @Test("EOF after a complete request whose answer is pending (nc -N) stops reading; the answer still leaves")
    func halfClosedRequest() {
        var m = accepted()
        do {
            let result = m.inputEnded(answering: true, pendingOutput: 0)
            #expect(result == .stopReading)
        }
        #expect(m.peerFinished)
        _ = m.answered(now: 2_000)
        // Both sides done once the answer has left.
        do {
            let result = m.flushed(remaining: 0)
            #expect(result == Machine.AfterFlush(shutdownWrite: true, drop: .httpAnswered))
        }
    }

    @Test("EOF in the middle of a request drops the connection quietly")
    func eofMidRequest() {
        var m = accepted()
        do {
            let result = m.inputEnded(answering: false, pendingOutput: 0)
            #expect(result == .drop(.clientGone, detail: nil))
        }
    }

    @Test("no complete request within the handshake timeout: dropped")
    func handshakeTimeout() {
        var m = accepted()
        do {
            let result = m.tick(now: 10_999)
            #expect(result == .nothing)
        }
        do {
            let result = m.tick(now: 11_000)
            #expect(result == .drop(.handshakeTimeout, detail: "no complete request within 10000 ms"))
        }
        let t = m.drop(.handshakeTimeout)
        #expect(t?.releaseHandshake == true && t?.teardown == true && t?.leftOpen == false)
        #expect(m.phase == .closed && !m.acceptsBytes)
    }

    @Test("shutdown during the handshake drops the connection; an open one closes with 1001")
    func shutdownByPhase() {
        var m = accepted()
        #expect(m.shutdown() == .drop)
        var o = open()
        #expect(o.shutdown() == .closeGoingAway)
        let t = o.closeGoingAway(now: 2_000)
        #expect(t?.closeFrame == Machine.CloseFrame(code: 1001, reason: "server shutting down"))
        #expect(o.closeReason == .shutdown)
        #expect(o.shutdown() == .nothing)  // closing already: it finishes its close
        _ = o.drop(.clientGone)
        #expect(o.shutdown() == .nothing)
    }

    @Test("our own replies piling up pause reading once; draining to half the limit resumes it")
    func readPause() {
        var m = accepted()
        do {
            let result = m.shouldPauseReading(pendingOutput: 1_000)
            #expect(!result)
        }
        do {
            let result = m.shouldPauseReading(pendingOutput: 1_001)
            #expect(result)
        }
        do {
            let result = m.shouldPauseReading(pendingOutput: 5_000)
            #expect(!result)  // paused already
        }
        _ = m.upgraded(countsWebSocket: true)
        do {
            let result = m.flushed(remaining: 501)
            #expect(result == Machine.AfterFlush())
        }
        do {
            let result = m.flushed(remaining: 500)
            #expect(result == Machine.AfterFlush(resumeReading: true))
        }
        #expect(!m.isReadPaused)
    }
}

@Suite("Connection lifecycle: closing handshake (RFC 6455 section 7)")
struct ConnectionClosingTests {
    @Test("our close: a close frame with the code, leaves the channels, starts the linger")
    func ourClose() {
        var m = open()
        let t = m.close(code: 1008, reason: "bad", why: .refused, now: 5_000)
        #expect(
            t
                == Machine.Transition(
                    closeFrame: Machine.CloseFrame(code: 1008, reason: "bad"), leftOpen: true,
                    leaveChannels: true, sampleKernelQueue: true))
        #expect(m.phase == .closing && !m.acceptsFrames && m.acceptsBytes)
        #expect(m.deadline == 7_000)
        #expect(m.closeReason == .refused)
    }

    @Test("the peer's close is answered with its code; an empty close with an empty close")
    func peerClose() {
        var m = open()
        do {
            let result = m.peerClosed(code: nil, now: 5_000)
            #expect(result?.closeFrame == Machine.CloseFrame(code: nil, reason: ""))
        }
        #expect(m.closeReason == .clientClose)
        var n = open()
        do {
            let result = n.peerClosed(code: 4000, now: 5_000)
            #expect(result?.closeFrame == Machine.CloseFrame(code: 4000, reason: ""))
        }
    }

    @Test("a protocol error closes with the code that names it; flooding with 1008")
    func protocolErrorAndFlooding() {
        var m = open()
        do {
            let result = m.protocolViolated(code: 1007, reason: "invalid UTF-8", now: 5_000)
            #expect(result?.closeFrame == Machine.CloseFrame(code: 1007, reason: "invalid UTF-8"))
        }
        #expect(m.closeReason == .protocolError)
        var f = open()
        do {
            let result = f.flooded(now: 5_000)
            #expect(result?.closeFrame == Machine.CloseFrame(code: 1008, reason: "message rate limit exceeded"))
        }
        #expect(f.closeReason == .flooding)
        do {
            let result = f.protocolViolated(code: 1002, reason: "late", now: 5_100)
            #expect(result == nil)  // nothing after our close
        }
    }

    @Test("the peer's close during ours sends nothing more and keeps our reason")
    func peerCloseDuringOurs() {
        var m = closing()
        do {
            let result = m.close(code: 1000, reason: "", why: .protocolError, now: 5_500)
            #expect(result == nil)
        }
        #expect(m.closeReason == .clientClose)
        #expect(m.phase == .closing)
    }

    @Test("close while a write is pending: the close goes behind it, the write side shuts only when all has left")
    func closeWithPendingWrite() {
        var m = open()
        _ = m.shouldPauseReading(pendingOutput: 2_000)  // paused: replies pile up
        let t = m.close(code: 1000, reason: "", why: .clientClose, now: 5_000)
        #expect(t?.resumeReading == true)  // closing reads until the peer's EOF
        do {
            let result = m.flushed(remaining: 1_500)
            #expect(result == Machine.AfterFlush())
        }
        do {
            let result = m.wrote(500, now: 6_000)
            #expect(result)  // progress re-arms the linger
        }
        #expect(m.deadline == 8_000)
        do {
            let result = m.flushed(remaining: 0)
            #expect(result == Machine.AfterFlush(shutdownWrite: true))
        }
    }

    @Test("a write while not closing does not touch the deadline")
    func writeWhileOpen() {
        var m = open()
        do {
            let result = m.wrote(100, now: 2_000)
            #expect(!result)
        }
        var c = closing()
        do {
            let result = c.wrote(0, now: 6_000)
            #expect(!result)
        }
    }

    @Test("the peer's EOF while our last bytes leave: stop reading, drop once flushed")
    func eofWhileFlushing() {
        var m = closing()
        do {
            let result = m.inputEnded(answering: false, pendingOutput: 300)
            #expect(result == .stopReading)
        }
        do {
            let result = m.flushed(remaining: 100)
            #expect(result == Machine.AfterFlush())
        }
        do {
            let result = m.flushed(remaining: 0)
            #expect(result == Machine.AfterFlush(shutdownWrite: true, drop: .clientClose))
        }
    }

    @Test("the peer's EOF after everything left: dropped at once, with the reason of the close")
    func eofAfterFlush() {
        var m = closing()
        do {
            let result = m.inputEnded(answering: false, pendingOutput: 0)
            #expect(result == .drop(.clientGone, detail: nil))
        }
        let t = m.drop(.clientGone)
        #expect(t == Machine.Transition(releaseWebSocket: true, leaveChannels: true, teardown: true))
        #expect(m.closeReason == .clientClose)
    }

    @Test("EOF on an open WebSocket: the peer left without a close frame")
    func eofWhileOpen() {
        var m = open()
        do {
            let result = m.inputEnded(answering: true, pendingOutput: 0)
            #expect(result == .drop(.clientGone, detail: "peer closed without a close frame"))
        }
        do {
            let result = m.drop(.clientGone)
            #expect(result?.leftOpen == true)
        }
    }

    @Test("bytes after our close are not read as frames; frames are refused, the rest of a batch is not")
    func bytesAfterClose() {
        var m = closing()
        m.received(now: 5_100)
        #expect(m.phase == .closing)
        #expect(!m.acceptsFrames && m.acceptsBytes)
    }

    @Test("the linger: another one while the peer reads, dropped when it stops, and at 60 s whatever it does")
    func linger() {
        var m = closing(kernelQueue: 5_000)
        do {
            let result = m.tick(now: 6_999)
            #expect(result == .nothing)
        }
        do {
            let result = m.tick(now: 7_000)
            #expect(result == .checkLinger)
        }
        // Bytes wait and the kernel queue shrank: the peer reads; another linger.
        do {
            let result = m.lingerExpired(now: 7_000, pendingOutput: 100, kernelQueue: 4_000)
            #expect(result == nil)
        }
        #expect(m.deadline == 9_000)
        // The queue did not shrink: let go.
        do {
            let result = m.lingerExpired(now: 9_000, pendingOutput: 100, kernelQueue: 4_000)
            #expect(result == .clientClose)
        }
        // Nothing of ours waits: let go.
        var idle = closing(kernelQueue: 5_000)
        do {
            let result = idle.lingerExpired(now: 7_000, pendingOutput: 0, kernelQueue: 10)
            #expect(result == .clientClose)
        }
        // A trickling reader: dropped once a minute has passed since the close.
        var slow = closing(kernelQueue: 100_000)
        var now: UInt64 = 7_000
        var queue: Int32 = 100_000
        var verdict: CloseReason?
        repeat {
            queue -= 10
            verdict = slow.lingerExpired(now: now, pendingOutput: 1_000, kernelQueue: queue)
            now += 2_000
        } while verdict == nil && now < 100_000
        #expect(verdict == .clientClose)
        #expect(now - 2_000 >= 65_000)
    }

    @Test("a drop from any phase tears down once")
    func dropOnce() {
        var m = closing()
        do {
            let result = m.drop(.ioError)
            #expect(result?.teardown == true)
        }
        do {
            let result = m.drop(.ioError)
            #expect(result == nil)
        }
        do {
            let result = m.close(code: 1000, reason: "", why: .clientClose, now: 9_000)
            #expect(result == nil)
        }
        do {
            let result = m.answered(now: 9_000)
            #expect(result == nil)
        }
        do {
            let result = m.tick(now: 100_000)
            #expect(result == .nothing)
        }
        #expect(m.closeReason == .clientClose)
    }
}

@Suite("Connection lifecycle: slow consumers, heartbeats, Redis backpressure")
struct ConnectionLimitsTests {
    @Test("past the output limit: too slow once, nothing more, closed with 1008 at the turn's end")
    func slowConsumer() {
        var m = open()
        do {
            let result = m.checkOutput(pending: 1_000)
            #expect(result == .within)
        }
        do {
            let result = m.closeIfTooSlow(now: 2_000)
            #expect(result == nil)
        }
        do {
            let result = m.checkOutput(pending: 1_001)
            #expect(result == .becameTooSlow)
        }
        do {
            let result = m.checkOutput(pending: 0)
            #expect(result == .tooSlow)
        }
        let t = m.closeIfTooSlow(now: 2_000)
        #expect(t?.closeFrame == Machine.CloseFrame(code: 1008, reason: "too slow: unread messages over the limit"))
        #expect(m.closeReason == .slowConsumer)
        do {
            let result = m.closeIfTooSlow(now: 2_100)
            #expect(result == nil)  // closing already
        }
    }

    @Test("heartbeat: a ping after the interval of silence, a drop without a pong, bytes clear it")
    func heartbeat() {
        var m = open()
        do {
            let result = m.tick(now: 30_999)
            #expect(result == .nothing)
        }
        do {
            let result = m.tick(now: 31_000)
            #expect(result == .sendPing)
        }
        #expect(m.pingSentAt == 31_000)
        do {
            let result = m.tick(now: 32_000)
            #expect(result == .nothing)  // one ping outstanding at a time
        }
        do {
            let result = m.tick(now: 41_000)
            #expect(result == .drop(.pongTimeout, detail: "no pong within 10000 ms"))
        }
        var answered = open()
        _ = answered.tick(now: 31_000)
        answered.received(now: 31_500)
        #expect(answered.pingSentAt == 0)
        do {
            let result = answered.tick(now: 41_000)
            #expect(result == .nothing)
        }
        do {
            let result = answered.tick(now: 61_500)
            #expect(result == .sendPing)
        }
    }

    @Test("PING_INTERVAL 0: no heartbeat")
    func noHeartbeat() {
        var m = accepted(pingInterval: 0)
        _ = m.upgraded(countsWebSocket: true)
        do {
            let result = m.tick(now: 10_000_000)
            #expect(result == .nothing)
        }
    }

    @Test("held for Redis: only when open, no heartbeat meanwhile, released with the heartbeat started over")
    func heldForRedis() {
        var h = accepted()
        do {
            let result = h.holdForRedis()
            #expect(!result)  // not open: read on
        }
        var m = open()
        do {
            let result = m.holdForRedis()
            #expect(result)
        }
        do {
            let result = m.tick(now: 100_000)
            #expect(result == .nothing)
        }
        do {
            let result = m.releasedByRedis(now: 100_000)
            #expect(result)
        }
        #expect(m.lastReceived == 100_000)
        do {
            let result = m.releasedByRedis(now: 100_001)
            #expect(!result)  // released once
        }
        do {
            let result = m.tick(now: 129_999)
            #expect(result == .nothing)
        }
    }

    @Test("a held connection stays unread while its replies are paused, and closing reads again")
    func heldAndPaused() {
        var m = open()
        _ = m.shouldPauseReading(pendingOutput: 5_000)
        _ = m.holdForRedis()
        do {
            let result = m.releasedByRedis(now: 2_000)
            #expect(!result)  // still paused
        }
        _ = m.holdForRedis()
        let t = m.close(code: 1000, reason: "", why: .clientClose, now: 3_000)
        #expect(t?.resumeReading == true)
        #expect(!m.isHeldForRedis && !m.isReadPaused)
        do {
            let result = m.releasedByRedis(now: 4_000)
            #expect(!result)  // the later release finds nothing to do
        }
    }

    @Test("a peer that finished reads no more: closing does not resume it")
    func finishedStaysUnread() {
        var m = accepted()
        _ = m.shouldPauseReading(pendingOutput: 5_000)
        do {
            let result = m.inputEnded(answering: true, pendingOutput: 5_000)
            #expect(result == .stopReading)
        }
        do {
            let result = m.answered(now: 2_000)
            #expect(result?.resumeReading == false)
        }
    }
}
