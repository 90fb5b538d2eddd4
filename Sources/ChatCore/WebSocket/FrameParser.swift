/// The fixed part of a frame, decoded before any payload byte is looked at, so
/// that limits and frame rules are enforced before the payload arrives.
public struct FrameHeader: Equatable, Sendable {
    public var fin: Bool
    /// RSV1–RSV3 as the low three bits.
    public var rsv: UInt8
    public var opcode: UInt8
    public var masked: Bool
    public var length: UInt64
    /// Masking key in wire order (first key byte in the lowest byte).
    public var maskKey: UInt32

    public init(fin: Bool, rsv: UInt8 = 0, opcode: UInt8, masked: Bool, length: UInt64, maskKey: UInt32 = 0) {
        self.fin = fin
        self.rsv = rsv
        self.opcode = opcode
        self.masked = masked
        self.length = length
        self.maskKey = maskKey
    }
}

public enum FrameParserEvent {
    case header(FrameHeader)
    /// A piece of the current frame's payload, already unmasked in place. Valid only
    /// during the callback.
    case payload(UnsafeMutableRawBufferPointer)
    /// The current frame's payload is complete.
    case end
}

/// Incremental frame decoder: turns bytes into header / payload / end events. It
/// knows the wire format only; what is allowed is decided by `MessageReader`.
/// Partial input is never parsed twice: a split header is kept in 14 inline bytes,
/// and payload is passed on as it arrives.
public struct FrameParser: Sendable {
    private var head = (UInt64(0), UInt64(0))  // up to 14 header bytes
    private var headCount = 0
    private var inPayload = false
    private var remaining: UInt64 = 0
    private var masked = false
    private var maskKey: UInt32 = 0
    private var maskOffset = 0

    public init() {}

    /// Decodes `buffer` (unmasking payload in place), calling `emit` for each event.
    /// Stops early, returning false, when `emit` returns false.
    @discardableResult
    public mutating func parse(_ buffer: UnsafeMutableRawBufferPointer, _ emit: (FrameParserEvent) -> Bool) -> Bool {
        var i = 0
        let n = buffer.count
        while i < n || (inPayload && remaining == 0) {
            if inPayload {
                if remaining > 0 {
                    let take = Int(min(UInt64(n - i), remaining))
                    let chunk = UnsafeMutableRawBufferPointer(rebasing: buffer[i..<(i + take)])
                    if masked {
                        Self.unmask(chunk, key: maskKey, offset: maskOffset)
                        maskOffset = (maskOffset + take) & 3
                    }
                    remaining -= UInt64(take)
                    i += take
                    guard emit(.payload(chunk)) else { return false }
                }
                if remaining == 0 {
                    inPayload = false
                    guard emit(.end) else { return false }
                }
                continue
            }
            // Header: copy bytes into the inline buffer until the whole header is there.
            let need = headerLength()
            if headCount < need {
                let take = min(need - headCount, n - i)
                withUnsafeMutableBytes(of: &head) { h in
                    for k in 0..<take { h[headCount + k] = buffer[i + k] }
                }
                headCount += take
                i += take
                if headCount < headerLength() { continue }  // length may grow once byte 2 is known
            }
            let header = decodeHeader()
            headCount = 0
            inPayload = true
            remaining = header.length
            masked = header.masked
            maskKey = header.maskKey
            maskOffset = 0
            guard emit(.header(header)) else { return false }
        }
        return true
    }

    /// Bytes needed for the complete header given what is known so far.
    private func headerLength() -> Int {
        guard headCount >= 2 else { return 2 }
        let b1 = withUnsafeBytes(of: head) { $0[1] }
        var length = 2
        switch b1 & 0x7F {
        case 126: length += 2
        case 127: length += 8
        default: break
        }
        if b1 & 0x80 != 0 { length += 4 }
        return length
    }

    private func decodeHeader() -> FrameHeader {
        withUnsafeBytes(of: head) { h in
            let b0 = h[0]
            let b1 = h[1]
            var offset = 2
            var length = UInt64(b1 & 0x7F)
            if length == 126 {
                length = UInt64(h[2]) << 8 | UInt64(h[3])
                offset = 4
            } else if length == 127 {
                length = 0
                for k in 2..<10 { length = length << 8 | UInt64(h[k]) }
                offset = 10
            }
            let masked = b1 & 0x80 != 0
            var key: UInt32 = 0
            if masked { key = h.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
            return FrameHeader(
                fin: b0 & 0x80 != 0, rsv: (b0 >> 4) & 0x7, opcode: b0 & 0x0F, masked: masked, length: length,
                maskKey: key)
        }
    }

    /// XORs `chunk` with the masking key, starting `offset` bytes into the key.
    public static func unmask(_ chunk: UnsafeMutableRawBufferPointer, key: UInt32, offset: Int) {
        // Rotate the key so that byte `offset` of it lines up with chunk[0] (little-endian load order).
        let shift = UInt32((offset & 3) * 8)
        let rotated = shift == 0 ? key : (key >> shift) | (key << (32 - shift))
        let wide = UInt64(rotated) | UInt64(rotated) << 32
        let n = chunk.count
        var i = 0
        while i + 8 <= n {
            let v = chunk.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            chunk.storeBytes(of: v ^ wide, toByteOffset: i, as: UInt64.self)
            i += 8
        }
        var k = rotated
        while i < n {
            chunk[i] ^= UInt8(truncatingIfNeeded: k)
            k = (k >> 8) | (k << 24)
            i += 1
        }
    }
}
