import Testing

@testable import ChatCore

@Suite("ClientProtocol.parse")
struct ClientProtocolTests {
    func parse(_ text: String, maxLength: Int = 2000, seed: String? = nil) -> Result<ClientRequest, ChatError> {
        bytes(text).withUnsafeBytes {
            ClientProtocol.parse($0, limits: ProtocolLimits(maxMessageLength: maxLength), seedChannel: seed)
        }
    }

    func request(_ text: String, maxLength: Int = 2000, seed: String? = nil) -> ClientRequest? {
        if case .success(let r) = parse(text, maxLength: maxLength, seed: seed) { return r }
        return nil
    }

    func error(_ text: String, maxLength: Int = 2000, seed: String? = nil) -> ChatError? {
        if case .failure(let e) = parse(text, maxLength: maxLength, seed: seed) { return e }
        return nil
    }

    // MARK: Each op, with and without ref

    static let refs: [(String, Ref?)] = [
        ("", nil),
        (#","ref":"abc""#, .string("abc")),
        (#","ref":"""#, .string("")),
        (#","ref":42"#, .integer(42)),
        (#","ref":-7"#, .integer(-7)),
        (#","ref":0"#, .integer(0)),
        (#","ref":1.0"#, .integer(1)),
        (#","ref":1e3"#, .integer(1000)),
        (#","ref":9007199254740991"#, .integer(9_007_199_254_740_991)),
        (#","ref":""# + String(repeating: "r", count: 64) + #"""#, .string(String(repeating: "r", count: 64))),
    ]

    @Test("join", arguments: refs)
    func join(refJSON: String, ref: Ref?) {
        #expect(
            request(#"{"op":"join","channel":"general""# + refJSON + "}")
                == ClientRequest(op: .join(channel: "general"), ref: ref))
    }

    @Test("leave", arguments: refs)
    func leave(refJSON: String, ref: Ref?) {
        #expect(
            request(#"{"op":"leave","channel":"general""# + refJSON + "}")
                == ClientRequest(op: .leave(channel: "general"), ref: ref))
    }

    @Test("send", arguments: refs)
    func send(refJSON: String, ref: Ref?) {
        #expect(
            request(#"{"op":"send","channel":"general","message":"hi there""# + refJSON + "}")
                == ClientRequest(op: .send(channel: "general", text: "hi there"), ref: ref))
    }

    @Test("broadcast", arguments: refs)
    func broadcast(refJSON: String, ref: Ref?) {
        #expect(
            request(#"{"op":"broadcast","message":"to all""# + refJSON + "}")
                == ClientRequest(op: .broadcast(text: "to all"), ref: ref))
    }

    @Test("ping", arguments: refs)
    func ping(refJSON: String, ref: Ref?) {
        #expect(request(#"{"op":"ping""# + refJSON + "}") == ClientRequest(op: .ping, ref: ref))
    }

    @Test("member order does not matter; channel names are trimmed")
    func memberOrder() {
        #expect(
            request(#"{"ref":5,"message":"m","channel":" general ","op":"send"}"#)
                == ClientRequest(op: .send(channel: "general", text: "m"), ref: .integer(5)))
    }

    @Test(
        "invalid ref types: bad_request",
        arguments: [
            "1.5", "true", "false", "null", "{}", "[]", "[1]", "9007199254740992", "-9007199254740992", "1e300",
            "\"" + String(repeating: "r", count: 65) + "\"",
            "\"" + String(repeating: "é", count: 33) + "\"",  // 66 bytes
        ])
    func invalidRef(ref: String) {
        let e = error(#"{"op":"ping","ref":"# + ref + "}")
        #expect(e?.code == .badRequest)
        #expect(e?.ref == nil)
        // The ref is checked whatever the op.
        #expect(error(#"{"op":"join","channel":"general","ref":"# + ref + "}")?.code == .badRequest)
    }

    // MARK: Seed form

    @Test("seed form {\"message\":...} with a seed channel sends to it")
    func seedForm() {
        #expect(
            request(#"{"message":"hello"}"#, seed: "lobby") == ClientRequest(op: .send(channel: nil, text: "hello")))
        #expect(
            request(#"{"message":"hello","ref":"r1"}"#, seed: "lobby")
                == ClientRequest(op: .send(channel: nil, text: "hello"), ref: .string("r1")))
        // The seed channel is used for errors on the text.
        let empty = error(#"{"message":"  "}"#, seed: "lobby")
        #expect(empty?.code == .emptyMessage)
        #expect(empty?.channel == "lobby")
        let long = error(#"{"message":"abcdef"}"#, maxLength: 5, seed: "lobby")
        #expect(long?.code == .messageTooLong)
        #expect(long?.channel == "lobby")
        #expect(error(#"{"message":5}"#, seed: "lobby")?.code == .badRequest)
        #expect(error(#"{}"#, seed: "lobby")?.code == .badRequest)
        #expect(error(#"{"text":"hello"}"#, seed: "lobby")?.code == .badRequest)
        // op send without a channel on a seed connection goes to the seed channel; with one, to that one.
        #expect(
            request(#"{"op":"send","message":"x"}"#, seed: "lobby") == ClientRequest(op: .send(channel: nil, text: "x"))
        )
        #expect(
            request(#"{"op":"send","channel":"other","message":"x"}"#, seed: "lobby")
                == ClientRequest(op: .send(channel: "other", text: "x")))
        // Full ops still work on a seed connection.
        #expect(
            request(#"{"op":"join","channel":"other"}"#, seed: "lobby") == ClientRequest(op: .join(channel: "other")))
    }

    @Test("seed form without a seed channel: bad_request")
    func seedFormWithoutSeed() {
        let e = error(#"{"message":"hello"}"#)
        #expect(e?.code == .badRequest)
        #expect(error(#"{"op":"send","message":"x"}"#)?.code == .badRequest)
    }

    // MARK: Errors

    @Test(
        "malformed JSON: bad_json",
        arguments: [
            "", "not json", "{", #"{"op":"ping",}"#, #"["op","ping"]"#, #"{"op":"ping"} trailing"#, #"{"op":'ping'}"#,
            "\"ping\"",
        ])
    func badJSON(text: String) {
        let e = error(text)
        #expect(e?.code == .badJSON)
        #expect(e?.ref == nil)
        #expect(e?.message.isEmpty == false)
    }

    @Test("unknown op: unknown_op, with the ref echoed")
    func unknownOp() {
        let e = error(#"{"op":"dance","ref":7}"#)
        #expect(e?.code == .unknownOp)
        #expect(e?.ref == .integer(7))
        #expect(e?.message.contains("dance") == true)
        #expect(error(#"{"op":"JOIN","channel":"a"}"#)?.code == .unknownOp)  // ops are case-sensitive
        #expect(error(#"{"op":""}"#)?.code == .unknownOp)
    }

    @Test(
        "invalid channel: invalid_channel carrying the channel and ref",
        arguments: [
            "", "   ", "has space", "#general", "a/b", String(repeating: "c", count: 65), "emoji😀", "tab\tin",
            "zero\u{200B}width",
        ])
    func invalidChannel(channel: String) {
        var literal: [UInt8] = []
        JSONWriter.appendString(channel, to: &literal)
        let channelJSON = String(decoding: literal, as: UTF8.self)
        for op in ["join", "leave"] {
            let e = error(#"{"op":""# + op + #"","channel":"# + channelJSON + #","ref":"r"}"#)
            #expect(e?.code == .invalidChannel, "\(op) \(channel.debugDescription)")
            #expect(e?.channel == channel)
            #expect(e?.ref == .string("r"))
        }
        #expect(error(#"{"op":"send","message":"m","channel":"# + channelJSON + "}")?.code == .invalidChannel)
    }

    @Test(
        "empty or whitespace-only message: empty_message",
        arguments: ["", " ", "   ", "\t\n\r", "\u{A0}", "\u{3000}", "\u{2028}"])
    func emptyMessage(text: String) {
        var literal: [UInt8] = []
        JSONWriter.appendString(text, to: &literal)
        let json = String(decoding: literal, as: UTF8.self)
        let e = error(#"{"op":"send","channel":"general","message":"# + json + #","ref":1}"#)
        #expect(e?.code == .emptyMessage)
        #expect(e?.channel == "general")
        #expect(e?.ref == .integer(1))
        let b = error(#"{"op":"broadcast","message":"# + json + "}")
        #expect(b?.code == .emptyMessage)
        #expect(b?.channel == nil)
    }

    @Test("messages are kept as sent (not trimmed), control characters included")
    func messageKept() {
        #expect(
            request(#"{"op":"send","channel":"c","message":"  padded\n "}"#)
                == ClientRequest(op: .send(channel: "c", text: "  padded\n ")))
        #expect(
            request(#"{"op":"broadcast","message":"<b>\"x\"</b>"}"#)
                == ClientRequest(op: .broadcast(text: "<b>\"x\"</b>")))
    }

    @Test("length limit counts Unicode scalars, not bytes")
    func lengthLimit() {
        let limit = 10
        for (unit, name) in [("a", "ASCII"), ("é", "2-byte"), ("€", "3-byte"), ("😀", "4-byte")] {
            let exact = String(repeating: unit, count: limit)
            #expect(
                request(#"{"op":"send","channel":"c","message":""# + exact + #""}"#, maxLength: limit)
                    == ClientRequest(op: .send(channel: "c", text: exact)), "\(name) at the limit")
            let over = String(repeating: unit, count: limit + 1)
            let e = error(#"{"op":"send","channel":"c","message":""# + over + #"","ref":"x"}"#, maxLength: limit)
            #expect(e?.code == .messageTooLong, "\(name) over the limit")
            #expect(e?.channel == "c")
            #expect(e?.ref == .string("x"))
            #expect(error(#"{"op":"broadcast","message":""# + over + #""}"#, maxLength: limit)?.code == .messageTooLong)
        }
        // A decomposed "é" is two scalars.
        #expect(
            error(#"{"op":"broadcast","message":""# + String(repeating: "e\u{301}", count: 6) + #""}"#, maxLength: 10)?
                .code == .messageTooLong)
        #expect(
            request(#"{"op":"broadcast","message":""# + String(repeating: "e\u{301}", count: 5) + #""}"#, maxLength: 10)
                != nil)
        // Escapes count as the character they stand for.
        #expect(
            request(#"{"op":"broadcast","message":"\ud83d\ude00\u00e9"}"#, maxLength: 2)
                == ClientRequest(op: .broadcast(text: "😀é")))
        // The default limit.
        #expect(ProtocolLimits().maxMessageLength == 2000)
    }

    @Test(
        "missing fields or wrong types: bad_request",
        arguments: [
            #"{}"#,
            #"{"ref":1}"#,
            #"{"op":null}"#,
            #"{"op":1}"#,
            #"{"op":["join"]}"#,
            #"{"op":{"name":"join"}}"#,
            #"{"op":"join"}"#,
            #"{"op":"join","channel":null}"#,
            #"{"op":"join","channel":5}"#,
            #"{"op":"join","channel":["a"]}"#,
            #"{"op":"leave"}"#,
            #"{"op":"send","channel":"c"}"#,
            #"{"op":"send","message":"m"}"#,
            #"{"op":"send","channel":"c","message":null}"#,
            #"{"op":"send","channel":"c","message":7}"#,
            #"{"op":"send","channel":"c","message":{"text":"m"}}"#,
            #"{"op":"send","channel":true,"message":"m"}"#,
            #"{"op":"broadcast"}"#,
            #"{"op":"broadcast","message":false}"#,
            #"{"message":"no op, no seed"}"#,
        ])
    func badRequest(text: String) {
        #expect(error(text)?.code == .badRequest)
    }

    @Test("wrong types keep the ref when it is valid")
    func badRequestKeepsRef() {
        let e = error(#"{"op":"join","ref":"abc"}"#)
        #expect(e?.code == .badRequest)
        #expect(e?.ref == .string("abc"))
    }

    @Test(
        "errors carry the op's channel when it had one")
    func errorsKeepChannel() {
        for text in [
            #"{"op":"send","channel":"general","ref":1}"#, #"{"op":"send","channel":"general","message":5,"ref":1}"#,
        ] {
            let e = error(text)
            #expect(e?.code == .badRequest)
            #expect(e?.ref == .integer(1))
            #expect(e?.channel == "general", "\(text)")
        }
    }

    @Test("unknown extra members are ignored, nested or not")
    func extraMembers() {
        #expect(request(#"{"op":"ping","x":1,"y":{"op":"join"},"z":[1,2],"v":null}"#) == ClientRequest(op: .ping))
        #expect(
            request(#"{"op":"send","channel":"c","message":"m","channel_":"ignored","nick":"bob"}"#)
                == ClientRequest(op: .send(channel: "c", text: "m")))
    }

    @Test("duplicate members: the last one wins")
    func duplicates() {
        #expect(
            request(#"{"op":"join","op":"leave","channel":"a","channel":"b"}"#)
                == ClientRequest(op: .leave(channel: "b")))
    }

    @Test("every error code has a distinct snake_case wire name")
    func errorCodes() {
        let names = ErrorCode.allCases.map(\.rawValue)
        #expect(Set(names).count == names.count)
        #expect(names.allSatisfy { $0.allSatisfy { $0 == "_" || ($0.isASCII && $0.isLowercase) } })
        #expect(ErrorCode.badJSON.rawValue == "bad_json")
        #expect(ErrorCode.messageTooLong.rawValue == "message_too_long")
    }

    @Test("join options: since, history, password")
    func joinOptions() {
        #expect(
            request(#"{"op":"join","channel":"g","since":"1700000000000-3"}"#)
                == ClientRequest(op: .join(channel: "g", options: JoinOptions(since: "1700000000000-3"))))
        #expect(
            request(#"{"op":"join","channel":"g","since":"17"}"#)
                == ClientRequest(op: .join(channel: "g", options: JoinOptions(since: "17-0"))))
        #expect(
            request(#"{"op":"join","channel":"g","history":25}"#)
                == ClientRequest(op: .join(channel: "g", options: JoinOptions(history: 25))))
        #expect(
            request(#"{"op":"join","channel":"g","password":"pw","since":null}"#)
                == ClientRequest(op: .join(channel: "g", options: JoinOptions(password: "pw"))))
        for bad in [
            #""since":"abc""#, #""since":5"#, #""history":-1"#, #""history":1.5"#, #""history":"3""#, #""password":"""#,
            #""password":7"#, #""since":"1-0","history":3"#, #""since":"18446744073709551615-18446744073709551615""#,
            #""password":""# + String(repeating: "x", count: 129) + #"""#,
        ] {
            let e = error(#"{"op":"join","channel":"g","# + bad + "}")
            #expect(e?.code == .badRequest && e?.channel == "g", "\(bad)")
        }
    }

    @Test("presence op")
    func presenceOp() {
        #expect(
            request(#"{"op":"presence","channel":"g","ref":1}"#)
                == ClientRequest(op: .presence(channel: "g"), ref: .integer(1)))
        #expect(error(#"{"op":"presence"}"#)?.code == .badRequest)
        #expect(error(#"{"op":"presence","channel":"a b"}"#)?.code == .invalidChannel)
        // A page of members from a cursor the previous reply gave.
        #expect(
            request(#"{"op":"presence","channel":"g","cursor":"1536"}"#)
                == ClientRequest(op: .presence(channel: "g", cursor: "1536"), ref: nil))
        #expect(
            request(#"{"op":"presence","channel":"g","cursor":"18446744073709551615"}"#)
                == ClientRequest(op: .presence(channel: "g", cursor: "18446744073709551615"), ref: nil))
        // 2^64 and more: digits Redis's HSCAN refuses (it would be an "unavailable").
        for bad in [#""""#, #""-1""#, #""12x""#, "12", #""123456789012345678901""#, #""18446744073709551616""#] {
            let e = error(#"{"op":"presence","channel":"g","cursor":"# + bad + "}")
            #expect(e?.code == .badRequest && e?.channel == "g", "\(bad)")
        }
    }
}
