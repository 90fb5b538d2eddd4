import CLibevent
import ChatCore
import EventIO
import Glibc

/// Closing, timeouts and teardown: what `ConnectionStateMachine` decides, performed
/// on the socket, the worker's counts and the channels.
extension Connection {
    /// Starts the closing handshake: sends a close frame, leaves every channel, and
    /// closes the TCP connection once the peer has read it (or after a short linger).
    /// Nothing when the WebSocket is not open (a second close sends nothing).
    func close(code: UInt16?, reason: String, why: CloseReason) {
        guard let t = machine.close(code: code, reason: reason, why: why, now: Platform.monotonicMillis()) else {
            return
        }
        perform(t)
    }

    /// Sends a plain HTTP response and closes.
    func respond(_ response: [UInt8]) {
        guard let t = machine.answered(now: Platform.monotonicMillis()) else { return }
        http = nil
        awaitingBody = nil
        if answersHead, let end = HTTPResponse.headEnd(response) {
            response.withUnsafeBytes { send(raw: UnsafeRawBufferPointer(rebasing: $0[..<end])) }
        } else {
            send(response)
        }
        perform(t)
    }

    /// Drops the connection now (peer gone, I/O error, timeout). `detail` is logged
    /// at debug level; nil for ordinary ends.
    func abort(_ why: CloseReason, _ detail: String?) {
        guard let t = machine.drop(why) else { return }
        if let detail {
            host.logger.debug(
                "connection dropped", [("conn", String(id)), ("reason", why.rawValue), ("detail", detail)])
        }
        perform(t)
    }

    /// Once a second (the worker's housekeeping): the handshake deadline, the linger,
    /// heartbeats. A client silent for PING_INTERVAL gets a ping; one that then stays
    /// silent for PONG_TIMEOUT is dropped (its channels see it leave).
    func tick(now: UInt64) {
        switch machine.tick(now: now) {
        case .nothing:
            break
        case .sendPing:
            sendFrame(Opcode.ping, UnsafeRawBufferPointer(start: nil, count: 0))
            stats.pings += 1
        case .checkLinger:
            if let why = machine.lingerExpired(now: now, pendingOutput: pendingOutput, kernelQueue: kernelQueue()) {
                abort(why, nil)
            }
        case .drop(let why, let detail):
            abort(why, detail)
        }
    }

    /// SIGTERM: a chat client gets a system notice, then close 1001; a connection in
    /// its HTTP phase is dropped.
    func shutdown(notice: [UInt8]) {
        switch machine.shutdown() {
        case .closeGoingAway:
            if endpoint.isChat { sendEvent(notice) }
            if let t = machine.closeGoingAway(now: Platform.monotonicMillis()) { perform(t) }
        case .drop:
            abort(.shutdown, nil)
        case .nothing:
            break
        }
    }

    /// Performs a change of phase, in the order the machine documents.
    func perform(_ t: ConnectionStateMachine.Transition) {
        if let frame = t.closeFrame {
            // Echo the peer's code (RFC 6455 section 5.5.1); an empty close gets an empty one.
            let payload = frame.code.map { FrameEncoder.closePayload(code: $0, reason: frame.reason) } ?? []
            payload.withUnsafeBytes { appendFrame(Opcode.close, $0) }
        }
        if t.leftOpen { host.webSocketClosed() }
        // Per-address accounting follows the phase: see AddressLimits.
        if t.releaseHandshake { host.releaseHandshake(peerAddress: peerAddress) }
        if t.releaseWebSocket { host.releaseWebSocket(clientAddress: clientAddress) }
        // Leaving the channels hands their pending batches to the members; the phase
        // has changed already, so nothing follows our close frame.
        if t.leaveChannels { host.leaveAll(self) }
        if t.sampleKernelQueue { machine.lingerSampled(kernelQueue: kernelQueue()) }
        if t.resumeReading { event_add(readEvent, nil) }
        if t.teardown {
            event_del(readEvent)
            if writeArmed {
                writeArmed = false
                event_del(writeEvent)
            }
            host.reap(self)
        }
    }

    /// Bytes the kernel holds for the peer (unsent or unacknowledged).
    func kernelQueue() -> Int32 {
        var queued: Int32 = 0
        return ioctl(fd, UInt(TIOCOUTQ), &queued) == 0 ? queued : 0
    }
}
