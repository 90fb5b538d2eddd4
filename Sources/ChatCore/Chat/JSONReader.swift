/// A value of a top-level JSON object's member. Nested objects and arrays are
/// validated but not kept: no operation of the protocol takes one.
public enum JSONValue: Equatable, Sendable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
    case object
    case array
}

public struct JSONError: Error, Equatable, Sendable {
    public let message: String
    public let offset: Int
}

/// A strict RFC 8259 parser for one JSON object, with a nesting limit. Strings are
/// decoded (escapes, surrogate pairs); lone surrogates and raw control characters
/// are errors. The input must already be valid UTF-8 (WebSocket text guarantees it).
public struct JSONReader {
    private let bytes: UnsafeRawBufferPointer
    private var i = 0
    private let maxDepth: Int
    /// Members of the top-level object (depth 1), in order.
    private var members: [(key: String, value: JSONValue)] = []
    /// Where each of them is in the input (from its name's opening quote to the end of
    /// its value), when asked for (`parseObjectSpans`).
    private var spans: [Range<Int>]?

    /// Parses `bytes` as a JSON object and returns its members in order.
    public static func parseObject(
        _ bytes: UnsafeRawBufferPointer, maxDepth: Int = 16
    ) throws(JSONError) -> [(key: String, value: JSONValue)] {
        var reader = JSONReader(bytes: bytes, maxDepth: maxDepth)
        reader.skipWhitespace()
        guard reader.peek() == UInt8(ascii: "{") else { throw reader.error("expected an object") }
        try reader.readObject(depth: 1)
        reader.skipWhitespace()
        guard reader.i == bytes.count else { throw reader.error("unexpected data after the object") }
        return reader.members
    }

    public static func parseObject(
        _ bytes: [UInt8], maxDepth: Int = 16
    ) throws(JSONError) -> [(key: String, value: JSONValue)] {
        let result = bytes.withUnsafeBytes { b in
            Result { () throws(JSONError) in try parseObject(b, maxDepth: maxDepth) }
        }
        return try result.get()
    }

    /// Like `parseObject`, and also where each member is in `bytes`: the range from its
    /// name's opening quote to the end of its value, so that a member can be copied or
    /// left out verbatim (`SeedEnvelope`).
    public static func parseObjectSpans(
        _ bytes: UnsafeRawBufferPointer, maxDepth: Int = 16
    ) throws(JSONError)
        -> [(key: String, value: JSONValue, span: Range<Int>)]
    {
        var reader = JSONReader(bytes: bytes, maxDepth: maxDepth)
        reader.spans = []
        reader.skipWhitespace()
        guard reader.peek() == UInt8(ascii: "{") else { throw reader.error("expected an object") }
        try reader.readObject(depth: 1)
        reader.skipWhitespace()
        guard reader.i == bytes.count else { throw reader.error("unexpected data after the object") }
        return zip(reader.members, reader.spans!).map { ($0.key, $0.value, $1) }
    }

    private init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    private func error(_ message: String) -> JSONError { JSONError(message: message, offset: i) }

    private func peek() -> UInt8? { i < bytes.count ? bytes[i] : nil }

    private mutating func skipWhitespace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func expect(_ c: UInt8, _ what: String) throws(JSONError) {
        skipWhitespace()
        guard peek() == c else { throw error("expected \(what)") }
        i += 1
    }

    /// Parses `{...}` at `i`; keeps the members of the top-level object.
    private mutating func readObject(depth: Int) throws(JSONError) {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth)") }
        i += 1  // {
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            i += 1
            return
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let start = i
            let key = try parseString()
            try expect(UInt8(ascii: ":"), "':'")
            let value = try parseValue(depth: depth)
            if depth == 1 {
                members.append((key, value))
                spans?.append(start..<i)
            }
            skipWhitespace()
            guard let c = peek() else { throw error("unterminated object") }
            i += 1
            if c == UInt8(ascii: "}") { return }
            guard c == UInt8(ascii: ",") else { throw error("expected ',' or '}'") }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONError) {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth)") }
        i += 1  // [
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            i += 1
            return
        }
        while true {
            _ = try parseValue(depth: depth)
            skipWhitespace()
            guard let c = peek() else { throw error("unterminated array") }
            i += 1
            if c == UInt8(ascii: "]") { return }
            guard c == UInt8(ascii: ",") else { throw error("expected ',' or ']'") }
        }
    }

    private mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
        skipWhitespace()
        guard let c = peek() else { throw error("expected a value") }
        switch c {
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "{"):
            try readObject(depth: depth + 1)
            return .object
        case UInt8(ascii: "["):
            try parseArray(depth: depth + 1)
            return .array
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character")
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw error("unexpected end") }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw error("unexpected character") }
        i += n
    }

    private mutating func parseNumber() throws(JSONError) -> Double {
        let start = i
        if peek() == UInt8(ascii: "-") { i += 1 }
        guard let first = peek(), isDigit(first) else { throw error("malformed number") }
        i += 1
        if first != UInt8(ascii: "0") { while let c = peek(), isDigit(c) { i += 1 } }
        if peek() == UInt8(ascii: ".") {
            i += 1
            guard let c = peek(), isDigit(c) else { throw error("malformed number") }
            while let c = peek(), isDigit(c) { i += 1 }
        }
        if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            i += 1
            if let s = peek(), s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { i += 1 }
            guard let c = peek(), isDigit(c) else { throw error("malformed number") }
            while let c = peek(), isDigit(c) { i += 1 }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        guard let value = Double(text) else { throw error("malformed number") }
        return value
    }

    @inline(__always) private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private mutating func parseString() throws(JSONError) -> String {
        i += 1  // opening quote
        let start = i
        // Fast path: no escapes.
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
                i += 1
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw error("control character in a string") }
            i += 1
        }
        var out = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
        while i < bytes.count {
            let c = bytes[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let e = peek() else { throw error("unterminated string") }
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800 && scalar <= 0xDBFF {
                        guard i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u")
                        else {
                            throw error("lone surrogate in a string")
                        }
                        i += 2
                        let low = try hex4()
                        guard low >= 0xDC00 && low <= 0xDFFF else { throw error("lone surrogate in a string") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                        throw error("lone surrogate in a string")
                    }
                    out.append(contentsOf: String(Unicode.Scalar(scalar)!).utf8)
                default: throw error("invalid escape")
                }
            default:
                if c < 0x20 { throw error("control character in a string") }
                out.append(c)
            }
        }
        throw error("unterminated string")
    }

    private mutating func hex4() throws(JSONError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw error("malformed \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("malformed \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}
