/// Appends JSON to a byte buffer without building intermediate strings.
public enum JSONWriter {
    /// Appends `s` as a JSON string literal (quotes included).
    public static func appendString(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { appendString(UnsafeRawBufferPointer($0), to: &out) }
    }

    /// Appends UTF-8 bytes as a JSON string literal, escaping `"`, `\` and control characters.
    public static func appendString(_ utf8: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var runStart = 0
        for (k, c) in utf8.enumerated() where c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") {
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: utf8[runStart..<k]))
            runStart = k + 1
            out.append(UInt8(ascii: "\\"))
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(c)
            case 0x0A: out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "t"))
            case 0x08: out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "f"))
            default:
                out.append(UInt8(ascii: "u"))
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "0"))
                out.append(c >> 4 == 0 ? UInt8(ascii: "0") : UInt8(ascii: "1"))
                let low = c & 15
                out.append(low < 10 ? UInt8(ascii: "0") + low : UInt8(ascii: "a") + low - 10)
            }
        }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: utf8[runStart...]))
        out.append(UInt8(ascii: "\""))
    }

    /// Bytes `s` takes as a JSON string literal, quotes left out: what a message costs
    /// as stored (a control character takes six).
    public static func escapedLength(_ s: String) -> Int {
        var n = 0
        for c in s.utf8 {
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c == 0x0A || c == 0x0D || c == 0x09 || c == 0x08
                || c == 0x0C
            {
                n += 2
            } else {
                n += c < 0x20 ? 6 : 1
            }
        }
        return n
    }

    public static func appendInt<I: BinaryInteger>(_ n: I, to out: inout [UInt8]) {
        out.append(contentsOf: String(n).utf8)
    }

    /// Writes `{...}` with the fields the closure adds.
    public static func object(_ out: inout [UInt8], _ fields: (inout ObjectWriter) -> Void) {
        var writer = ObjectWriter(out: out)
        out = []
        writer.out.append(UInt8(ascii: "{"))
        fields(&writer)
        writer.out.append(UInt8(ascii: "}"))
        out = writer.out
    }

    /// Adds members to an object being written; commas are handled.
    public struct ObjectWriter {
        public var out: [UInt8]
        private var first = true

        init(out: [UInt8]) { self.out = out }

        public mutating func key(_ name: StaticString) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(UInt8(ascii: "\""))
            out.append(UInt8(ascii: ":"))
        }

        public mutating func field(_ name: StaticString, _ value: String) {
            key(name)
            JSONWriter.appendString(value, to: &out)
        }

        public mutating func field<I: BinaryInteger>(_ name: StaticString, _ value: I) {
            key(name)
            JSONWriter.appendInt(value, to: &out)
        }

        public mutating func field(_ name: StaticString, _ value: Bool) {
            key(name)
            out.append(contentsOf: (value ? "true" : "false").utf8)
        }

        /// A member whose value is already-encoded JSON.
        public mutating func rawField(_ name: StaticString, _ json: [UInt8]) {
            key(name)
            out.append(contentsOf: json)
        }
    }
}
