/// Encodes what the server sends (docs/PROTOCOL.md, "Server events").
///
/// Chat messages, broadcasts and join/leave notices are stored and published
/// through Redis as a *body*: the JSON object without its opening brace and its
/// `id`/`ts` members. The Redis script that assigns the id writes
/// `{"id":"<id>","ts":<ms>,` in front, so every instance receives the final event
/// and only has to frame it.
public enum ServerEvents {
    /// Body of a chat message.
    public static func appendMessageBody(channel: String, sender: String, text: String, to out: inout [UInt8]) {
        appendRaw("\"type\":\"message\",\"channel\":", to: &out)
        JSONWriter.appendString(channel, to: &out)
        appendRaw(",\"sender\":", to: &out)
        JSONWriter.appendString(sender, to: &out)
        appendRaw(",\"message\":", to: &out)
        JSONWriter.appendString(text, to: &out)
        out.append(UInt8(ascii: "}"))
    }

    /// Body of a broadcast to everyone.
    public static func appendBroadcastBody(sender: String, text: String, to out: inout [UInt8]) {
        appendRaw("\"type\":\"broadcast\",\"sender\":", to: &out)
        JSONWriter.appendString(sender, to: &out)
        appendRaw(",\"message\":", to: &out)
        JSONWriter.appendString(text, to: &out)
        out.append(UInt8(ascii: "}"))
    }

    /// Body of a join or leave notice up to its count: the script appends the
    /// channel's member count and the closing brace.
    public static func presenceBodyPrefix(joined: Bool, channel: String, nickname: String) -> [UInt8] {
        var out: [UInt8] = []
        appendRaw("\"type\":\"system\",\"event\":", to: &out)
        appendRaw(joined ? "\"join\"" : "\"leave\"", to: &out)
        appendRaw(",\"channel\":", to: &out)
        JSONWriter.appendString(channel, to: &out)
        appendRaw(",\"sender\":\"System\",\"nickname\":", to: &out)
        JSONWriter.appendString(nickname, to: &out)
        appendRaw(",\"message\":", to: &out)
        JSONWriter.appendString(joined ? "\(nickname) joined the chat." : "\(nickname) left the chat.", to: &out)
        appendRaw(",\"count\":", to: &out)
        return out
    }

    /// The member-count update of a channel over the notice limit, up to its message
    /// text: the script appends `Members: N","count":N}`.
    public static func countEventPrefix(channel: String) -> [UInt8] {
        var out: [UInt8] = []
        appendRaw("{\"type\":\"system\",\"event\":\"count\",\"channel\":", to: &out)
        JSONWriter.appendString(channel, to: &out)
        appendRaw(",\"sender\":\"System\",\"message\":\"", to: &out)
        return out
    }

    public static func welcome(nickname: String, instance: String, maxMessageLength: Int) -> [UInt8] {
        event("welcome") { o in
            o.field("nickname", nickname)
            o.field("instance", instance)
            o.field("protocol", 1)
            o.field("maxMessageLength", maxMessageLength)
        }
    }

    /// `members`: nicknames (sorted), nil when the channel is over the list limit.
    public static func joined(
        channel: String, id: String, count: Int, members: [String]? = nil, protected: Bool = false,
        replayed: Int = 0, ref: Ref?
    ) -> [UInt8] {
        event("joined") { o in
            o.field("channel", channel)
            o.field("id", id)
            o.field("count", count)
            if let members { o.rawField("members", stringArray(members)) }
            o.field("protected", protected)
            o.field("replayed", replayed)
            ref?.write(to: &o)
        }
    }

    /// The answer to a `presence` op.
    /// `members`: one page (sorted); `cursor`: where the next page starts, if any.
    public static func presence(
        channel: String, count: Int, members: [String], cursor: String? = nil, ref: Ref?
    ) -> [UInt8] {
        event("presence") { o in
            o.field("channel", channel)
            o.field("count", count)
            o.rawField("members", stringArray(members))
            o.field("truncated", cursor != nil || members.count < count)
            if let cursor { o.field("cursor", cursor) }
            ref?.write(to: &o)
        }
    }

    /// Sent before a replay when messages right after `since` are not in it (trimmed
    /// by size or age, or more than one replay holds).
    public static func historyTruncated(channel: String, since: String?, oldest: String, ref: Ref?) -> [UInt8] {
        event("history_truncated") { o in
            o.field("channel", channel)
            if let since { o.field("since", since) }
            if !oldest.isEmpty { o.field("oldest", oldest) }
            o.field("sender", "System")
            o.field(
                "message",
                "Some earlier messages are not replayed: no longer in history, or more than one replay holds.")
            ref?.write(to: &o)
        }
    }

    /// A stored event as replayed from history: `{"id":…,"ts":…,"replay":true,` + body.
    /// `replay` false gives the event as it was published (the HTTP history API).
    public static func stored(id: String, body: UnsafeRawBufferPointer, replay: Bool, to out: inout [UInt8]) {
        appendRaw("{\"id\":\"", to: &out)
        out.append(contentsOf: id.utf8)
        appendRaw("\",\"ts\":", to: &out)
        out.append(contentsOf: id.utf8.prefix { $0 != UInt8(ascii: "-") })
        out.append(UInt8(ascii: ","))
        if replay { appendRaw("\"replay\":true,", to: &out) }
        out.append(contentsOf: body)
    }

    /// Whether a stored body is a quiet join/leave (shown to nobody but its joiner).
    public static func isQuietBody(_ body: UnsafeRawBufferPointer) -> Bool { QuietNotice.isQuiet(body) }

    public static func stringArray(_ items: [String]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (k, item) in items.enumerated() {
            if k > 0 { out.append(UInt8(ascii: ",")) }
            JSONWriter.appendString(item, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    /// `count` is nil when the leave needed no change in Redis (the join had not completed).
    public static func left(channel: String, count: Int?, ref: Ref?) -> [UInt8] {
        event("left") { o in
            o.field("channel", channel)
            if let count { o.field("count", count) }
            ref?.write(to: &o)
        }
    }

    /// Errors carry `sender: "System"` too, so that seed-protocol clients, which show
    /// every event as `sender: message`, display them.
    public static func error(_ e: ChatError) -> [UInt8] {
        event("error") { o in
            o.field("code", e.code.rawValue)
            o.field("sender", "System")
            o.field("message", e.message)
            if let channel = e.channel { o.field("channel", channel) }
            e.ref?.write(to: &o)
        }
    }

    /// Sent to every chat client before the server closes it with 1001 on shutdown.
    public static func shutdownNotice() -> [UInt8] {
        event("system") { o in
            o.field("event", "shutdown")
            o.field("sender", "System")
            o.field("message", "The server is shutting down; reconnect to continue.")
        }
    }

    public static func pong(ref: Ref?) -> [UInt8] {
        event("pong") { o in ref?.write(to: &o) }
    }

    private static func event(_ type: String, _ fields: (inout JSONWriter.ObjectWriter) -> Void) -> [UInt8] {
        var out: [UInt8] = []
        JSONWriter.object(&out) { o in
            o.field("type", type)
            fields(&o)
        }
        return out
    }

    @inline(__always) static func appendRaw(_ s: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }
}
