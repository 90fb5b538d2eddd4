/// Encodes frames. Servers send unmasked frames (RFC 6455 section 5.1); the client
/// side (tests, the benchmark tool) passes a masking key.
public enum FrameEncoder {
    /// Header size for a payload of `length` bytes.
    public static func headerSize(length: Int, masked: Bool = false) -> Int {
        (length < 126 ? 2 : length <= 0xFFFF ? 4 : 10) + (masked ? 4 : 0)
    }

    /// Appends a frame header for `length` payload bytes.
    public static func appendHeader(
        opcode: UInt8, length: Int, fin: Bool = true, maskKey: UInt32? = nil, to out: inout [UInt8]
    ) {
        out.append((fin ? 0x80 : 0) | opcode)
        let maskBit: UInt8 = maskKey == nil ? 0 : 0x80
        if length < 126 {
            out.append(maskBit | UInt8(length))
        } else if length <= 0xFFFF {
            out.append(maskBit | 126)
            out.append(UInt8(length >> 8))
            out.append(UInt8(length & 0xFF))
        } else {
            out.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) {
                out.append(UInt8(truncatingIfNeeded: UInt64(length) >> UInt64(shift)))
            }
        }
        if let maskKey {
            withUnsafeBytes(of: maskKey) { out.append(contentsOf: $0) }
        }
    }

    /// Appends a whole frame (header + payload, masked when `maskKey` is given).
    public static func appendFrame(
        opcode: UInt8, payload: UnsafeRawBufferPointer, fin: Bool = true, maskKey: UInt32? = nil, to out: inout [UInt8]
    ) {
        appendHeader(opcode: opcode, length: payload.count, fin: fin, maskKey: maskKey, to: &out)
        let start = out.count
        out.append(contentsOf: payload)
        if let maskKey {
            out.withUnsafeMutableBytes {
                FrameParser.unmask(UnsafeMutableRawBufferPointer(rebasing: $0[start...]), key: maskKey, offset: 0)
            }
        }
    }

    public static func frame(opcode: UInt8, payload: [UInt8], fin: Bool = true, maskKey: UInt32? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + headerSize(length: payload.count, masked: maskKey != nil))
        payload.withUnsafeBytes { appendFrame(opcode: opcode, payload: $0, fin: fin, maskKey: maskKey, to: &out) }
        return out
    }

    /// Close frame payload: the code in network order, then a UTF-8 reason cut to fit
    /// the 125-byte control frame limit (at a code point boundary).
    public static func closePayload(code: UInt16, reason: String = "") -> [UInt8] {
        var out: [UInt8] = [UInt8(code >> 8), UInt8(code & 0xFF)]
        var count = 0
        for scalar in reason.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if count + bytes.count > 123 { break }
            out.append(contentsOf: bytes)
            count += bytes.count
        }
        return out
    }
}
