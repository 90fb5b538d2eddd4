/// A Redis Stream entry id (`<milliseconds>-<sequence>`), which is also a message id.
/// Ids of one stream grow strictly, so they order a channel's messages.
public struct StreamID: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var milliseconds: UInt64
    public var sequence: UInt64

    public init(milliseconds: UInt64, sequence: UInt64) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    /// Parses `123-4` (a bare `123` means sequence 0, as Redis reads it).
    public init?<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        var ms: UInt64 = 0
        var seq: UInt64 = 0
        var seenDash = false
        var digits = 0
        for c in bytes {
            if c == UInt8(ascii: "-") {
                guard !seenDash, digits > 0 else { return nil }
                seenDash = true
                digits = 0
                continue
            }
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9"), digits < 20 else { return nil }
            let d = UInt64(c - UInt8(ascii: "0"))
            let (a, o1) = (seenDash ? seq : ms).multipliedReportingOverflow(by: 10)
            let (b, o2) = a.addingReportingOverflow(d)
            guard !o1, !o2 else { return nil }
            if seenDash { seq = b } else { ms = b }
            digits += 1
        }
        guard digits > 0 else { return nil }
        self.init(milliseconds: ms, sequence: seq)
    }

    public init?(_ text: String) { self.init(Array(text.utf8)) }

    /// The id at the front of a published payload, which always starts `{"id":"<id>"`.
    public static func leading(_ payload: UnsafeRawBufferPointer) -> StreamID? {
        let prefix = 7
        guard payload.count > prefix, payload.prefix(prefix).elementsEqual("{\"id\":\"".utf8) else { return nil }
        var end = prefix
        while end < payload.count, payload[end] != UInt8(ascii: "\"") { end += 1 }
        return StreamID(UnsafeRawBufferPointer(rebasing: payload[prefix..<end]))
    }

    public static func < (a: StreamID, b: StreamID) -> Bool {
        (a.milliseconds, a.sequence) < (b.milliseconds, b.sequence)
    }

    public var description: String { "\(milliseconds)-\(sequence)" }
}
