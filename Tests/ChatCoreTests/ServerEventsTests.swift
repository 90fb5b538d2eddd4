import Testing

@testable import ChatCore

@Suite("ServerEvents")
struct ServerEventsTests {
    func object(_ bytes: [UInt8]) throws -> [String: JSONValue] {
        try #require(jsonObject(bytes), "not a JSON object: \(String(decoding: bytes, as: UTF8.self))")
    }

    /// What the Redis script puts in front of a body.
    static let scriptPrefix = bytes("{\"id\":\"1-0\",\"ts\":1,")

    @Test("error carries code, sender System, message, channel and ref")
    func error() throws {
        let full = try object(
            ServerEvents.error(ChatError(.invalidChannel, "bad \"name\"", channel: "a\"b", ref: .string("r1"))))
        #expect(
            full == [
                "type": .string("error"), "code": .string("invalid_channel"), "sender": .string("System"),
                "message": .string("bad \"name\""), "channel": .string("a\"b"), "ref": .string("r1"),
            ])
        let intRef = try object(ServerEvents.error(ChatError(.badRequest, "m", ref: .integer(-3))))
        #expect(
            intRef == [
                "type": .string("error"), "code": .string("bad_request"), "sender": .string("System"),
                "message": .string("m"), "ref": .number(-3),
            ])
        let bare = try object(ServerEvents.error(ChatError(.badJSON, "oops")))
        #expect(
            bare == [
                "type": .string("error"), "code": .string("bad_json"), "sender": .string("System"),
                "message": .string("oops"),
            ])
        // The first member is the type.
        #expect(try JSONReader.parseObject(ServerEvents.error(ChatError(.badJSON, "oops"))).first?.key == "type")
    }

    @Test("every error code encodes")
    func everyErrorCode() throws {
        for code in ErrorCode.allCases {
            #expect(try object(ServerEvents.error(ChatError(code, "x")))["code"] == .string(code.rawValue))
        }
    }

    @Test("welcome, joined, left, pong")
    func acks() throws {
        #expect(
            try object(ServerEvents.welcome(nickname: "Zoë", instance: "i-1", maxMessageLength: 2000)) == [
                "type": .string("welcome"), "nickname": .string("Zoë"), "instance": .string("i-1"),
                "protocol": .number(1), "maxMessageLength": .number(2000),
            ])
        #expect(
            try object(ServerEvents.joined(channel: "general", id: "17-2", count: 3, ref: .integer(9))) == [
                "type": .string("joined"), "channel": .string("general"), "id": .string("17-2"), "count": .number(3),
                "ref": .number(9),
                "protected": .bool(false), "replayed": .number(0),
            ])
        let withMembers = try object(
            ServerEvents.joined(
                channel: "g", id: "1-0", count: 2, members: ["a", "B\"q"], protected: true, replayed: 4, ref: nil))
        #expect(
            withMembers["members"] == .array && withMembers["protected"] == .bool(true)
                && withMembers["replayed"] == .number(4))
        let text = String(
            decoding: ServerEvents.joined(channel: "g", id: "1-0", count: 2, members: ["a", "B\"q"], ref: nil),
            as: UTF8.self)
        #expect(text.contains(#""members":["a","B\"q"]"#))
        #expect(try object(ServerEvents.joined(channel: "general", id: "17-2", count: 3, ref: nil))["ref"] == nil)
        #expect(
            try object(ServerEvents.left(channel: "general", count: 2, ref: .string("x"))) == [
                "type": .string("left"), "channel": .string("general"), "count": .number(2), "ref": .string("x"),
            ])
        #expect(
            try object(ServerEvents.left(channel: "general", count: nil, ref: nil)) == [
                "type": .string("left"), "channel": .string("general"),
            ])
        #expect(try object(ServerEvents.pong(ref: nil)) == ["type": .string("pong")])
        #expect(try object(ServerEvents.pong(ref: .string("p"))) == ["type": .string("pong"), "ref": .string("p")])
        #expect(String(decoding: ServerEvents.pong(ref: nil), as: UTF8.self) == #"{"type":"pong"}"#)
    }

    @Test("message and broadcast bodies become events once the script prefix is added")
    func bodies() throws {
        let text = "quote \" back \\ newline \n ctl \u{1} 😀"
        var body: [UInt8] = []
        ServerEvents.appendMessageBody(channel: "général", sender: "Zoë", text: text, to: &body)
        #expect(
            try object(Self.scriptPrefix + body) == [
                "id": .string("1-0"), "ts": .number(1), "type": .string("message"), "channel": .string("général"),
                "sender": .string("Zoë"), "message": .string(text),
            ])
        var b: [UInt8] = []
        ServerEvents.appendBroadcastBody(sender: "bob", text: text, to: &b)
        #expect(
            try object(Self.scriptPrefix + b) == [
                "id": .string("1-0"), "ts": .number(1), "type": .string("broadcast"), "sender": .string("bob"),
                "message": .string(text),
            ])
        // Appending keeps what was in the buffer.
        var appended = bytes("X")
        ServerEvents.appendBroadcastBody(sender: "s", text: "t", to: &appended)
        #expect(appended.first == UInt8(ascii: "X"))
        // The id is at the front, where StreamID.leading looks for it.
        let event = Self.scriptPrefix + body
        #expect(event.withUnsafeBytes { StreamID.leading($0) } == StreamID(milliseconds: 1, sequence: 0))
    }

    @Test("presenceBodyPrefix + count + } forms a valid object", arguments: [true, false])
    func presence(joined: Bool) throws {
        let prefix = ServerEvents.presenceBodyPrefix(joined: joined, channel: "gen\"eral", nickname: "Zoë \"Z\"")
        let event = try object(Self.scriptPrefix + prefix + bytes("3}"))
        #expect(
            event == [
                "id": .string("1-0"), "ts": .number(1), "type": .string("system"),
                "event": .string(joined ? "join" : "leave"),
                "channel": .string("gen\"eral"), "sender": .string("System"), "nickname": .string("Zoë \"Z\""),
                "message": .string(joined ? "Zoë \"Z\" joined the chat." : "Zoë \"Z\" left the chat."),
                "count": .number(3),
            ])
        #expect(String(decoding: prefix, as: UTF8.self).hasSuffix(",\"count\":"))
    }

    @Test("stored events: replay marker, published shape, quiet bodies")
    func stored() throws {
        var out: [UInt8] = []
        let body = Array(#""type":"message","channel":"c","sender":"s","message":"m"}"#.utf8)
        body.withUnsafeBytes { ServerEvents.stored(id: "1700000000123-4", body: $0, replay: true, to: &out) }
        #expect(
            try object(out) == [
                "id": .string("1700000000123-4"), "ts": .number(1_700_000_000_123), "replay": .bool(true),
                "type": .string("message"), "channel": .string("c"), "sender": .string("s"), "message": .string("m"),
            ])
        out.removeAll()
        body.withUnsafeBytes { ServerEvents.stored(id: "5-0", body: $0, replay: false, to: &out) }
        #expect(try object(out)["replay"] == nil)
        #expect(Array(#""count":3,"quiet":true}"#.utf8).withUnsafeBytes { ServerEvents.isQuietBody($0) })
        #expect(!body.withUnsafeBytes { ServerEvents.isQuietBody($0) })
    }

    @Test("presence and history_truncated events")
    func presenceEvents() throws {
        let p = try object(ServerEvents.presence(channel: "c", count: 3, members: ["a", "b"], ref: .string("r")))
        #expect(
            p["type"] == .string("presence") && p["count"] == .number(3) && p["truncated"] == .bool(true)
                && p["ref"] == .string("r"))
        let t = try object(ServerEvents.historyTruncated(channel: "c", since: "1-0", oldest: "9-0", ref: nil))
        #expect(
            t["type"] == .string("history_truncated") && t["since"] == .string("1-0") && t["oldest"] == .string("9-0"))
        #expect(t["sender"] == .string("System"))
    }
}
