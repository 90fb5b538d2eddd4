import Testing

@testable import ChatCore

/// `MessageReader`: RFC 6455 rules on top of the frame parser.
@Suite("MessageReader")
struct MessageReaderTests {
    // MARK: Messages

    @Test("single-frame text and binary messages, masked (RFC example)")
    func singleFrames() {
        let rfcMaskedHello: [UInt8] = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        #expect(read(rfcMaskedHello) == [.text(bytes("Hello"))])
        #expect(read(clientFrame(Opcode.binary, [0, 1, 0xFF])) == [.binary([0, 1, 0xFF])])
        #expect(read(clientFrame(Opcode.text, [])) == [.text([])])
        #expect(read(clientFrame(Opcode.binary, [])) == [.binary([])])
        // Binary payloads need not be UTF-8.
        #expect(read(clientFrame(Opcode.binary, [0xC0, 0x80, 0xFF])) == [.binary([0xC0, 0x80, 0xFF])])
    }

    @Test("several messages in one read come out in order")
    func severalInOneRead() {
        let data =
            clientFrame(Opcode.text, "one") + clientFrame(Opcode.ping, "p") + clientFrame(Opcode.binary, [9])
            + clientFrame(Opcode.pong, "q")
        #expect(read(data) == [.text(bytes("one")), .ping(bytes("p")), .binary([9]), .pong(bytes("q"))])
    }

