import Testing

@testable import ChatCore

@Suite("JSONReader and JSONWriter")
struct JSONTests {
    func parse(_ text: String, maxDepth: Int = 16) throws(JSONError) -> [(key: String, value: JSONValue)] {
        try JSONReader.parseObject(bytes(text), maxDepth: maxDepth)
    }

    func accepts(_ text: String, maxDepth: Int = 16) -> Bool { (try? parse(text, maxDepth: maxDepth)) != nil }

    // MARK: Reader

    @Test("an object with every value type, members in order")
    func allValueTypes() throws {
        let members = try parse(
            #" { "s" : "text", "n": -12.5e1, "i": 0, "t": true, "f": false, "z": null, "#
                + #""o": {"a": [1, {"b": 2}]}, "a": [ ], "e": {} } "#
        )
        #expect(members.map(\.key) == ["s", "n", "i", "t", "f", "z", "o", "a", "e"])
        #expect(
            members.map(\.value) == [
                .string("text"), .number(-125), .number(0), .bool(true), .bool(false), .null, .object, .array, .object,
            ])
    }

    @Test("nested members are validated but not returned")
    func nestedSkipped() throws {
        let members = try parse(#"{"a":{"op":"join","channel":"x"},"b":[{"op":"leave"},[],"s",1],"op":"ping"}"#)
        #expect(members.map(\.key) == ["a", "b", "op"])
        #expect(members.last?.value == .string("ping"))
        // Errors inside nested values are still errors.
        #expect(!accepts(#"{"a":{"b":}}"#))
        #expect(!accepts(#"{"a":[1,]}"#))
        #expect(!accepts(#"{"a":{"b":1,}}"#))
        #expect(!accepts(#"{"a":["\x"]}"#))
    }

    @Test("empty object, whitespace, duplicate keys kept in order")
    func basics() throws {
        #expect(try parse("{}").isEmpty)
        #expect(try parse(" \t\r\n{ \t\r\n} \t\r\n").isEmpty)
        let dup = try parse(#"{"a":1,"a":2}"#)
        #expect(dup.map(\.key) == ["a", "a"])
        #expect(dup.map(\.value) == [.number(1), .number(2)])
        #expect(try parse(#"{"":""}"#).first?.key == "")
    }

    @Test("string escapes, including surrogate pairs")
    func escapes() throws {
        let members = try parse(#"{"k\n":"a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u20AC\ud83d\ude00\uD834\uDD1E\u0000"}"#)
        #expect(members.first?.key == "k\n")
        #expect(members.first?.value == .string("a\"b\\c/d\u{8}\u{C}\n\r\tAé€😀𝄞\u{0}"))
        // Raw UTF-8 passes through, with and without escapes in the same string.
        #expect(try parse(#"{"s":"Grüße 😀"}"#).first?.value == .string("Grüße 😀"))
        #expect(try parse(#"{"s":"Grüße\t😀"}"#).first?.value == .string("Grüße\t😀"))
    }

    @Test(
        "lone and misordered surrogates are rejected",
        arguments: [
            #"{"s":"\ud83d"}"#,  // high at the end
            #"{"s":"\ud83dx"}"#,  // high then a character
            #"{"s":"\ud83d\u0041"}"#,  // high then a non-surrogate escape
            #"{"s":"\ud83d\ud83d"}"#,  // high then high
            #"{"s":"\ude00"}"#,  // low alone
            #"{"s":"\ude00\ud83d"}"#,  // reversed pair
            #"{"s":"\ud83d\n"}"#,
        ])
    func loneSurrogates(text: String) {
        #expect(!accepts(text))
    }

    @Test(
        "invalid escapes and unterminated strings are rejected",
        arguments: [
            #"{"s":"\x"}"#, #"{"s":"\u12"}"#, #"{"s":"\u12G4"}"#, #"{"s":"\U0041"}"#, #"{"s":"\'"}"#,
            #"{"s":"abc}"#, #"{"s":"abc\"}"#, #"{"s":"\"#, #"{"s":"\u"#, #"{"s"#, #"{"s":"#,
        ])
    func invalidEscapes(text: String) {
        #expect(!accepts(text))
    }

    @Test("raw control characters in strings are rejected, in both the fast and the escape path")
    func controlCharacters() {
        for c in 0..<0x20 {
            let raw = String(UnicodeScalar(UInt8(c)))
            #expect(!accepts("{\"s\":\"a\(raw)b\"}"), "0x\(String(c, radix: 16)) fast path")
            #expect(!accepts("{\"s\":\"\\n\(raw)b\"}"), "0x\(String(c, radix: 16)) after an escape")
            #expect(!accepts("{\"k\(raw)\":1}"), "0x\(String(c, radix: 16)) in a key")
        }
        // DEL is not a control character for JSON.
        #expect(accepts("{\"s\":\"a\u{7F}b\"}"))
    }

    @Test(
        "trailing garbage and non-object tops are rejected",
        arguments: [
            "{} x", "{}{}", "{},", "{}]", "{\"a\":1}}", "{\"a\":1} // c",
            "", " ", "[]", "1", "\"s\"", "null", "true",
            "{\"a\" 1}", "{\"a\":1 \"b\":2}", "{a:1}", "{'a':1}", "{\"a\":1,}", "{,}", "{\"a\":}", "{\"a\"}",
            "{\"a\":tru}", "{\"a\":truex}", "{\"a\":nul}", "{\"a\":True}", "{\"a\":undefined}",
            "{\"a\":\u{A0}1}",  // NBSP is not JSON whitespace
            "{\"a\":\u{C}1}",  // nor is form feed
            "{", "{\"a\":[", "{\"a\":{",
        ])
    func rejected(text: String) {
        #expect(!accepts(text))
    }

    @Test(
        "number grammar",
        arguments: [
            ("0", 0.0), ("-0", -0.0), ("7", 7), ("-7", -7), ("10", 10), ("0.5", 0.5), ("-0.5", -0.5), ("1.25", 1.25),
            ("1e2", 100), ("1E2", 100), ("1e+2", 100), ("1e-2", 0.01), ("2.5E-1", 0.25), ("0e0", 0),
            ("123456789012", 123_456_789_012),
        ] as [(String, Double)])
    func validNumbers(text: String, value: Double) throws {
        #expect(try parse("{\"n\":\(text)}").first?.value == .number(value))
        #expect(try parse("{\"n\":[\(text)]}").first?.value == .array)
    }

    @Test(
        "malformed numbers are rejected",
        arguments: [
            "01", "-01", "00", "1.", "-", "1e", "1e+", "1E-", ".5", "+1", "-.5", "1.e2", "0x10", "1_000", "NaN",
            "Infinity", "-Infinity", "1..2", "1e2.5", "--1",
        ])
    func invalidNumbers(text: String) {
        #expect(!accepts("{\"n\":\(text)}"))
        #expect(!accepts("{\"n\":[\(text)]}"))
    }

    @Test("depth limit: the top-level object is depth 1")
    func depthLimit() {
        func nested(_ depth: Int) -> String {
            // depth - 1 levels below the top-level object, alternating arrays and objects.
            var inner = "1"
            for level in 0..<(depth - 1) { inner = level % 2 == 0 ? "[\(inner)]" : "{\"k\":\(inner)}" }
            return "{\"a\":\(inner)}"
        }
        #expect(accepts(nested(16)))
        #expect(!accepts(nested(17)))
        #expect(accepts(nested(3), maxDepth: 3))
        #expect(!accepts(nested(4), maxDepth: 3))
        #expect(accepts("{}", maxDepth: 1))
        #expect(!accepts("{\"a\":[]}", maxDepth: 1))
        #expect(!accepts("{\"a\":{}}", maxDepth: 1))
        // Very deep input fails cleanly (no stack overflow).
        #expect(
            !accepts("{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"))
    }

    @Test("errors carry the offset of the problem")
    func errorOffset() {
        do {
            _ = try parse(#"{"a":1,"b":x}"#)
            Issue.record("accepted")
        } catch {
            #expect(error.offset == 11)
            #expect(!error.message.isEmpty)
        }
    }

    @Test("parses from an unsafe buffer too")
    func rawBuffer() throws {
        let data = bytes(#"xx{"a":"b"}yy"#)
        let members = try data.withUnsafeBytes { raw in
            try JSONReader.parseObject(UnsafeRawBufferPointer(rebasing: raw[2..<11]))
        }
        #expect(members.first?.value == .string("b"))
    }

    // MARK: Writer

    static let awkwardStrings: [String] = [
        "", "plain", "quote \" inside", "back\\slash", "\\\"", "slash / stays", "tab\tnew\nline\r",
        String((0..<0x20).map { Character(UnicodeScalar(UInt8($0))) }),
        "del \u{7F}", "Grüße, Zoë", "日本語", "😀👍🏽", "𝄞", "\u{2028}\u{2029}", "\u{FEFF}bom", "mixed \"\\\n😀\u{1}",
    ]

    @Test("JSONWriter strings round-trip through JSONReader", arguments: awkwardStrings)
    func roundTrip(s: String) throws {
        var out: [UInt8] = []
        JSONWriter.object(&out) { o in
            o.field("s", s)
            o.field("n", -42)
            o.field("b", true)
            o.field("f", false)
            o.rawField("raw", bytes("[1,{\"x\":null}]"))
        }
        let members = try JSONReader.parseObject(out)
        #expect(members.map(\.key) == ["s", "n", "b", "f", "raw"])
        #expect(members.map(\.value) == [.string(s), .number(-42), .bool(true), .bool(false), .array])
        // appendString alone produces one valid string literal.
        var literal: [UInt8] = []
        JSONWriter.appendString(s, to: &literal)
        #expect(literal.first == UInt8(ascii: "\"") && literal.last == UInt8(ascii: "\""))
        #expect(!literal.dropFirst().dropLast().contains { $0 < 0x20 })
        #expect(try JSONReader.parseObject(bytes("{\"k\":") + literal + bytes("}")).first?.value == .string(s))
    }

    @Test("JSONWriter escapes exactly")
    func exactEscapes() {
        func lit(_ s: String) -> String {
            var out: [UInt8] = []
            JSONWriter.appendString(s, to: &out)
            return String(decoding: out, as: UTF8.self)
        }
        #expect(lit("a\"b") == #""a\"b""#)
        #expect(lit("a\\b") == #""a\\b""#)
        #expect(lit("\n\r\t\u{8}\u{C}") == #""\n\r\t\b\f""#)
        #expect(lit("\u{0}\u{1}\u{1F}\u{10}") == #""\u0000\u0001\u001f\u0010""#)
        #expect(lit("é/😀\u{7F}") == "\"é/😀\u{7F}\"")
        #expect(lit("") == "\"\"")
    }

    @Test("JSONWriter objects: commas, keys, appending to existing output")
    func objects() {
        var out = bytes("prefix:")
        JSONWriter.object(&out) { _ in }
        #expect(String(decoding: out, as: UTF8.self) == "prefix:{}")
        var two: [UInt8] = []
        JSONWriter.object(&two) { o in
            o.field("a", 1)
            o.field("b", "x")
        }
        #expect(String(decoding: two, as: UTF8.self) == #"{"a":1,"b":"x"}"#)
        var big: [UInt8] = []
        JSONWriter.appendInt(Int64.min, to: &big)
        #expect(String(decoding: big, as: UTF8.self) == "-9223372036854775808")
    }
}
