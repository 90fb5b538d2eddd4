/// The benchmark payload: `t=<16 hex: send time, monotonic ns>;s=<8 hex: sequence>;`
/// padded with `x` to the payload size, so a receiver finds both in any envelope
/// (our JSON event or Nchan's raw message).
enum Payload {
    static func make(sentAt: UInt64, sequence: UInt32, size: Int) -> [UInt8] {
        var out: [UInt8] = Array("t=".utf8)
        out.reserveCapacity(size)
        appendHex(sentAt, digits: 16, to: &out)
        out.append(contentsOf: ";s=".utf8)
        appendHex(UInt64(sequence), digits: 8, to: &out)
        out.append(UInt8(ascii: ";"))
        while out.count < size { out.append(UInt8(ascii: "x")) }
        return out
    }

    /// Finds `t=` and `s=` in a received message: (send time ns, sequence).
    static func parse(_ bytes: UnsafeRawBufferPointer) -> (sentAt: UInt64, sequence: UInt32)? {
        let n = bytes.count
        var i = 0
        while i + 30 <= n {
            if bytes[i] == UInt8(ascii: "t"), bytes[i + 1] == UInt8(ascii: "="), bytes[i + 18] == UInt8(ascii: ";"),
                bytes[i + 19] == UInt8(ascii: "s")
            {
                guard let t = hex(bytes, i + 2, 16), let s = hex(bytes, i + 21, 8) else { return nil }
                return (t, UInt32(s))
            }
            i += 1
        }
        return nil
    }

    private static func hex(_ b: UnsafeRawBufferPointer, _ start: Int, _ count: Int) -> UInt64? {
        var v: UInt64 = 0
        for k in start..<(start + count) {
            let c = b[k]
            let d: UInt64
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt64(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt64(c - UInt8(ascii: "a") + 10)
            default: return nil
            }
            v = v << 4 | d
        }
        return v
    }

    private static func appendHex(_ v: UInt64, digits: Int, to out: inout [UInt8]) {
        let alphabet = Array("0123456789abcdef".utf8)
        for k in stride(from: digits - 1, through: 0, by: -1) { out.append(alphabet[Int((v >> UInt64(k * 4)) & 15)]) }
    }
}
