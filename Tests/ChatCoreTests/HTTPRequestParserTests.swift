import Testing

@testable import ChatCore

@Suite("HTTP request parser")
struct HTTPRequestParserTests {
    static let upgrade =
        "GET /chat?channel=general HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

    @Test("a complete request in one piece")
    func onePiece() throws {
        let run = parseHTTP(Self.upgrade)
        #expect(run.outcome == .complete(method: "GET", path: "/chat", leftover: []))
        let request = try #require(run.request)
        #expect(request.target == "/chat?channel=general")
        #expect(request.minorVersion == 1)
        #expect(request.queryValue("channel") == "general")
        #expect(request.queryValue("missing") == nil)
        #expect(
            request.headers.map(\.name) == [
                "host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
            ])
        #expect(request.header("Host") == "example.com")
        #expect(request.header("SEC-WEBSOCKET-KEY") == "dGhlIHNhbXBsZSBub25jZQ==")
        #expect(request.header("origin") == nil)
    }

    @Test("byte by byte, and cut at every position: same request")
    func incremental() {
        let data = bytes(Self.upgrade)
        let expected = ParseOutcome.complete(method: "GET", path: "/chat", leftover: [])
        var parser = HTTPRequestParser()
        for (k, byte) in data.enumerated() {
            let result = [byte].withUnsafeBytes { parser.feed($0) }
            switch result {
            case .needMore:
                #expect(k < data.count - 1, "still needs more after the last byte")
            case .complete(let request, let leftover):
                #expect(k == data.count - 1, "completed early at byte \(k)")
                #expect(request.header("sec-websocket-version") == "13")
                #expect(leftover.isEmpty)
            case .failure(let error):
                Issue.record("failed at byte \(k): \(error)")
                return
            }
            #expect(parser.bufferedBytes == (k == data.count - 1 ? 0 : k + 1))
        }
        for cut in 1..<data.count {
            #expect(parseHTTP(split(data, at: [cut])).outcome == expected, "cut \(cut)")
        }
    }

    @Test("bytes after the head are returned as leftover, however the input is split")
    func leftover() {
        let frame = clientFrame(Opcode.text, "hi")
        let data = bytes(Self.upgrade) + frame
        #expect(parseHTTP([data]).outcome == .complete(method: "GET", path: "/chat", leftover: frame))
        let headEnd = bytes(Self.upgrade).count
        // Cut before the end of the head: the second read completes it and returns the rest.
        for cut in (headEnd - 4)..<headEnd {
            var parser = HTTPRequestParser()
            let first = Array(data[..<cut])
            let second = Array(data[cut...])
            let r1 = first.withUnsafeBytes { parser.feed($0) }
            guard case .needMore = r1 else {
                Issue.record("cut \(cut): first piece gave \(r1)")
                continue
            }
            let r2 = second.withUnsafeBytes { parser.feed($0) }
            guard case .complete(_, let rest) = r2 else {
                Issue.record("cut \(cut): \(r2)")
                continue
            }
            #expect(rest == frame, "cut \(cut)")
        }
        // Cut at or after the end of the head: the first read completes with what it got.
        for cut in headEnd...data.count {
            var parser = HTTPRequestParser()
            let result = Array(data[..<cut]).withUnsafeBytes { parser.feed($0) }
            guard case .complete(_, let rest) = result else {
                Issue.record("cut \(cut): \(result)")
                continue
            }
            #expect(rest == Array(data[headEnd..<cut]), "cut \(cut)")
        }
    }

    @Test("LF-only line ends, and leading blank lines")
    func lfOnly() throws {
        let text = "GET /x HTTP/1.1\nHost: a\nUpgrade: websocket\n\n"
        #expect(parseHTTP(text).outcome == .complete(method: "GET", path: "/x", leftover: []))
        #expect(parseHTTP(bytewise(bytes(text))).outcome == .complete(method: "GET", path: "/x", leftover: []))
        #expect(try #require(parseHTTP(text).request).header("upgrade") == "websocket")
        // Mixed line ends.
        #expect(
            parseHTTP("GET /x HTTP/1.1\r\nHost: a\n\r\n").outcome == .complete(method: "GET", path: "/x", leftover: []))
        #expect(
            parseHTTP("GET /x HTTP/1.1\nHost: a\r\n\n").outcome == .complete(method: "GET", path: "/x", leftover: []))
        // No headers at all.
        #expect(parseHTTP("GET / HTTP/1.0\r\n\r\n").outcome == .complete(method: "GET", path: "/", leftover: []))
        #expect(parseHTTP("GET / HTTP/1.0\n\n").outcome == .complete(method: "GET", path: "/", leftover: []))
        // Leading empty lines are skipped (RFC 9112 section 2.2).
        let blank = "\r\n\r\n\nGET /y HTTP/1.1\r\nHost: a\r\n\r\n"
        #expect(parseHTTP(blank).outcome == .complete(method: "GET", path: "/y", leftover: []))
        #expect(parseHTTP(bytewise(bytes(blank))).outcome == .complete(method: "GET", path: "/y", leftover: []))
    }

    @Test("incomplete heads ask for more")
    func needMore() {
        #expect(parseHTTP("GET / HTTP/1.1\r\nHost: a\r\n").outcome == .needMore)
        #expect(parseHTTP("GET / HTTP/1.1\r\nHost: a\r\n\r").outcome == .needMore)
        #expect(parseHTTP("GET / HTTP/1.1").outcome == .needMore)
        #expect(parseHTTP("\r\n\r\n").outcome == .needMore)
    }

    @Test("header values: surrounding blanks trimmed, tabs inside kept, obs-text allowed")
    func headerValues() throws {
        let request = try #require(
            parseHTTP("GET / HTTP/1.1\r\nX-A: \t value with\ttab \t\r\nX-B:\r\nX-C: caf\u{E9}\r\nX-A: second\r\n\r\n")
                .request)
        #expect(request.header("x-a") == "value with\ttab")
        #expect(request.header("x-b") == "")
        #expect(request.header("x-c") == "café")
        #expect(request.headers.filter { $0.name == "x-a" }.map(\.value) == ["value with\ttab", "second"])
    }

    @Test("headerHasToken: comma lists, case-insensitive, across repeated headers")
    func headerTokens() throws {
        let request = try #require(
            parseHTTP(
                """
                GET / HTTP/1.1\r\nConnection: keep-alive,  Upgrade ,close\r\nUpgrade: WebSocket\r\nX-List: \
                a\r\nX-List: b, c\r\n\r\n
                """
            ).request)
        #expect(request.headerHasToken("connection", "upgrade"))
        #expect(request.headerHasToken("Connection", "UPGRADE"))
        #expect(request.headerHasToken("CONNECTION", "keep-alive"))
        #expect(request.headerHasToken("connection", "close"))
        #expect(!request.headerHasToken("connection", "upgrad"))
        #expect(!request.headerHasToken("connection", "keep"))
        #expect(request.headerHasToken("upgrade", "websocket"))
        #expect(request.headerHasToken("x-list", "a"))
        #expect(request.headerHasToken("x-list", "c"))
        #expect(!request.headerHasToken("x-missing", "a"))
        #expect(!request.headerHasToken("upgrade", ""))
    }

    // MARK: Limits

    @Test("head over maxHeadBytes: 431, while incomplete and when complete")
    func headTooBig() {
        let big = "GET / HTTP/1.1\r\nCookie: " + String(repeating: "c", count: 9000)
        #expect(parseHTTP(big).outcome == .failure(431))
        #expect(parseHTTP(big + "\r\n\r\n").outcome == .failure(431))
        // Fed in pieces: fails as soon as the buffer passes the limit, without a line end.
        let limits = HTTPLimits(maxHeadBytes: 1024, maxHeaderCount: 64, maxRequestLineBytes: 512)
        var parser = HTTPRequestParser(limits: limits)
        let head = bytes("GET / HTTP/1.1\r\nX: ")
        var fed = 0
        var outcome: HTTPParseResult = head.withUnsafeBytes { parser.feed($0) }
        fed += head.count
        while case .needMore = outcome, fed < 5000 {
            outcome = [UInt8](repeating: 0x61, count: 100).withUnsafeBytes { parser.feed($0) }
            fed += 100
        }
        guard case .failure(let error) = outcome else {
            Issue.record("never failed")
            return
        }
        #expect(error.status == 431)
        #expect(fed > 1024 && fed <= 1124)
        // Exactly at the limit is fine.
        let exact = "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 1024 - 19 - 4) + "\r\n\r\n"
        #expect(exact.utf8.count == 1024)
        #expect(parseHTTP(exact, limits: limits).outcome == .complete(method: "GET", path: "/", leftover: []))
        #expect(
            parseHTTP(bytewise(bytes(exact)), limits: limits).outcome
                == .complete(method: "GET", path: "/", leftover: []))
        #expect(
            parseHTTP(exact + "x", limits: limits).outcome == .complete(method: "GET", path: "/", leftover: bytes("x")))
        let over = "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 1024 - 19 - 3) + "\r\n\r\n"
        #expect(parseHTTP(over, limits: limits).outcome == .failure(431))
        #expect(parseHTTP(bytewise(bytes(over)), limits: limits).outcome == .failure(431))
    }

    @Test("too many headers: 431")
    func tooManyHeaders() {
        func request(_ n: Int) -> String {
            "GET / HTTP/1.1\r\n" + (0..<n).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        }
        #expect(parseHTTP(request(64)).outcome == .complete(method: "GET", path: "/", leftover: []))
        #expect(parseHTTP(request(65)).outcome == .failure(431))
        let limits = HTTPLimits(maxHeadBytes: 8192, maxHeaderCount: 3, maxRequestLineBytes: 4096)
        #expect(parseHTTP(request(3), limits: limits).outcome == .complete(method: "GET", path: "/", leftover: []))
        #expect(parseHTTP(request(4), limits: limits).outcome == .failure(431))
    }

    @Test("request line too long: 414, before the line ends and when it does")
    func requestLineTooLong() {
        let line = "GET /" + String(repeating: "a", count: 5000)
        #expect(parseHTTP(line).outcome == .failure(414))
        #expect(parseHTTP(line + " HTTP/1.1\r\n\r\n").outcome == .failure(414))
        let limits = HTTPLimits(maxHeadBytes: 8192, maxHeaderCount: 64, maxRequestLineBytes: 32)
        // 33 bytes without a line end: 414 straight away.
        #expect(parseHTTP("GET /" + String(repeating: "a", count: 28), limits: limits).outcome == .failure(414))
        // A 32-byte request line is fine when it arrives with its line end.
        let exact = "GET /" + String(repeating: "a", count: 18) + " HTTP/1.1"
        #expect(exact.utf8.count == 32)
        #expect(
            parseHTTP(exact + "\r\n\r\n", limits: limits).outcome
                == .complete(method: "GET", path: "/" + String(repeating: "a", count: 18), leftover: []))
        let over = "GET /" + String(repeating: "a", count: 19) + " HTTP/1.1"
        #expect(parseHTTP(over + "\r\n\r\n", limits: limits).outcome == .failure(414))
        #expect(parseHTTP(bytewise(bytes(over + "\r\n\r\n")), limits: limits).outcome == .failure(414))
    }

    @Test(
        "a request line of exactly the limit is accepted however it is split")
    func requestLineLimitSplitIndependent() {
        let limits = HTTPLimits(maxHeadBytes: 8192, maxHeaderCount: 64, maxRequestLineBytes: 32)
        let exact = "GET /" + String(repeating: "a", count: 18) + " HTTP/1.1\r\n\r\n"
        let expected = ParseOutcome.complete(method: "GET", path: "/" + String(repeating: "a", count: 18), leftover: [])
        #expect(parseHTTP(exact, limits: limits).outcome == expected)
        #expect(parseHTTP(bytewise(bytes(exact)), limits: limits).outcome == expected)
        // Leading blank lines are not part of the request line either.
        #expect(parseHTTP(bytewise(bytes("\r\n" + exact)), limits: limits).outcome == expected)
    }

    // MARK: Malformed input

    @Test(
        "garbage first byte fails immediately",
        arguments: [0x16, 0x00, 0x20, 0x80, 0xFF, UInt8(ascii: "{"), UInt8(ascii: "/")] as [UInt8])
    func garbageFirstByte(byte: UInt8) {
        var parser = HTTPRequestParser()
        let result = [byte].withUnsafeBytes { parser.feed($0) }
        guard case .failure(let error) = result else {
            Issue.record("\(result)")
            return
        }
        #expect(error.status == 400)
        // A TLS ClientHello as a whole.
        #expect(
            parseHTTP([[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03]]).outcome == .failure(400))
    }

    @Test(
        "malformed request lines: 400",
        arguments: [
            "GET /\r\n\r\n",  // two parts
            "GET  / HTTP/1.1\r\n\r\n",  // double space
            "GET / HTTP/1.1 \r\n\r\n",  // trailing space
            "GET / HTTP/1.1 x\r\n\r\n",  // four parts
            "G@T / HTTP/1.1\r\n\r\n",  // not a token
            "GET x HTTP/1.1\r\n\r\n",  // target not origin-form
            "GET * HTTP/1.1\r\n\r\n",
            "GET http://a/ HTTP/1.1\r\n\r\n",
            "GET /\u{E9} HTTP/1.1\r\n\r\n",  // raw non-ASCII in the target
            "GET /a\u{7F} HTTP/1.1\r\n\r\n",
            "GET / HTTP/1\r\n\r\n",  // malformed version
            "GET / http/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\r\n\r\n",  // stray CR
            "GET / FOO/1.1x\r\n\r\n",
        ])
    func malformedRequestLine(text: String) {
        #expect(parseHTTP(text).outcome == .failure(400))
        #expect(parseHTTP(bytewise(bytes(text))).outcome == .failure(400))
    }

    @Test("unsupported HTTP versions: 505", arguments: ["HTTP/2.0", "HTTP/1.2", "HTTP/3.0", "HTTP/0.9"])
    func badVersion(version: String) {
        #expect(parseHTTP("GET / \(version)\r\nHost: a\r\n\r\n").outcome == .failure(505))
    }

    @Test("HTTP/1.0 parses with minor version 0")
    func http10() throws {
        #expect(try #require(parseHTTP("GET / HTTP/1.0\r\n\r\n").request).minorVersion == 0)
    }

    @Test(
        "malformed header lines: 400",
        arguments: [
            "Host: a\r\n continued",  // obs-fold (space)
            "Host: a\r\n\tcontinued",  // obs-fold (tab)
            "Host : a",  // space before the colon
            ": a",  // empty name
            "NoColon",
            "Bad[Name]: a",
            "X: a\u{01}b",  // control character in the value
            "X: a\u{7F}",
            "X: a\u{00}b",
            "X: a\rb",  // bare CR
        ])
    func malformedHeaders(line: String) {
        let text = "GET / HTTP/1.1\r\n" + line + "\r\n\r\n"
        #expect(parseHTTP(text).outcome == .failure(400), "\(line.debugDescription)")
        #expect(parseHTTP(bytewise(bytes(text))).outcome == .failure(400), "\(line.debugDescription)")
    }

    @Test("obs-fold is named as such in the error")
    func obsFoldMessage() {
        for fold in [" continued: x", "\tcontinued"] {
            var parser = HTTPRequestParser()
            let result = bytes("GET / HTTP/1.1\r\nX-A: a\r\n\(fold)\r\n\r\n").withUnsafeBytes { parser.feed($0) }
            guard case .failure(let error) = result else {
                Issue.record("\(result)")
                continue
            }
            #expect(error.status == 400)
            #expect(error.message.contains("fold"), "\(error.message)")
        }
    }

    // MARK: Percent-decoding

    @Test("path and query are percent-decoded; + is a space only in the query")
    func percentDecoding() throws {
        let request = try #require(
            parseHTTP(
                """
                GET /chat/join%20now/a+b?channel=dev%20ops&nick=J%C3%BCrgen+M&flag&empty=&plus=%2B&a=1=2 \
                HTTP/1.1\r\n\r\n
                """
            ).request)
        #expect(request.path == "/chat/join now/a+b")
        #expect(request.query.map(\.name) == ["channel", "nick", "flag", "empty", "plus", "a"])
        #expect(request.query.map(\.value) == ["dev ops", "Jürgen M", "", "", "+", "1=2"])
        #expect(request.queryValue("nick") == "Jürgen M")
        #expect(
            request.target == "/chat/join%20now/a+b?channel=dev%20ops&nick=J%C3%BCrgen+M&flag&empty=&plus=%2B&a=1=2")
        // Lowercase hex digits, encoded names, empty pieces.
        let other = try #require(parseHTTP("GET /%c3%a9?%6E%61me=v&&x=%e2%82%ac HTTP/1.1\r\n\r\n").request)
        #expect(other.path == "/é")
        #expect(other.queryValue("name") == "v")
        #expect(other.queryValue("x") == "€")
        #expect(other.query.count == 2)
        // Empty query.
        #expect(try #require(parseHTTP("GET /p? HTTP/1.1\r\n\r\n").request).query.isEmpty)
    }

    @Test(
        "bad percent-encoding or invalid UTF-8 after decoding: 400",
        arguments: [
            "/a%", "/a%4", "/a%G1", "/a%4G", "/%FF", "/%C3", "/%C3%28", "/%ED%A0%80", "/%C0%80",
            "/?q=%", "/?q=%zz", "/?q=%FF", "/?%E2%82=1",
        ])
    func badPercentEncoding(target: String) {
        #expect(parseHTTP("GET \(target) HTTP/1.1\r\n\r\n").outcome == .failure(400))
    }

    @Test("URLEncoding directly")
    func urlEncoding() {
        #expect(URLEncoding.decode(bytes("a+b%20c")[...], plusAsSpace: false) == "a+b c")
        #expect(URLEncoding.decode(bytes("a+b%20c")[...], plusAsSpace: true) == "a b c")
        #expect(URLEncoding.decode(bytes("%41")[...], plusAsSpace: false) == "A")
        #expect(URLEncoding.decode(bytes("%4")[...], plusAsSpace: false) == nil)
        #expect(URLEncoding.decode(bytes("")[...], plusAsSpace: false) == "")
        let pairs = URLEncoding.parseQuery(bytes("a=1&b&=c")[...])
        #expect(pairs?.map(\.name) == ["a", "b", ""])
        #expect(pairs?.map(\.value) == ["1", "", "c"])
    }
}
