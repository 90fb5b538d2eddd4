/// Incremental UTF-8 validation (RFC 3629): feed a message's bytes in any number of
/// pieces; it fails at the first byte that can no longer be valid UTF-8, so a text
/// message is rejected as soon as it goes wrong, not when it ends.
public struct UTF8Validator: Sendable {
    /// Continuation bytes still expected for the current code point.
    private var remaining: UInt8 = 0
    /// Allowed range of the next continuation byte (narrower right after E0, ED, F0, F4
    /// so that overlong forms, surrogates and code points above U+10FFFF fail).
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    public init() {}

    /// True when the bytes so far end on a code point boundary.
    public var isComplete: Bool { remaining == 0 }

    public mutating func reset() { self = UTF8Validator() }

    /// Returns false as soon as `bytes` make the input invalid.
    public mutating func validate(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let n = bytes.count
        var i = 0
        while i < n {
            if remaining == 0 {
                // ASCII fast path: eight bytes at a time.
                while i + 8 <= n, bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                    i += 8
                }
                guard i < n else { break }
                let b = bytes[i]
                i += 1
                switch b {
                case 0x00...0x7F: continue
                case 0xC2...0xDF: remaining = 1
                case 0xE0:
                    remaining = 2
                    lower = 0xA0
                case 0xE1...0xEC, 0xEE...0xEF: remaining = 2
                case 0xED:
                    remaining = 2
                    upper = 0x9F
                case 0xF0:
                    remaining = 3
                    lower = 0x90
                case 0xF1...0xF3: remaining = 3
                case 0xF4:
                    remaining = 3
                    upper = 0x8F
                default: return false
                }
            } else {
                let b = bytes[i]
                i += 1
                guard b >= lower, b <= upper else { return false }
                remaining -= 1
                lower = 0x80
                upper = 0xBF
            }
        }
        return true
    }

    /// Whole-buffer check.
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var v = UTF8Validator()
        return v.validate(bytes) && v.isComplete
    }

    public static func isValid(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { isValid($0) }
    }
}
