/// The quiet-notice format. In a channel over the notice limit a join or leave is
/// "quiet": not stored, and published only as a marker `{"id":"<id>","quiet":true}`
/// that gives its place in the channel's order (instances start the joiner's delivery
/// there); the joiner alone gets its notice, the stored shape with `"quiet":true` last.
/// Streams from before quiet notices went unstored hold such bodies: replays and the
/// history API skip them. Written by the scripts (Scripts/lib/channel.lua,
/// Scripts/lib/stream.lua: a unit test checks they agree) and here.
public enum QuietNotice {
    /// How a quiet notice's body, and the marker, end.
    public static let suffix: StaticString = "\"quiet\":true}"

    /// The marker published in place of a quiet notice.
    public static func marker(id: String) -> [UInt8] {
        Array("{\"id\":\"\(id)\",\"quiet\":true}".utf8)
    }

    /// Whether a payload or a stored body is quiet (a marker, or a notice marked quiet).
    public static func isQuiet(_ body: UnsafeRawBufferPointer) -> Bool {
        let n = suffix.utf8CodeUnitCount
        guard body.count >= n else { return false }
        return UnsafeRawBufferPointer(rebasing: body[(body.count - n)...])
            .elementsEqual(UnsafeRawBufferPointer(start: suffix.utf8Start, count: n))
    }

    public static func isQuiet(_ body: [UInt8]) -> Bool { body.withUnsafeBytes { isQuiet($0) } }

    /// The id of a marker (or of any quiet payload that starts with its id).
    public static func id(_ payload: UnsafeRawBufferPointer) -> StreamID? {
        isQuiet(payload) ? StreamID.leading(payload) : nil
    }

    /// A quiet join notice as its joiner gets it: `{"id":…,"ts":…,` + the presence
    /// body up to `"count":` + `<count>,"quiet":true}`.
    public static func notice(id: String, bodyPrefix: [UInt8], count: Int) -> [UInt8] {
        var json = Array("{\"id\":\"\(id)\",\"ts\":\(id.prefix { $0 != "-" }),".utf8)
        json += bodyPrefix
        json += Array("\(count),".utf8)
        json.append(contentsOf: UnsafeRawBufferPointer(start: suffix.utf8Start, count: suffix.utf8CodeUnitCount))
        return json
    }
}
