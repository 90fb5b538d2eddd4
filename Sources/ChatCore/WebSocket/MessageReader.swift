/// What the connection must act on, in the order the peer sent it.
public enum WebSocketEvent {
    /// A complete text message (valid UTF-8) or binary message. The bytes are valid only
    /// during the callback.
    case text(UnsafeRawBufferPointer)
    case binary(UnsafeRawBufferPointer)
    case ping(UnsafeRawBufferPointer)
    case pong(UnsafeRawBufferPointer)
    /// The peer's close frame, already validated; `code` is nil for an empty close.
    case close(code: UInt16?, reason: UnsafeRawBufferPointer)
    /// The peer broke the protocol: send a close frame with `code` and fail the connection.
    case failure(code: UInt16, reason: String)
}

/// Turns frames into messages and enforces RFC 6455's rules on them: masking,
/// reserved bits, opcodes, control-frame limits, fragmentation order, the message
/// size limit (1009) and UTF-8 of text, checked as the bytes arrive (1007).
///
/// A message that arrives whole in one read is handed out straight from the read
/// buffer; only a message that spans reads or frames is copied, into a buffer that is
/// released when the message ends so that idle connections hold no payload memory.
public struct MessageReader {
    public var maxMessageSize: Int
    /// Servers require masked frames; a client-side reader requires unmasked ones.
    public var expectMasked: Bool

    private var parser = FrameParser()
    private var frame = FrameHeader(fin: true, opcode: 0, masked: false, length: 0)
    private var frameReceived: UInt64 = 0
    /// Opcode of the data message in progress, 0 when none.
    private var messageOpcode: UInt8 = 0
    private var messageSize: UInt64 = 0
    private var buffer: [UInt8] = []
    private var direct: UnsafeRawBufferPointer?
    private var control: [UInt8] = []
    private var utf8 = UTF8Validator()
    public private(set) var isFinished = false

    public init(maxMessageSize: Int, expectMasked: Bool = true) {
        self.maxMessageSize = maxMessageSize
        self.expectMasked = expectMasked
    }

    /// True while part of a message or frame is buffered (for memory accounting).
    public var bufferedBytes: Int { buffer.count + control.count }

    /// Feeds bytes read from the socket. `buffer` is unmasked in place. After a
    /// `.close` or `.failure` event the reader ignores everything else.
    public mutating func read(_ bytes: UnsafeMutableRawBufferPointer, _ handle: (WebSocketEvent) -> Void) {
        guard !isFinished else { return }
        var parser = self.parser
        parser.parse(bytes) { event in
            switch event {
            case .header(let header): return onHeader(header, handle)
            case .payload(let chunk): return onPayload(UnsafeRawBufferPointer(chunk), handle)
            case .end: return onEnd(handle)
            }
        }
        self.parser = parser
    }

    private mutating func fail(_ code: UInt16, _ reason: String, _ handle: (WebSocketEvent) -> Void) -> Bool {
        isFinished = true
        buffer = []
        control = []
        handle(.failure(code: code, reason: reason))
        return false
    }

    private mutating func onHeader(_ header: FrameHeader, _ handle: (WebSocketEvent) -> Void) -> Bool {
        frame = header
        frameReceived = 0
        direct = nil
        if header.rsv != 0 { return fail(CloseCode.protocolError, "reserved bits set without an extension", handle) }
        if header.length >> 63 != 0 {
            return fail(CloseCode.protocolError, "64-bit length with its top bit set", handle)
        }
        if !Opcode.isKnown(header.opcode) { return fail(CloseCode.protocolError, "unknown opcode", handle) }
        if header.masked != expectMasked {
            return fail(
                CloseCode.protocolError,
                expectMasked ? "client frames must be masked" : "server frames must not be masked", handle)
        }
        if Opcode.isControl(header.opcode) {
            if !header.fin { return fail(CloseCode.protocolError, "fragmented control frame", handle) }
            if header.length > 125 {
                return fail(CloseCode.protocolError, "control frame payload over 125 bytes", handle)
            }
            return true
        }
        if header.opcode == Opcode.continuation {
            if messageOpcode == 0 {
                return fail(CloseCode.protocolError, "continuation frame without a message", handle)
            }
        } else {
            if messageOpcode != 0 {
                return fail(CloseCode.protocolError, "new message before the previous one ended", handle)
            }
            messageOpcode = header.opcode
            messageSize = 0
            utf8.reset()
        }
        if header.length > UInt64(maxMessageSize) || messageSize + header.length > UInt64(maxMessageSize) {
            return fail(CloseCode.messageTooBig, "message over \(maxMessageSize) bytes", handle)
        }
        return true
    }

    private mutating func onPayload(_ chunk: UnsafeRawBufferPointer, _ handle: (WebSocketEvent) -> Void) -> Bool {
        if Opcode.isControl(frame.opcode) {
            control.append(contentsOf: chunk)
            return true
        }
        if messageOpcode == Opcode.text, !utf8.validate(chunk) {
            return fail(CloseCode.invalidPayload, "text message is not valid UTF-8", handle)
        }
        let wholeMessage =
            frame.fin && frame.opcode != Opcode.continuation && frameReceived == 0
            && UInt64(chunk.count) == frame.length
        if wholeMessage {
            direct = chunk
        } else {
            buffer.append(contentsOf: chunk)
        }
        frameReceived += UInt64(chunk.count)
        messageSize += UInt64(chunk.count)
        return true
    }

    private mutating func onEnd(_ handle: (WebSocketEvent) -> Void) -> Bool {
        if Opcode.isControl(frame.opcode) { return onControlEnd(handle) }
        guard frame.fin else { return true }
        if messageOpcode == Opcode.text, !utf8.isComplete {
            return fail(CloseCode.invalidPayload, "text message ends inside a UTF-8 sequence", handle)
        }
        let opcode = messageOpcode
        messageOpcode = 0
        if let direct {
            self.direct = nil
            handle(opcode == Opcode.text ? .text(direct) : .binary(direct))
        } else {
            let message = buffer
            buffer = []
            message.withUnsafeBytes { handle(opcode == Opcode.text ? .text($0) : .binary($0)) }
        }
        return !isFinished
    }

    private mutating func onControlEnd(_ handle: (WebSocketEvent) -> Void) -> Bool {
        let payload = control
        control = []
        switch frame.opcode {
        case Opcode.ping:
            payload.withUnsafeBytes { handle(.ping($0)) }
        case Opcode.pong:
            payload.withUnsafeBytes { handle(.pong($0)) }
        default:  // close
            if payload.count == 1 { return fail(CloseCode.protocolError, "close frame with a 1-byte payload", handle) }
            var code: UInt16?
            if payload.count >= 2 {
                let c = UInt16(payload[0]) << 8 | UInt16(payload[1])
                if !CloseCode.isValidOnWire(c) {
                    return fail(CloseCode.protocolError, "invalid close code \(c)", handle)
                }
                code = c
            }
            let reasonValid = payload.withUnsafeBytes {
                UTF8Validator.isValid(UnsafeRawBufferPointer(rebasing: $0.dropFirst(min(2, $0.count))))
            }
            if !reasonValid { return fail(CloseCode.invalidPayload, "close reason is not valid UTF-8", handle) }
            isFinished = true
            buffer = []
            payload.withUnsafeBytes {
                handle(.close(code: code, reason: UnsafeRawBufferPointer(rebasing: $0.dropFirst(min(2, $0.count)))))
            }
            return false
        }
        return true
    }
}
