import Testing

@testable import ChatCore

@Suite("WebSocket opening handshake")
struct HandshakeTests {
    static let sampleKey = "dGhlIHNhbXBsZSBub25jZQ=="
    static let sampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    /// Builds a request head from header lines and parses it with the real parser.
    func request(_ headers: [String]) throws -> HTTPRequest {
        try request("GET /chat HTTP/1.1", headers)
    }

    func request(_ requestLine: String, _ headers: [String]) throws -> HTTPRequest {
        let text = ([requestLine] + headers).joined(separator: "\r\n") + "\r\n\r\n"
        let run = parseHTTP(text)
        return try #require(run.request, "request did not parse: \(run.outcome)")
    }

    static let goodHeaders = [
        "Host: example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: \(sampleKey)",
        "Sec-WebSocket-Version: 13",
    ]

    func replacing(_ name: String, with line: String?) -> [String] {
        var headers = Self.goodHeaders.filter { !$0.lowercased().hasPrefix(name.lowercased() + ":") }
        if let line { headers.append(line) }
        return headers
    }

    @Test("accept key of the RFC 6455 example")
    func rfcExample() {
        #expect(WebSocketHandshake.acceptKey(for: Self.sampleKey) == Self.sampleAccept)
        #expect(WebSocketHandshake.guid == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
    }

    @Test("a valid upgrade is accepted with the RFC accept value")
    func validUpgrade() throws {
        #expect(WebSocketHandshake.evaluate(try request(Self.goodHeaders)) == .accept(Self.sampleAccept))
    }

    @Test("header names and tokens are case-insensitive; Connection may list several tokens")
    func lenientTokens() throws {
        let headers = [
            "HOST: example.com",
            "upgrade: WebSocket",
            "connection: keep-alive, UPGRADE",
            "sec-websocket-key:   \(Self.sampleKey)  ",
            "SEC-WEBSOCKET-VERSION: 13",
        ]
        #expect(WebSocketHandshake.evaluate(try request(headers)) == .accept(Self.sampleAccept))
        // Upgrade token in a list, Connection split over two header lines.
        let split = replacing("Connection", with: "Connection: keep-alive") + ["Connection: Upgrade"]
        #expect(WebSocketHandshake.evaluate(try request(split)) == .accept(Self.sampleAccept))
    }

    @Test("not an upgrade: no Upgrade header or another protocol")
    func notUpgrade() throws {
        #expect(WebSocketHandshake.evaluate(try request(replacing("Upgrade", with: nil))) == .notUpgrade)
        #expect(WebSocketHandshake.evaluate(try request(replacing("Upgrade", with: "Upgrade: h2c"))) == .notUpgrade)
        #expect(WebSocketHandshake.evaluate(try request(["Host: x"])) == .notUpgrade)
        // A token that merely contains "websocket" is not it.
        #expect(
            WebSocketHandshake.evaluate(try request(replacing("Upgrade", with: "Upgrade: websockets"))) == .notUpgrade)
    }

    @Test(
        "wrong or missing version: 426 with Sec-WebSocket-Version: 13",
        arguments: [
            "Sec-WebSocket-Version: 8", "Sec-WebSocket-Version: 14", "Sec-WebSocket-Version: 13, 8", nil,
        ] as [String?])
    func wrongVersion(line: String?) throws {
        let outcome = WebSocketHandshake.evaluate(try request(replacing("Sec-WebSocket-Version", with: line)))
        guard case .reject(let error, let headers) = outcome else {
            Issue.record("expected a rejection, got \(outcome)")
            return
        }
        #expect(error.status == 426)
        #expect(headers == ["Sec-WebSocket-Version: 13"])
    }

    @Test(
        "bad key: 400",
        arguments: [
            "Sec-WebSocket-Key: abc",  // not base64 of 16 bytes
            "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA",  // 15 bytes
            "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=",  // 17 bytes
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ",  // unpadded
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==",  // non-zero padding bits
            "Sec-WebSocket-Key: dGhl-HNhbXBsZSBub25jZQ==",  // outside the alphabet
            "Sec-WebSocket-Key:",  // empty
            nil,  // missing
        ] as [String?])
    func badKey(line: String?) throws {
        let outcome = WebSocketHandshake.evaluate(try request(replacing("Sec-WebSocket-Key", with: line)))
        guard case .reject(let error, let headers) = outcome else {
            Issue.record("expected a rejection, got \(outcome)")
            return
        }
        #expect(error.status == 400)
        #expect(headers.isEmpty)
    }

    @Test("any 16-byte key is accepted")
    func sixteenByteKeys() throws {
        let key = Base64.encode([UInt8](repeating: 0xFF, count: 16))
        let outcome = WebSocketHandshake.evaluate(
            try request(replacing("Sec-WebSocket-Key", with: "Sec-WebSocket-Key: \(key)")))
        #expect(outcome == .accept(WebSocketHandshake.acceptKey(for: key)))
    }

    @Test("missing Host: 400")
    func missingHost() throws {
        #expect(WebSocketHandshake.evaluate(try request(replacing("Host", with: nil))).status == 400)
    }

    @Test(
        "Connection without the upgrade token: 400",
        arguments: [
            "Connection: keep-alive", "Connection: upgrade-ish", nil,
        ] as [String?])
    func missingConnectionUpgrade(line: String?) throws {
        #expect(WebSocketHandshake.evaluate(try request(replacing("Connection", with: line))).status == 400)
    }

    @Test("HTTP/1.0: 400")
    func http10() throws {
        #expect(WebSocketHandshake.evaluate(try request("GET /chat HTTP/1.0", Self.goodHeaders)).status == 400)
    }

    @Test("non-GET: 405 with Allow: GET", arguments: ["POST", "PUT", "HEAD", "get"])
    func nonGet(method: String) throws {
        let outcome = WebSocketHandshake.evaluate(try request("\(method) /chat HTTP/1.1", Self.goodHeaders))
        guard case .reject(let error, let headers) = outcome else {
            Issue.record("expected a rejection, got \(outcome)")
            return
        }
        #expect(error.status == 405)
        #expect(headers == ["Allow: GET"])
    }

    @Test("101 response bytes")
    func switchingProtocols() {
        let text = String(decoding: WebSocketHandshake.switchingProtocols(accept: Self.sampleAccept), as: UTF8.self)
        #expect(
            text
                == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: \(Self.sampleAccept)\r\n\r\n"
        )
    }
}

extension WebSocketHandshake.Outcome {
    /// Status of a rejection, 101 for an accept, 0 for not-an-upgrade.
    var status: Int {
        switch self {
        case .notUpgrade: return 0
        case .accept: return 101
        case .reject(let error, _): return error.status
        }
    }
}