    @Test("all length forms through the reader", arguments: [0, 1, 125, 126, 127, 65535, 65536, 70_001])
    func lengthForms(length: Int) {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 % 251) }
        #expect(read(clientFrame(Opcode.binary, payload), maxMessageSize: 1 << 17) == [.binary(payload)])
        // Text too (ASCII payload), and split in two at an odd place.
        let text = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
        let frame = clientFrame(Opcode.text, text, mask: 0xCAFE_BABE)
        #expect(read(split(frame, at: [frame.count / 3 + 1]), maxMessageSize: 1 << 17) == [.text(text)])
    }

    @Test("text in 3 fragments with pings interleaved")
    func fragmentsWithControlFrames() {
        let frames = [
            clientFrame(Opcode.text, "Hel", fin: false),
            clientFrame(Opcode.ping, "p1"),
            clientFrame(Opcode.continuation, "lo, ", fin: false),
            clientFrame(Opcode.ping, "p2"),
            clientFrame(Opcode.pong, ""),
            clientFrame(Opcode.continuation, "wörld"),
        ]
        let expected: [Event] = [.ping(bytes("p1")), .ping(bytes("p2")), .pong([]), .text(bytes("Hello, wörld"))]
        #expect(read(frames) == expected)
        #expect(read([frames.flatMap { $0 }]) == expected)
        // A 2-byte character split across the fragments is fine.
        let e = bytes("é")
        let splitChar = [
            clientFrame(Opcode.text, [0x61, e[0]], fin: false), clientFrame(Opcode.continuation, [e[1], 0x62]),
        ]
        #expect(read(splitChar) == [.text(bytes("aéb"))])
        // Empty fragments, binary.
        let binary = [
            clientFrame(Opcode.binary, [], fin: false), clientFrame(Opcode.continuation, [1, 2], fin: false),
            clientFrame(Opcode.continuation, []),
        ]
        #expect(read(binary) == [.binary([1, 2])])
    }

    @Test("a message after a fragmented one starts fresh")
    func messageAfterFragments() {
        let frames = [
            clientFrame(Opcode.text, "ab", fin: false), clientFrame(Opcode.continuation, "c"),
            clientFrame(Opcode.binary, [1]),
            clientFrame(Opcode.text, "d", fin: false), clientFrame(Opcode.continuation, "e"),
        ]
        var reader = MessageReader(maxMessageSize: 100)
        #expect(feed(&reader, frames) == [.text(bytes("abc")), .binary([1]), .text(bytes("de"))])
        #expect(reader.bufferedBytes == 0)
        #expect(!reader.isFinished)
    }

    @Test("buffered bytes are held only while a message is incomplete")
    func bufferedBytesAccounting() {
        var reader = MessageReader(maxMessageSize: 100)
        _ = feed(&reader, [clientFrame(Opcode.text, "abcd", fin: false)])
        #expect(reader.bufferedBytes == 4)
        let partial = clientFrame(Opcode.continuation, "efgh")
        _ = feed(&reader, [Array(partial.prefix(partial.count - 2))])
        #expect(reader.bufferedBytes == 6)
        #expect(feed(&reader, [Array(partial.suffix(2))]) == [.text(bytes("abcdefgh"))])
        #expect(reader.bufferedBytes == 0)
    }

    /// Everything the reader accepts, in one stream.
    static func validStream() -> [UInt8] {
        var s: [UInt8] = []
        s += clientFrame(Opcode.text, "Grüße, ", fin: false, mask: 0x0102_0304)
        s += clientFrame(Opcode.ping, "are you there?", mask: 0xFFEE_DDCC)
        s += clientFrame(Opcode.continuation, String(repeating: "€😀", count: 30), fin: false, mask: 0x1357_9BDF)
        s += clientFrame(Opcode.continuation, "!", mask: 0x2468_ACE0)
        s += clientFrame(Opcode.binary, (0..<300).map { UInt8(truncatingIfNeeded: $0) }, mask: 0xA5A5_5A5A)
        s += clientFrame(Opcode.pong, [], mask: 0)
        s += clientFrame(Opcode.text, "", mask: 0x1111_1111)
        s += clientFrame(Opcode.text, "末尾", mask: 0x7777_7777)
        s += clientFrame(Opcode.close, closePayload(1000, bytes("done")), mask: 0xABCD_EF01)
        return s
    }

    static let validStreamEvents: [Event] = [
        .ping(bytes("are you there?")),
        .text(bytes("Grüße, " + String(repeating: "€😀", count: 30) + "!")),
        .binary((0..<300).map { UInt8(truncatingIfNeeded: $0) }),
        .pong([]),
        .text([]),
        .text(bytes("末尾")),
        .close(1000, bytes("done")),
    ]

    @Test("byte-at-a-time and every single cut give the same events as one read")
    func everySplit() {
        let stream = Self.validStream()
        #expect(read(stream) == Self.validStreamEvents)
        #expect(read(bytewise(stream)) == Self.validStreamEvents)
        for cut in 1..<stream.count {
            #expect(read(split(stream, at: [cut])) == Self.validStreamEvents, "cut at \(cut)")
        }
    }

    @Test("random splits give the same events")
    func randomSplits() {
        let stream = Self.validStream()
        var rng = SplitMix64(seed: 6455)
        for trial in 0..<300 {
            let cuts = randomCuts(stream.count, count: Int.random(in: 1...30, using: &rng), using: &rng)
            #expect(read(split(stream, at: cuts)) == Self.validStreamEvents, "trial \(trial) cuts \(cuts)")
        }
    }

    @Test("failure points do not depend on splits either")
    func failureSplits() {
        // Valid text then a fragment with invalid UTF-8, then more frames that must be ignored.
        let stream =
            clientFrame(Opcode.text, "ok") + clientFrame(Opcode.text, [0x61, 0xF0, 0x9F], fin: false)
            + clientFrame(Opcode.continuation, [0x98, 0x28]) + clientFrame(Opcode.text, "ignored")
        let expected: [Event] = [.text(bytes("ok")), .failure(1007)]
        #expect(read(stream) == expected)
        #expect(read(bytewise(stream)) == expected)
        for cut in 1..<stream.count { #expect(read(split(stream, at: [cut])) == expected, "cut \(cut)") }
    }

    // MARK: Protocol errors (1002)

    @Test("reserved bits without an extension: 1002", arguments: [1, 2, 4, 3, 7] as [UInt8])
    func reservedBits(rsv: UInt8) {
        #expect(read(clientFrame(Opcode.text, bytes("x"), rsv: rsv)) == [.failure(1002)])
        #expect(read(clientFrame(Opcode.ping, bytes("x"), rsv: rsv)) == [.failure(1002)])
        #expect(read(clientFrame(Opcode.close, [], rsv: rsv)) == [.failure(1002)])
    }

    @Test("unknown opcodes: 1002", arguments: [3, 4, 5, 6, 7, 11, 12, 13, 14, 15] as [UInt8])
    func unknownOpcodes(opcode: UInt8) {
        #expect(read(clientFrame(opcode, [])) == [.failure(1002)])
        #expect(read(clientFrame(opcode, bytes("payload"))) == [.failure(1002)])
        // Also in the middle of a fragmented message, after valid frames.
        let mid =
            clientFrame(Opcode.ping, "a") + clientFrame(Opcode.text, "x", fin: false) + clientFrame(opcode, [])
            + clientFrame(Opcode.continuation, "y")
        #expect(read(mid) == [.ping(bytes("a")), .failure(1002)])
    }

    @Test("the server side refuses unmasked frames; the client side refuses masked ones")
    func masking() {
        #expect(read(clientFrame(Opcode.text, "hi", mask: nil)) == [.failure(1002)])
        #expect(read(clientFrame(Opcode.ping, "hi", mask: nil)) == [.failure(1002)])
        #expect(read(clientFrame(Opcode.close, [], mask: nil)) == [.failure(1002)])
        // Client-side reader (expectMasked: false): server frames are unmasked.
        let server =
            FrameEncoder.frame(opcode: Opcode.text, payload: bytes("hi"))
            + FrameEncoder.frame(opcode: Opcode.ping, payload: [])
            + FrameEncoder.frame(opcode: Opcode.close, payload: closePayload(1001))
        #expect(read(server, expectMasked: false) == [.text(bytes("hi")), .ping([]), .close(1001, [])])
        #expect(read(bytewise(server), expectMasked: false) == [.text(bytes("hi")), .ping([]), .close(1001, [])])
        #expect(read(clientFrame(Opcode.text, "hi"), expectMasked: false) == [.failure(1002)])
        // A mask key of zero still counts as masked.
        #expect(read(clientFrame(Opcode.text, "hi", mask: 0)) == [.text(bytes("hi"))])
        #expect(read(clientFrame(Opcode.text, "hi", mask: 0), expectMasked: false) == [.failure(1002)])
    }

    @Test("control frames over 125 bytes or fragmented: 1002")
    func controlFrameLimits() {
        for opcode in [Opcode.ping, Opcode.pong, Opcode.close] {
            let limit =
                opcode == Opcode.close
                ? closePayload(1000, [UInt8](repeating: 0x61, count: 123)) : [UInt8](repeating: 0x61, count: 125)
            let expected: Event =
                opcode == Opcode.ping
                ? .ping(limit) : opcode == Opcode.pong ? .pong(limit) : .close(1000, Array(limit.dropFirst(2)))
            #expect(read(clientFrame(opcode, limit)) == [expected], "opcode \(opcode) at 125 bytes")
            #expect(
                read(clientFrame(opcode, [UInt8](repeating: 0x61, count: 126))) == [.failure(1002)], "opcode \(opcode)")
            #expect(read(clientFrame(opcode, bytes("x"), fin: false)) == [.failure(1002)], "opcode \(opcode)")
        }
        // Decided at the header: no payload needed.
        let header = Array(clientFrame(Opcode.ping, [UInt8](repeating: 0, count: 200)).prefix(8))
        #expect(read(header) == [.failure(1002)])
    }

    @Test("continuation without a started message: 1002")
    func continuationWithoutStart() {
        #expect(read(clientFrame(Opcode.continuation, "x")) == [.failure(1002)])
        #expect(read(clientFrame(Opcode.continuation, "x", fin: false)) == [.failure(1002)])
        // After a complete message, too.
        #expect(
            read(clientFrame(Opcode.text, "a") + clientFrame(Opcode.continuation, "b")) == [
                .text(bytes("a")), .failure(1002),
            ])
    }

    @Test("a new data frame while a message is in progress: 1002")
    func newMessageMidMessage() {
        #expect(read(clientFrame(Opcode.text, "a", fin: false) + clientFrame(Opcode.text, "b")) == [.failure(1002)])
        #expect(read(clientFrame(Opcode.text, "a", fin: false) + clientFrame(Opcode.binary, "b")) == [.failure(1002)])
        #expect(
            read(
                clientFrame(Opcode.binary, "a", fin: false) + clientFrame(Opcode.ping, "")
                    + clientFrame(Opcode.text, "b", fin: false)) == [.ping([]), .failure(1002)])
    }

    // MARK: Size limit (1009)

    @Test("message size limit: 1009 past it, exact size fine")
    func sizeLimit() {
        let max = 100
        #expect(
            read(clientFrame(Opcode.binary, [UInt8](repeating: 1, count: max)), maxMessageSize: max) == [
                .binary([UInt8](repeating: 1, count: max))
            ])
        #expect(
            read(clientFrame(Opcode.binary, [UInt8](repeating: 1, count: max + 1)), maxMessageSize: max) == [
                .failure(1009)
            ])
        #expect(
            read(clientFrame(Opcode.text, [UInt8](repeating: 0x61, count: max + 1)), maxMessageSize: max) == [
                .failure(1009)
            ])
        // Control frames do not count against it.
        #expect(
            read(clientFrame(Opcode.ping, [UInt8](repeating: 1, count: 125)), maxMessageSize: 10) == [
                .ping([UInt8](repeating: 1, count: 125))
            ])
    }

    @Test("the sum of fragments counts; decided at the header of the fragment that crosses it")
    func fragmentSum() {
        let max = 100
        let first = clientFrame(Opcode.text, [UInt8](repeating: 0x61, count: 60), fin: false)
        let exact = clientFrame(Opcode.continuation, [UInt8](repeating: 0x62, count: 40))
        #expect(
            read([first, exact], maxMessageSize: max) == [
                .text([UInt8](repeating: 0x61, count: 60) + [UInt8](repeating: 0x62, count: 40))
            ])
        let over = clientFrame(Opcode.continuation, [UInt8](repeating: 0x62, count: 41))
        #expect(read([first, over], maxMessageSize: max) == [.failure(1009)])
        // Only the header of the crossing fragment: the failure comes before its payload.
        #expect(read([first, Array(over.prefix(6))], maxMessageSize: max) == [.failure(1009)])
        // Many small fragments.
        var many = clientFrame(Opcode.binary, [1], fin: false)
        for _ in 0..<99 { many += clientFrame(Opcode.continuation, [1], fin: false) }
        #expect(
            read(many + clientFrame(Opcode.continuation, []), maxMessageSize: max) == [
                .binary([UInt8](repeating: 1, count: 100))
            ])
        #expect(read(many + clientFrame(Opcode.continuation, [1]), maxMessageSize: max) == [.failure(1009)])
    }

    @Test("1009 is decided at the header, before any payload arrives")
    func sizeDecidedAtHeader() {
        // 16-bit and 64-bit length headers with no payload at all.
        let h16 = Array(clientFrame(Opcode.binary, [UInt8](repeating: 0, count: 1000)).prefix(8))
        #expect(read(h16, maxMessageSize: 999) == [.failure(1009)])
        var reader = MessageReader(maxMessageSize: 1 << 20)
        // 2^62 bytes announced: no allocation, no overflow, immediate failure.
        let huge: [UInt8] = [0x82, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]
        #expect(feed(&reader, [huge]) == [.failure(1009)])
        #expect(reader.isFinished)
        // Largest 64-bit length (MSB set, which RFC 6455 forbids): still a clean failure, no trap.
        let maxLength: [UInt8] = [0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4]
        let events = read(maxLength)
        // (1002 would be as right; what matters is one failure and no crash.)
        #expect(events == [.failure(1009)] || events == [.failure(1002)])
        // A continuation announcing nearly 2^63 bytes after a partial message.
        let first = clientFrame(Opcode.binary, [1, 2], fin: false)
        let cont: [UInt8] = [0x80, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 0, 0]
        #expect(read([first, cont]) == [.failure(1009)])
    }

    // MARK: Close frames

    @Test("empty close: code nil")
    func emptyClose() {
        #expect(read(clientFrame(Opcode.close, [])) == [.close(nil, [])])
    }

    @Test("close with a 1-byte payload: 1002")
    func oneByteClose() {
        #expect(read(clientFrame(Opcode.close, [0x03])) == [.failure(1002)])
    }

    @Test(
        "invalid close codes: 1002",
        arguments: [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] as [UInt16])
    func invalidCloseCodes(code: UInt16) {
        #expect(!CloseCode.isValidOnWire(code))
        #expect(read(clientFrame(Opcode.close, closePayload(code))) == [.failure(1002)])
        #expect(read(clientFrame(Opcode.close, closePayload(code, bytes("reason")))) == [.failure(1002)])
    }

    @Test(
        "valid close codes are passed on with the reason",
        arguments: [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999] as [UInt16])
    func validCloseCodes(code: UInt16) {
        #expect(CloseCode.isValidOnWire(code))
        #expect(read(clientFrame(Opcode.close, closePayload(code))) == [.close(code, [])])
        #expect(read(clientFrame(Opcode.close, closePayload(code, bytes("Tschüß")))) == [.close(code, bytes("Tschüß"))])
    }

    @Test(
        "close reason that is not UTF-8: 1007",
        arguments: [
            [0xFF], [0xC3], [0x61, 0xED, 0xA0, 0x80],
            [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64],
        ] as [[UInt8]])
    func invalidCloseReason(reason: [UInt8]) {
        #expect(read(clientFrame(Opcode.close, closePayload(1000, reason))) == [.failure(1007)])
    }

    @Test("a close during a fragmented message ends the connection")
    func closeMidMessage() {
        var reader = MessageReader(maxMessageSize: 100)
        let events = feed(
            &reader, [clientFrame(Opcode.text, "part", fin: false) + clientFrame(Opcode.close, closePayload(1000))])
        #expect(events == [.close(1000, [])])
        #expect(reader.isFinished)
        #expect(reader.bufferedBytes == 0)
    }

    // MARK: After the end

    @Test("after a close, the rest of the read and later reads are ignored")
    func ignoredAfterClose() {
        var reader = MessageReader(maxMessageSize: 100)
        #expect(!reader.isFinished)
        let events = feed(
            &reader,
            [
                clientFrame(Opcode.close, closePayload(1000)) + clientFrame(Opcode.text, "after")
                    + clientFrame(Opcode.ping, "")
            ])
        #expect(events == [.close(1000, [])])
        #expect(reader.isFinished)
        #expect(feed(&reader, [clientFrame(Opcode.text, "later"), clientFrame(Opcode.close, [])]) == [])
        // Garbage after the close too.
        #expect(feed(&reader, [[0xFF, 0xFF, 0xFF]]) == [])
    }

    @Test("after a failure, the rest of the read and later reads are ignored")
    func ignoredAfterFailure() {
        var reader = MessageReader(maxMessageSize: 100)
        let events = feed(&reader, [clientFrame(Opcode.continuation, "x") + clientFrame(Opcode.text, "after")])
        #expect(events == [.failure(1002)])
        #expect(reader.isFinished)
        #expect(feed(&reader, [clientFrame(Opcode.text, "later")]) == [])
        #expect(reader.bufferedBytes == 0)
        // A failure with a message buffered releases the buffer.
        var second = MessageReader(maxMessageSize: 100)
        _ = feed(&second, [clientFrame(Opcode.text, "abc", fin: false)])
        #expect(second.bufferedBytes == 3)
        #expect(feed(&second, [clientFrame(Opcode.text, "x")]) == [.failure(1002)])
        #expect(second.bufferedBytes == 0)
    }

    // MARK: UTF-8 (1007)

    @Test(
        "invalid UTF-8 in a text message: 1007",
        arguments: [
            [0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x80], [0x61, 0xC3],
        ] as [[UInt8]])
    func invalidText(payload: [UInt8]) {
        #expect(read(clientFrame(Opcode.text, payload)) == [.failure(1007)])
        #expect(read(bytewise(clientFrame(Opcode.text, payload))) == [.failure(1007)])
    }

    @Test("fail fast: a bad 2nd fragment fails before the final fragment arrives")
    func failFastAcrossFragments() {
        var reader = MessageReader(maxMessageSize: 1000)
        #expect(feed(&reader, [clientFrame(Opcode.text, "valid start ", fin: false)]) == [])
        #expect(
            feed(&reader, [clientFrame(Opcode.continuation, [0x61, 0xED, 0xA0, 0x80, 0x62], fin: false)]) == [
                .failure(1007)
            ])
        #expect(reader.isFinished)
        #expect(feed(&reader, [clientFrame(Opcode.continuation, "end")]) == [])
    }

    @Test("fail fast within one frame: before its payload is complete")
    func failFastWithinFrame() {
        let payload = [UInt8](repeating: 0x61, count: 50) + [0xC3, 0x28] + [UInt8](repeating: 0x61, count: 50)
        let frame = clientFrame(Opcode.text, payload)
        var reader = MessageReader(maxMessageSize: 1000)
        // The 6-byte header (7-bit length, mask key) plus the first 52 payload bytes.
        #expect(feed(&reader, [Array(frame.prefix(6 + 52))]) == [.failure(1007)])
        // A sequence cut by the end of the frame only fails at the end.
        var other = MessageReader(maxMessageSize: 1000)
        let truncated = clientFrame(Opcode.text, [0x61, 0xE2, 0x82])
        #expect(feed(&other, [Array(truncated.dropLast())]) == [])
        #expect(feed(&other, [Array(truncated.suffix(1))]) == [.failure(1007)])
    }

    @Test("a message that ends inside a UTF-8 sequence across fragments: 1007")
    func endsInsideSequence() {
        #expect(
            read([clientFrame(Opcode.text, "ab", fin: false), clientFrame(Opcode.continuation, [0xF0, 0x9F, 0x98])])
                == [.failure(1007)])
        // ...but a sequence completed by the next fragment is fine, and the validator resets between messages.
        let frames = [
            clientFrame(Opcode.text, [0xF0, 0x9F], fin: false), clientFrame(Opcode.continuation, [0x98, 0x80]),
            clientFrame(Opcode.text, "x"),
        ]
        #expect(read(frames) == [.text(bytes("😀")), .text(bytes("x"))])
    }

    @Test("close codes table")
    func closeCodeValues() {
        #expect(CloseCode.normal == 1000)
        #expect(CloseCode.protocolError == 1002)
        #expect(CloseCode.invalidPayload == 1007)
        #expect(CloseCode.messageTooBig == 1009)
        #expect(
            (0...5000).filter { CloseCode.isValidOnWire(UInt16($0)) } == Array(1000...1003) + Array(1007...1014)
                + Array(3000...4999))
    }
}
