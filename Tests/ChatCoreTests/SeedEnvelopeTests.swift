import Testing

@testable import ChatCore

@Suite("SeedEnvelope")
struct SeedEnvelopeTests {
    /// What the Redis script puts in front of a body.
    static let scriptPrefix = bytes("{\"id\":\"1700000000123-0\",\"ts\":1700000000123,")

    func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    func envelope(_ event: [UInt8], channel: String = "seedroom") throws -> [UInt8] {
        try #require(SeedEnvelope.encode(event: event, channel: channel), "no envelope for \(text(event))")
    }

    /// What a seed client does with an envelope: base64-decode `data`, then read it as JSON.
    func decodedData(_ envelope: [UInt8]) throws -> (raw: String, members: [(key: String, value: JSONValue)]) {
        let members = try JSONReader.parseObject(envelope)
        guard case .string(let data)? = members.first(where: { $0.key == "data" })?.value else {
            Issue.record("no data in \(text(envelope))")
            return ("", [])
        }
        let raw = try #require(Base64.decode(data), "data is not base64: \(data)")
        return (text(raw), try JSONReader.parseObject(raw))
    }

    func keys(_ envelope: [UInt8]) throws -> [String] { try JSONReader.parseObject(envelope).map(\.key) }

    @Test("a chat message: channel and data first, then the event's members; data is exactly {sender, message}")
    func message() throws {
        var body: [UInt8] = []
        ServerEvents.appendMessageBody(channel: "general", sender: "alice", text: "hi", to: &body)
        let event = Self.scriptPrefix + body
        let out = try envelope(event)
        #expect(
            text(out)
                == #"{"channel":"general","data":"eyJzZW5kZXIiOiJhbGljZSIsIm1lc3NhZ2UiOiJoaSJ9","#
                + #""id":"1700000000123-0","ts":1700000000123,"type":"message","sender":"alice","message":"hi"}"#
        )
        let data = try decodedData(out)
        #expect(data.raw == #"{"sender":"alice","message":"hi"}"#)
        #expect(data.members.map(\.key) == ["sender", "message"])
    }

    @Test("a join notice: from System, its text, count and event kept")
    func joinNotice() throws {
        let prefix = ServerEvents.presenceBodyPrefix(joined: true, channel: "general", nickname: "Zoë")
        let out = try envelope(Self.scriptPrefix + prefix + bytes("2}"))
        #expect(try decodedData(out).raw == #"{"sender":"System","message":"Zoë joined the chat."}"#)
        #expect(
            try keys(out) == ["channel", "data", "id", "ts", "type", "event", "sender", "nickname", "message", "count"])
        #expect(jsonObject(out)?["count"] == .number(2))
        #expect(jsonObject(out)?["channel"] == .string("general"))
    }

    @Test("a count update")
    func countUpdate() throws {
        let event = ServerEvents.countEventPrefix(channel: "big") + bytes(#"Members: 300","count":300}"#)
        let out = try envelope(event)
        #expect(try decodedData(out).raw == #"{"sender":"System","message":"Members: 300"}"#)
        #expect(jsonObject(out)?["channel"] == .string("big"))
    }

    @Test("a broadcast has no channel: the connection's seed channel is used; parsed once for many channels")
    func broadcast() throws {
        var body: [UInt8] = []
        ServerEvents.appendBroadcastBody(sender: "ops", text: "deploy at 5", to: &body)
        let event = Self.scriptPrefix + body
        let out = try envelope(event, channel: "lobby")
        #expect(try keys(out) == ["channel", "data", "id", "ts", "type", "sender", "message"])
        #expect(jsonObject(out)?["channel"] == .string("lobby"))
        #expect(try decodedData(out).raw == #"{"sender":"ops","message":"deploy at 5"}"#)
        let parts = try #require(event.withUnsafeBytes { SeedEnvelope.Parts(event: $0) })
        #expect(parts.channel == nil)
        for channel in ["lobby", "other"] {
            var each: [UInt8] = []
            parts.append(channel: channel, to: &each)
            #expect(each == (try envelope(event, channel: channel)))
        }
    }

    @Test("an error: its own members plus channel and data; the seed channel when it names none")
    func error() throws {
        let withChannel = try envelope(
            ServerEvents.error(ChatError(.notJoined, "not in channel x", channel: "x", ref: .integer(7))))
        #expect(try keys(withChannel) == ["channel", "data", "type", "code", "sender", "message", "ref"])
        #expect(jsonObject(withChannel)?["channel"] == .string("x"))
        #expect(jsonObject(withChannel)?["code"] == .string("not_joined"))
        #expect(try decodedData(withChannel).raw == #"{"sender":"System","message":"not in channel x"}"#)
        let bare = try envelope(ServerEvents.error(ChatError(.emptyMessage, "empty")), channel: "general")
        #expect(jsonObject(bare)?["channel"] == .string("general"))
        #expect(try decodedData(bare).raw == #"{"sender":"System","message":"empty"}"#)
    }

    @Test("a replayed event keeps replay:true")
    func replay() throws {
        var body: [UInt8] = []
        ServerEvents.appendMessageBody(channel: "general", sender: "bob", text: "earlier", to: &body)
        var event: [UInt8] = []
        body.withUnsafeBytes { ServerEvents.stored(id: "1700000000001-3", body: $0, replay: true, to: &event) }
        let out = try envelope(event)
        #expect(try keys(out) == ["channel", "data", "id", "ts", "replay", "type", "sender", "message"])
        #expect(jsonObject(out)?["replay"] == .bool(true))
        #expect(try decodedData(out).raw == #"{"sender":"bob","message":"earlier"}"#)
    }

    @Test("a reply without sender or message is from System with an empty message")
    func reply() throws {
        let out = try envelope(ServerEvents.pong(ref: .string("p")), channel: "general")
        #expect(
            text(out)
                == #"{"channel":"general","data":"eyJzZW5kZXIiOiJTeXN0ZW0iLCJtZXNzYWdlIjoiIn0=","#
                + #""type":"pong","ref":"p"}"#
        )
        #expect(try decodedData(out).raw == #"{"sender":"System","message":""}"#)
        let left = try envelope(ServerEvents.left(channel: "general", count: 2, ref: nil), channel: "other")
        #expect(jsonObject(left)?["channel"] == .string("general"))
    }

    @Test("data escapes like Go's json.Marshal: <, >, & as \\u003c etc., U+2028/9, control characters")
    func goEscaping() throws {
        // json.Marshal(struct{Sender, Message string}{"<a&b>",
        //     "say \"hi\"\\ <b>\n\t\r\u{8}\u{c}\u{1}\u{1f}\u{7f} é 😀 \u{2028}\u{2029}"})
        let data = SeedEnvelope.data(
            sender: "<a&b>", message: "say \"hi\"\\ <b>\n\t\r\u{8}\u{c}\u{1}\u{1f}\u{7f} é 😀 \u{2028}x\u{2029}")
        #expect(
            text(data)
                == #"{"sender":"\u003ca\u0026b\u003e","message":"say \"hi\"\\ \u003cb\u003e\n\t\r\b\f\u0001\u001f"#
                + "\u{7f} é 😀 " + #"\u2028x\u2029"}"#)
        // Valid JSON that reads back to the same strings.
        let members = try JSONReader.parseObject(data)
        #expect(
            members.map(\.value) == [
                .string("<a&b>"), .string("say \"hi\"\\ <b>\n\t\r\u{8}\u{c}\u{1}\u{1f}\u{7f} é 😀 \u{2028}x\u{2029}"),
            ])
        // Other characters of the same three-byte range are left alone (U+2027, U+202A, U+20A8).
        #expect(
            text(SeedEnvelope.data(sender: "s", message: "\u{2027}\u{202a}\u{20a8}"))
                == "{\"sender\":\"s\",\"message\":\"\u{2027}\u{202a}\u{20a8}\"}")
        // Through a whole envelope, from an event the server wrote with its own escaping.
        var body: [UInt8] = []
        ServerEvents.appendMessageBody(channel: "general", sender: "alice", text: "1 < 2 & \"3\"\n", to: &body)
        #expect(
            try decodedData(try envelope(Self.scriptPrefix + body)).raw
                == #"{"sender":"alice","message":"1 \u003c 2 \u0026 \"3\"\n"}"#)
    }

    @Test("framed: appendFrame and frame(ofFrame:) give one text frame of the envelope, for every header size")
    func framed() throws {
        for size in [10, 200, 70_000] {
            var body: [UInt8] = []
            ServerEvents.appendMessageBody(
                channel: "general", sender: "alice", text: String(repeating: "x", count: size), to: &body)
            let event = Self.scriptPrefix + body
            let expected = try envelope(event)
            var out: [UInt8] = [9]  // appended after what is there
            #expect(event.withUnsafeBytes { SeedEnvelope.appendFrame(event: $0, channel: "seedroom", to: &out) })
            #expect(out == [9] + FrameEncoder.frame(opcode: Opcode.text, payload: expected))
            let flat = FrameEncoder.frame(opcode: Opcode.text, payload: event)
            #expect(
                flat.withUnsafeBytes { SeedEnvelope.frame(ofFrame: $0, channel: "seedroom") }
                    == FrameEncoder.frame(opcode: Opcode.text, payload: expected))
        }
        var out: [UInt8] = []
        #expect(!bytes("nope").withUnsafeBytes { SeedEnvelope.appendFrame(event: $0, channel: "c", to: &out) })
        #expect(out.isEmpty)
    }

    @Test("data reads back to the same strings, with no raw <, >, &, U+2028/9 or control character, for random text")
    func goEscapingRoundTrips() throws {
        var rng = SplitMix64(seed: 42)
        let pool: [Unicode.Scalar] = [
            "a", "<", ">", "&", "\"", "\\", "/", "\n", "\u{0}", "\u{1f}", "\u{7f}", "é", "\u{2028}", "\u{2029}",
            "\u{2027}", "\u{202a}", "\u{20ac}", "😀", " ",
        ]
        for _ in 0..<300 {
            var text = ""
            for _ in 0..<Int.random(in: 0...12, using: &rng) {
                text.unicodeScalars.append(pool.randomElement(using: &rng)!)
            }
            let data = SeedEnvelope.data(sender: text, message: text + "x")
            #expect(
                try JSONReader.parseObject(data).map(\.value) == [.string(text), .string(text + "x")],
                "\(text.debugDescription)")
            let raw = self.text(data)
            #expect(
                !raw.contains { "<>&\u{2028}\u{2029}".contains($0) } && !raw.unicodeScalars.contains { $0.value < 0x20 }
            )
        }
    }

    @Test("not a JSON object: no envelope")
    func notJSON() {
        #expect(SeedEnvelope.encode(event: bytes("{\"id\":"), channel: "c") == nil)
        #expect(SeedEnvelope.encode(event: bytes("[1]"), channel: "c") == nil)
        #expect(SeedEnvelope.encode(event: bytes(""), channel: "c") == nil)
    }

    @Test("JSONReader spans cover each top-level member exactly")
    func spans() throws {
        let input = bytes(#" { "a" : 1 , "b":{"c":[1,{"d":2}]},"e":"x\"y" } "#)
        let members = try input.withUnsafeBytes { try JSONReader.parseObjectSpans($0) }
        #expect(members.map(\.key) == ["a", "b", "e"])
        #expect(
            members.map { text(Array(input[$0.span])) } == [#""a" : 1"#, #""b":{"c":[1,{"d":2}]}"#, #""e":"x\"y""#])
    }

    @Test("Base64.append: RFC 4648 vectors, appended after what the buffer holds, and round trips")
    func base64() {
        for (input, expected) in [
            ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            var out: [UInt8] = Array("x".utf8)
            Array(input.utf8).withUnsafeBytes { Base64.append($0, to: &out) }
            #expect(text(out) == "x" + expected)
        }
        var rng = SplitMix64(seed: 7)
        for n in 0..<40 {
            let input = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(Base64.decode(Base64.encode(input)) == input)
        }
    }
}
