import Testing

@testable import ChatCore

@Suite("Body framing: Content-Length")
struct BodyFramingTests {
    static let max = 65_536

    /// The framing of a POST with these header lines, parsed as the server parses them.
    func framing(_ lines: [String], max: Int = BodyFramingTests.max) -> Result<Int, HTTPError>? {
        let head = "POST /api/publish HTTP/1.1\r\nHost: x\r\n" + lines.map { $0 + "\r\n" }.joined() + "\r\n"
        guard let request = parseHTTP(head).request else { return nil }
        return BodyFraming.contentLength(of: request, maxBytes: max)
    }

    func status(_ lines: [String], max: Int = BodyFramingTests.max) -> Int? {
        switch framing(lines, max: max) {
        case .success?: return 200
        case .failure(let error)?: return error.status
        case nil: return nil
        }
    }

    @Test(
        "a valid Content-Length, or none",
        arguments: [
            (["Content-Length: 32"], 32), (["Content-Length: 0"], 0), ([], 0), (["content-length:32"], 32),
            (["Content-Length:   32  "], 32), (["Content-Length:\t32\t"], 32), (["Content-Length: 0032"], 32),
            (["Content-Length: 65536"], 65_536),
            (["X-Content-Length: 5", "Content-Length: 7"], 7),
        ])
    func valid(lines: [String], length: Int) {
        guard case .success(let n)? = framing(lines) else {
            Issue.record("\(lines) refused")
            return
        }
        #expect(n == length)
    }

    @Test(
        "not digits only: 400",
        arguments: [
            "+32", "-1", "-0", "0x20", "3 2", "32, 32", "32,32", "", "32a", "a32", "1e3", "3.0", "\u{FF13}\u{FF12}",
            "٣٢",
        ])
    func malformed(value: String) {
        #expect(status(["Content-Length: \(value)"]) == 400, "\(value.debugDescription)")
    }

    @Test("two Content-Length fields: 400, even when equal (as nginx)")
    func duplicates() {
        #expect(status(["Content-Length: 32", "Content-Length: 33"]) == 400)
        #expect(status(["Content-Length: 32", "Content-Length: 32"]) == 400)
        #expect(status(["Content-Length: 5", "Host: y", "content-length: 5"]) == 400)
        #expect(status(["Content-Length: 0", "Content-Length: 0"]) == 400)
        #expect(status(["Content-Length: 32", "Content-Length: +32"]) == 400)
    }

    @Test("too large: 413, however many digits (no overflow)")
    func tooLarge() {
        #expect(status(["Content-Length: 65537"]) == 413)
        #expect(status(["Content-Length: 9223372036854775807"]) == 413)  // Int.max
        #expect(status(["Content-Length: 9223372036854775808"]) == 413)  // Int.max + 1
        #expect(status(["Content-Length: " + String(repeating: "9", count: 4000)]) == 413)
        #expect(status(["Content-Length: 10"], max: 9) == 413)
        #expect(status(["Content-Length: 9"], max: 9) == 200)
        // Even with a limit near Int.max, the arithmetic cannot trap.
        #expect(status(["Content-Length: 99999999999999999999"], max: Int.max) == 413)
        #expect(status(["Content-Length: 9223372036854775807"], max: Int.max) == 200)
    }

    @Test("Transfer-Encoding: 411 (no chunked uploads), with or without a Content-Length")
    func transferEncoding() {
        #expect(status(["Transfer-Encoding: chunked"]) == 411)
        #expect(status(["Transfer-Encoding: chunked", "Content-Length: 5"]) == 411)
        #expect(status(["Content-Length: 5", "Transfer-Encoding: identity"]) == 411)
    }

    @Test("headerValues: every field of a repeated header, in order")
    func headerValues() throws {
        let request = try #require(parseHTTP("GET / HTTP/1.1\r\nA: 1\r\nB: x\r\na: 2\r\nA:3\r\n\r\n").request)
        #expect(request.headerValues("a") == ["1", "2", "3"])
        #expect(request.headerValues("B") == ["x"])
        #expect(request.headerValues("c") == [])
        #expect(request.header("A") == "1")
    }
}
