import CLibevent
import ChatCore
import EventIO
import Glibc

/// Output: bytes and frames appended to the evbuffer (flushed at the end of the turn),
/// the fan-out's shared batches, and the slow-consumer limit.
extension Connection {
    /// Appends raw bytes to the output and schedules a flush.
    func send(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { send(raw: $0) }
    }

    func send(raw bytes: UnsafeRawBufferPointer) {
        guard machine.acceptsBytes, bytes.count > 0 else { return }
        buffered = true
        evbuffer_add(output, bytes.baseAddress, bytes.count)
        markDirty()
    }

    /// Appends one unmasked frame. Nothing follows our close frame (RFC 6455 5.5.1).
    func sendFrame(_ opcode: UInt8, _ payload: UnsafeRawBufferPointer) {
        guard machine.acceptsFrames else { return }
        appendFrame(opcode, payload)
    }

    /// Appends one unmasked frame whatever the phase (our close frame, as the machine
    /// leaves the open phase).
    func appendFrame(_ opcode: UInt8, _ payload: UnsafeRawBufferPointer) {
        var header: (UInt64, UInt16) = (0, 0)  // room for the largest header (10 bytes)
        let size = withUnsafeMutableBytes(of: &header) { h -> Int in
            h[0] = 0x80 | opcode
            let n = payload.count
            if n < 126 {
                h[1] = UInt8(n)
                return 2
            } else if n <= 0xFFFF {
                h[1] = 126
                h[2] = UInt8(n >> 8)
                h[3] = UInt8(n & 0xFF)
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
        guard machine.acceptsFrames, !isTooSlow(evbuffer_get_length(output)) else { return }
        sendEvent(json)
    }

    /// Sends a JSON event as a text frame (in the seed envelope on `/chat/join`).
    func sendEvent(_ json: [UInt8]) {
        guard machine.acceptsFrames else { return }
        if let channel = envelopeChannel, let envelope = SeedEnvelope.encode(event: json, channel: channel) {
            envelope.withUnsafeBytes { sendFrame(Opcode.text, $0) }
        } else {
            json.withUnsafeBytes { sendFrame(Opcode.text, $0) }
        }
        stats.eventsOut += 1
    }

    /// Appends already-framed events to the output (seam replays, a batch committed
    /// before a membership change, a quiet notice for its joiner).
    func deliver(frame: UnsafeRawBufferPointer, events: Int = 1) {
        guard machine.acceptsFrames, !isTooSlow(evbuffer_get_length(output)) else { return }
        buffered = true
        evbuffer_add(output, frame.baseAddress, frame.count)
        stats.deliveries += UInt64(events)
        markDirty()
    }

    /// Writes a channel's batch of this turn (already-framed events shared by all its
    /// members): straight from the shared bytes when nothing else waits for this
    /// socket, so fan-out costs one `send` per member and no copy; what the socket
    /// does not take, or anything behind pending output, goes to the output buffer.
    func writeShared(_ batch: UnsafeRawBufferPointer, events: Int) {
        guard acceptShared(batch, events: events) else { return }
        stats.deliveries += UInt64(events)
        stats.bytesOut += UInt64(sharedSent(batch, result: sendNow(batch)))
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
        guard machine.acceptsFrames else { return false }
        if !buffered { return !machine.isTooSlow }
        let pending = evbuffer_get_length(output)
        if isTooSlow(pending) { return false }
        if pending == 0 { return true }
        stats.deliveries += UInt64(events)
        evbuffer_add(output, batch.baseAddress, batch.count)
        if !writeArmed {
            writeArmed = true
            event_add(writeEvent, nil)
        }
        return false
    }

    /// The result of sending a batch `acceptShared` let through: bytes sent, or
    /// -errno. The rest waits in the output buffer for the socket. Returns the bytes
    /// sent, for the caller's count.
    func sharedSent(_ batch: UnsafeRawBufferPointer, result: Int) -> Int {
        var offset = 0
        if result < 0 {
            let e = Int32(-result)
            if e != EAGAIN && e != EINTR {
                writeFailed(e)
                return 0
            }
        } else {
            offset = result
        }
        // Closing (a close frame queued meanwhile) still gets the rest, ahead of it.
        if offset == batch.count || !machine.acceptsBytes { return offset }
        if offset > 0 { stats.partialWrites += 1 }
        buffered = true
        // Prepended: these bytes come before anything queued after the batch was taken.
        evbuffer_prepend(output, batch.baseAddress! + offset, batch.count - offset)
        if !writeArmed {
            writeArmed = true
            event_add(writeEvent, nil)
        }
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
        switch machine.checkOutput(pending: pending) {
        case .within: return false
        case .tooSlow: return true
        case .becameTooSlow:
            stats.slowConsumers += 1
            host.logger.limited(
                "slow_consumer", .warn, "slow consumer disconnected",
                [("conn", String(id)), ("nickname", nickname), ("pending_bytes", String(pending))])
            markDirty()
            return true
        }
    }

    /// End of turn: closes a connection found too slow during the turn. Closing lasts
    /// a minute at most, and its address keeps counting the connection until then.
    func closeIfTooSlow() {
        guard machine.isTooSlow, let t = machine.closeIfTooSlow(now: Platform.monotonicMillis()) else { return }
        perform(t)
    }

    func markDirty() {
        if !isDirty {
            isDirty = true
            host.markDirty(self)
        }
    }

    /// A write that failed for good: a peer that is gone (EPIPE, ECONNRESET) or an I/O error.
    func writeFailed(_ e: Int32) {
        if e == EPIPE || e == ECONNRESET {
            abort(.clientGone, nil)
        } else {
            abort(.ioError, "write failed: \(Platform.errorText(e))")
        }
    }

    /// Writes what the output holds; arms the write event for the rest.
    func flush() {
        closeIfTooSlow()
        guard machine.acceptsBytes else { return }
        if evbuffer_get_length(output) > 0 {
            let n = evbuffer_write(output, fd)
            if n < 0 {
                let e = errno
                if e != EAGAIN && e != EINTR { return writeFailed(e) }
            } else {
                stats.bytesOut += UInt64(n)
                // Closing: the linger runs from the last progress (see lingerExpired).
                if n > 0, phase == .closing, machine.wrote(Int(n), now: Platform.monotonicMillis()) {
                    machine.lingerSampled(kernelQueue: kernelQueue())
                }
            }
        }
        let remaining = evbuffer_get_length(output)
        buffered = remaining > 0
        if remaining > 0 {
            if !writeArmed {
                writeArmed = true
                event_add(writeEvent, nil)
            }
        } else if writeArmed {
            writeArmed = false
            event_del(writeEvent)
        }
        let after = machine.flushed(remaining: remaining)
        if after.shutdownWrite { Glibc.shutdown(fd, Int32(SHUT_WR)) }
        if let why = after.drop { return abort(why, nil) }
        if after.resumeReading { event_add(readEvent, nil) }
    }

    func onWritable() { flush() }

    var isHeldForRedis: Bool { machine.isHeldForRedis }

    /// Redis is relieved: reading goes on (and the heartbeat starts over: the client's
    /// silence while it was held was ours).
    func release() {
        if machine.releasedByRedis(now: Platform.monotonicMillis()) { event_add(readEvent, nil) }
    }
}
