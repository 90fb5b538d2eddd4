/// Standard base64 (RFC 4648, with padding), for the handshake key and accept value
/// and the seed envelope's `data`.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var out: [UInt8] = []
        Array(bytes).withUnsafeBytes { append($0, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the encoding of `input` (ASCII) to `out`.
    public static func append(_ input: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let start = out.count
        let length = (input.count + 2) / 3 * 4
        guard length > 0 else { return }
        out.append(contentsOf: repeatElement(UInt8(ascii: "="), count: length))
        alphabet.withUnsafeBufferPointer { alphabet in
            out.withUnsafeMutableBufferPointer { buffer in
                let o = UnsafeMutableBufferPointer(rebasing: buffer[start...])
                var i = 0
                var j = 0
                while i + 3 <= input.count {
                    let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
                    o[j] = alphabet[Int(n >> 18)]
                    o[j + 1] = alphabet[Int((n >> 12) & 63)]
                    o[j + 2] = alphabet[Int((n >> 6) & 63)]
                    o[j + 3] = alphabet[Int(n & 63)]
                    i += 3
                    j += 4
                }
                let rest = input.count - i
                if rest > 0 {  // the padding is in place already
                    var n = UInt32(input[i]) << 16
                    if rest == 2 { n |= UInt32(input[i + 1]) << 8 }
                    o[j] = alphabet[Int((n >> 18) & 63)]
                    o[j + 1] = alphabet[Int((n >> 12) & 63)]
                    if rest == 2 { o[j + 2] = alphabet[Int((n >> 6) & 63)] }
                }
            }
        }
    }

    /// Strict decoding: returns nil for a wrong length, a character outside the
    /// alphabet, misplaced padding or non-zero padding bits.
    public static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 4 * 3)
        var i = 0
        while i < input.count {
            var n: UInt32 = 0
            var padding = 0
            for j in 0..<4 {
                let c = input[i + j]
                let v: UInt32
                if c == UInt8(ascii: "=") {
                    guard i + 4 == input.count, j >= 2 else { return nil }
                    padding += 1
                    v = 0
                } else {
                    guard padding == 0, let d = value(c) else { return nil }
                    v = d
                }
                n = n << 6 | v
            }
            out.append(UInt8(n >> 16))
            if padding < 2 { out.append(UInt8(truncatingIfNeeded: n >> 8)) } else if n & 0xFFFF != 0 { return nil }
            if padding < 1 { out.append(UInt8(truncatingIfNeeded: n)) } else if n & 0xFF != 0 { return nil }
            i += 4
        }
        return out
    }

    private static func value(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(c - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt32(c - UInt8(ascii: "a") + 26)
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0") + 52)
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        default: return nil
        }
    }
}
