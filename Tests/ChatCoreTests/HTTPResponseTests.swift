import Testing

@testable import ChatCore

@Suite("HTTP responses")
struct HTTPResponseTests {
    @Test("HTTP responses: status line, headers, JSON error body")
    func responses() throws {
        let text = String(
            decoding: HTTPResponse.encode(status: 200, headers: [("X-A", "b")], body: bytes("hi")), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(text.contains("\r\nContent-Length: 2\r\n"))
        #expect(text.contains("\r\nConnection: close\r\n"))
        #expect(text.contains("\r\nX-A: b\r\n"))
        #expect(text.hasSuffix("\r\n\r\nhi"))
        let error = HTTPResponse.error(HTTPError(431, "too \"big\""), headers: [("Retry-After", "1")])
        let errorText = String(decoding: error, as: UTF8.self)
        #expect(errorText.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        #expect(errorText.contains("Content-Type: application/json"))
        #expect(errorText.contains("\r\nRetry-After: 1\r\n"))
        let body = try #require(errorText.split(separator: "\r\n\r\n", maxSplits: 1).last)
        #expect(errorText.contains("Content-Length: \(body.utf8.count)\r\n"))
        let json = try #require(jsonObject(String(body.dropLast())))  // drop the trailing newline
        #expect(json["error"] == .string("request_header_fields_too_large"))
        #expect(json["message"] == .string("too \"big\""))
        for status in [400, 404, 405, 414, 426, 505] { #expect(HTTPResponse.reason(status) != "Status", "\(status)") }
    }

    @Test("a Connection header given by the caller replaces Connection: close")
    func connectionOverride() {
        let text = String(
            decoding: HTTPResponse.error(
                HTTPError(426, "upgrade"), headers: [("Connection", "Upgrade, close"), ("Upgrade", "websocket")]),
            as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 426 Upgrade Required\r\n"))
        #expect(text.contains("\r\nConnection: Upgrade, close\r\n"))
        #expect(!text.contains("Connection: close\r\n"))
        #expect(text.ranges(of: "Connection:").count == 1)
        let plain = String(decoding: HTTPResponse.encode(status: 404, body: []), as: UTF8.self)
        #expect(plain.contains("\r\nConnection: close\r\n"))
    }
}

@Suite("HTTPResponse.headEnd")
struct HTTPResponseHeadEndTests {
    @Test("cuts any encoded answer after its head, Content-Length kept")
    func cutsAfterTheHead() {
        let full = HTTPResponse.error(HTTPError(405, "method not allowed"))
        let end = HTTPResponse.headEnd(full)
        #expect(end != nil)
        let head = Array(full[..<(end ?? 0)])
        #expect(
            head
                == HTTPResponse.encode(
                    status: 405, contentType: "application/json", body: Array(full[(end ?? 0)...]), head: true))
        #expect(String(decoding: head, as: UTF8.self).hasSuffix("\r\n\r\n"))
        #expect(HTTPResponse.headEnd(Array("HTTP/1.1 200 OK\r\n".utf8)) == nil)
        #expect(HTTPResponse.headEnd([]) == nil)
    }
}
