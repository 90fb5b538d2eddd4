import Testing

@testable import ChatCore

/// `FrameParser` (wire format only) and `FrameEncoder`.
@Suite("Frame parser and encoder")
struct FrameParserTests {
    // MARK: Encoder

    @Test("RFC 6455 section 5.7 examples, byte for byte")
    func rfcExamples() {
        let hello = bytes("Hello")
        #expect(FrameEncoder.frame(opcode: Opcode.text, payload: hello) == [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
        #expect(
            FrameEncoder.frame(opcode: Opcode.text, payload: hello, maskKey: rfcMaskKey)
                == [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])
        #expect(
            FrameEncoder.frame(opcode: Opcode.text, payload: bytes("Hel"), fin: false) == [
                0x01, 0x03, 0x48, 0x65, 0x6c,
            ])
        #expect(FrameEncoder.frame(opcode: Opcode.continuation, payload: bytes("lo")) == [0x80, 0x02, 0x6c, 0x6f])
        #expect(FrameEncoder.frame(opcode: Opcode.ping, payload: hello) == [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
        #expect(
            FrameEncoder.frame(opcode: Opcode.pong, payload: hello, maskKey: rfcMaskKey)
                == [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])
        let f256 = FrameEncoder.frame(opcode: Opcode.binary, payload: [UInt8](repeating: 7, count: 256))
        #expect(Array(f256.prefix(4)) == [0x82, 0x7E, 0x01, 0x00])
        #expect(f256.count == 260)
        let f64k = FrameEncoder.frame(opcode: Opcode.binary, payload: [UInt8](repeating: 7, count: 65536))
        #expect(Array(f64k.prefix(10)) == [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])
        #expect(f64k.count == 65546)
    }

    @Test(
        "all three length forms at their edges",
        arguments: [
            (0, [0x00] as [UInt8]),
            (125, [0x7D]),
            (126, [0x7E, 0x00, 0x7E]),
            (65535, [0x7E, 0xFF, 0xFF]),
            (65536, [0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]),
        ])
    func lengthForms(length: Int, lengthBytes: [UInt8]) {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        // Unmasked.
        let frame = FrameEncoder.frame(opcode: Opcode.binary, payload: payload)
        #expect(FrameEncoder.headerSize(length: length) == 1 + lengthBytes.count)
        #expect(frame.count == 1 + lengthBytes.count + length)
        #expect(frame[0] == 0x82)
        #expect(Array(frame[1..<(1 + lengthBytes.count)]) == lengthBytes)
        #expect(Array(frame[(1 + lengthBytes.count)...]) == payload)
        // Masked: mask bit, 4 key bytes in wire order, then the masked payload.
        let key: UInt32 = 0xA1B2_C3D4
        let keyBytes: [UInt8] = [0xD4, 0xC3, 0xB2, 0xA1]
        let masked = FrameEncoder.frame(opcode: Opcode.binary, payload: payload, maskKey: key)
        #expect(FrameEncoder.headerSize(length: length, masked: true) == 5 + lengthBytes.count)
        #expect(masked.count == 5 + lengthBytes.count + length)
        #expect(masked[1] == lengthBytes[0] | 0x80)
        #expect(Array(masked[2..<(1 + lengthBytes.count)]) == Array(lengthBytes.dropFirst()))
        let h = 1 + lengthBytes.count
        #expect(Array(masked[h..<(h + 4)]) == keyBytes)
        let body = Array(masked[(h + 4)...])
        #expect(body == payload.enumerated().map { $0.element ^ keyBytes[$0.offset % 4] })

        // The parser reads both back.
        for (data, isMasked) in [(frame, false), (masked, true)] {
            let events = parseFrames([data])
            let header = FrameHeader(
                fin: true, opcode: Opcode.binary, masked: isMasked, length: UInt64(length), maskKey: isMasked ? key : 0)
            let expected: [ParserEvent] =
                length == 0 ? [.header(header), .end] : [.header(header), .payload(payload), .end]
            #expect(events == expected)
        }
    }

    @Test("appendHeader and appendFrame append to existing output")
    func appendsToOutput() {
        var out: [UInt8] = [0xEE]
        FrameEncoder.appendHeader(opcode: Opcode.text, length: 3, fin: false, to: &out)
        #expect(out == [0xEE, 0x01, 0x03])
        let payload = bytes("abcdef")
        payload.withUnsafeBytes {
            FrameEncoder.appendFrame(opcode: Opcode.binary, payload: $0, maskKey: rfcMaskKey, to: &out)
        }
        let keyBytes: [UInt8] = [0x37, 0xfa, 0x21, 0x3d]
        #expect(Array(out[..<3]) == [0xEE, 0x01, 0x03])
        #expect(Array(out[3..<9]) == [0x82, 0x86] + keyBytes)
        #expect(Array(out[9...]) == payload.enumerated().map { $0.element ^ keyBytes[$0.offset % 4] })
    }

    @Test("close payload: code in network order, reason cut to 123 bytes at a scalar boundary")
    func closePayloadEncoding() {
        #expect(FrameEncoder.closePayload(code: 1000) == [0x03, 0xE8])
        #expect(FrameEncoder.closePayload(code: 4999, reason: "bye") == [0x13, 0x87] + bytes("bye"))
        let ascii = FrameEncoder.closePayload(code: 1002, reason: String(repeating: "a", count: 300))
        #expect(ascii.count == 125)
        // 2-byte characters: 61 fit in 123 bytes (122), the 62nd would not.
        let twoByte = FrameEncoder.closePayload(code: 1002, reason: String(repeating: "é", count: 100))
        #expect(twoByte.count == 124)
        #expect(UTF8Validator.isValid(Array(twoByte.dropFirst(2))))
        // 4-byte characters: 30 fit (120 bytes).
        let fourByte = FrameEncoder.closePayload(code: 1002, reason: String(repeating: "😀", count: 40))
        #expect(fourByte.count == 122)
        #expect(UTF8Validator.isValid(Array(fourByte.dropFirst(2))))
        // A close frame with the longest reason is still a legal control frame.
        #expect(read(clientFrame(Opcode.close, ascii)) == [.close(1002, Array(ascii.dropFirst(2)))])
    }

    // MARK: Parser

    @Test("header fields: FIN, RSV bits, opcode, mask")
    func headerFields() {
        var frame = FrameEncoder.frame(opcode: 0xB, payload: [1, 2, 3], fin: false, maskKey: 0x0102_0304)
        frame[0] |= 0x50  // RSV1 and RSV3
        let events = parseFrames([frame])
        #expect(
            events == [
                .header(
                    FrameHeader(fin: false, rsv: 0b101, opcode: 0xB, masked: true, length: 3, maskKey: 0x0102_0304)),
                .payload([1, 2, 3]),
                .end,
            ])
    }

    @Test("64-bit length is read in full")
    func largeLengthHeader() {
        let header: [UInt8] = [0x82, 0x7F, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0]
        #expect(
            parseFrames([header]) == [
                .header(FrameHeader(fin: true, opcode: 2, masked: false, length: 0x1234_5678_9ABC_DEF0))
            ])
    }

    @Test("unmask at every key offset, length and buffer alignment matches a naive XOR")
    func unmaskAgainstNaive() {
        var rng = SplitMix64(seed: 7)
        for offset in 0...3 {
            for length in 0...20 {
                for alignment in 0...7 {
                    let key = UInt32.random(in: 0...UInt32.max, using: &rng)
                    let data = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    let keyBytes = (0..<4).map { UInt8(truncatingIfNeeded: key >> (8 * UInt32($0))) }
                    let expected = data.enumerated().map { $0.element ^ keyBytes[($0.offset + offset) % 4] }
                    // Place the data at `alignment` bytes into a buffer, with guard bytes after it.
                    var buffer =
                        [UInt8](repeating: 0xAA, count: alignment) + data + [
                            0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
                        ]
                    buffer.withUnsafeMutableBytes { raw in
                        FrameParser.unmask(
                            UnsafeMutableRawBufferPointer(rebasing: raw[alignment..<(alignment + length)]), key: key,
                            offset: offset)
                    }
                    #expect(
                        Array(buffer[alignment..<(alignment + length)]) == expected,
                        "offset \(offset) length \(length) alignment \(alignment)")
                    #expect(Array(buffer[..<alignment]) == [UInt8](repeating: 0xAA, count: alignment))
                    #expect(Array(buffer[(alignment + length)...]) == [UInt8](repeating: 0x55, count: 8))
                }
            }
        }
    }

    @Test("unmasking is its own inverse, and offsets chain across pieces")
    func unmaskChains() {
        var rng = SplitMix64(seed: 8)
        let key: UInt32 = 0xDEAD_BEEF
        let data = (0..<61).map { _ in UInt8.random(in: 0...255, using: &rng) }
        var whole = data
        whole.withUnsafeMutableBytes { FrameParser.unmask($0, key: key, offset: 0) }
        for cut in 0...data.count {
            var pieces = data
            pieces.withUnsafeMutableBytes { raw in
                FrameParser.unmask(UnsafeMutableRawBufferPointer(rebasing: raw[..<cut]), key: key, offset: 0)
                FrameParser.unmask(UnsafeMutableRawBufferPointer(rebasing: raw[cut...]), key: key, offset: cut & 3)
            }
            #expect(pieces == whole, "cut \(cut)")
        }
        whole.withUnsafeMutableBytes { FrameParser.unmask($0, key: key, offset: 0) }
        #expect(whole == data)
    }

    /// A stream with every length form, masked and not, control frames and empty payloads.
    static func mixedStream() -> [UInt8] {
        var rng = SplitMix64(seed: 99)
        func payload(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        var s: [UInt8] = []
        s += FrameEncoder.frame(opcode: Opcode.text, payload: payload(5), fin: false, maskKey: 0x0A0B_0C0D)
        s += FrameEncoder.frame(opcode: Opcode.ping, payload: payload(3), maskKey: 0x1111_2222)
        s += FrameEncoder.frame(opcode: Opcode.continuation, payload: payload(130), fin: false, maskKey: 0x9876_5432)
        s += FrameEncoder.frame(opcode: Opcode.continuation, payload: [], maskKey: 0xFFFF_FFFF)
        s += FrameEncoder.frame(opcode: Opcode.binary, payload: payload(11))
        s += FrameEncoder.frame(opcode: Opcode.pong, payload: [])
        s += FrameEncoder.frame(opcode: Opcode.binary, payload: payload(70_000), maskKey: 0x0102_0304)
        s += FrameEncoder.frame(opcode: Opcode.close, payload: [0x03, 0xE8] + bytes("bye"), maskKey: 0x5555_AAAA)
        return s
    }

    @Test("input split at every byte boundary gives identical events")
    func everySplit() {
        let stream = Self.mixedStream()
        let reference = parseFrames([stream])
        #expect(reference.count == 8 * 3 - 2)  // header+payload+end, minus the two empty payloads
        #expect(parseFrames(bytewise(stream)) == reference)
        // One cut at every position of the small frames and around the 64-bit header.
        let positions =
            Array(0...200) + Array(stream.count - 70_020...stream.count - 69_990)
            + Array(stream.count - 20...stream.count)
        for cut in positions {
            #expect(parseFrames(split(stream, at: [cut])) == reference, "cut at \(cut)")
        }
    }

    @Test("random splits give identical events")
    func randomSplits() {
        let stream = Self.mixedStream()
        let reference = parseFrames([stream])
        var rng = SplitMix64(seed: 2024)
        for trial in 0..<200 {
            let cuts = randomCuts(stream.count, count: Int.random(in: 1...40, using: &rng), using: &rng)
            #expect(parseFrames(split(stream, at: cuts)) == reference, "trial \(trial) cuts \(cuts)")
        }
    }

    @Test("emit returning false stops the parser immediately")
    func stopsEarly() {
        var data =
            FrameEncoder.frame(opcode: Opcode.text, payload: bytes("one"))
            + FrameEncoder.frame(opcode: Opcode.text, payload: bytes("two"))
        var parser = FrameParser()
        var headers = 0
        let finished = data.withUnsafeMutableBytes { buf in
            parser.parse(buf) { event in
                if case .header = event {
                    headers += 1
                    return false
                }
                return true
            }
        }
        #expect(finished == false)
        #expect(headers == 1)
    }

    @Test("zero-length frames emit header and end without payload")
    func emptyFrames() {
        let data =
            FrameEncoder.frame(opcode: Opcode.ping, payload: [], maskKey: 1)
            + FrameEncoder.frame(opcode: Opcode.text, payload: [])
        #expect(
            parseFrames([data]) == [
                .header(FrameHeader(fin: true, opcode: Opcode.ping, masked: true, length: 0, maskKey: 1)), .end,
                .header(FrameHeader(fin: true, opcode: Opcode.text, masked: false, length: 0)), .end,
            ])
        #expect(parseFrames(bytewise(data)) == parseFrames([data]))
    }

    @Test("opcode classification")
    func opcodes() {
        #expect((0...15).filter { Opcode.isKnown(UInt8($0)) } == [0, 1, 2, 8, 9, 10])
        #expect((0...15).filter { Opcode.isControl(UInt8($0)) } == Array(8...15))
    }
}
