import Testing

@testable import ChatCore

@Suite("Static files (the web client)")
struct StaticSiteTests {
    private func get(_ path: String, method: String = "GET", headers: [(String, String)] = []) -> HTTPRequest {
        HTTPRequest(
            method: method, target: path, path: path, query: [], minorVersion: 1,
            headers: headers.map { ($0.0.lowercased(), $0.1) })
    }

    private func text(_ bytes: [UInt8]?) -> String { String(decoding: bytes ?? [], as: UTF8.self) }

    private func site() throws -> StaticSite {
        var site = StaticSite()
        try site.add(path: "/index.html", body: bytes("<!doctype html><p>hi"))
        try site.add(path: "/app.js", body: bytes("console.log(1)"))
        try site.add(path: "/img/logo.svg", body: bytes("<svg/>"))
        return site
    }

    @Test("content types by extension; unknown kinds are not served")
    func types() {
        #expect(StaticSite.contentType(of: "index.html") == "text/html; charset=utf-8")
        #expect(StaticSite.contentType(of: "app.JS") == "text/javascript; charset=utf-8")
        #expect(StaticSite.contentType(of: "app.css") == "text/css; charset=utf-8")
        #expect(StaticSite.contentType(of: "favicon.svg") == "image/svg+xml")
        #expect(StaticSite.contentType(of: ".env") == nil)
        #expect(StaticSite.contentType(of: "Makefile") == nil)
        #expect(StaticSite.contentType(of: "server.swift") == nil)
        var site = StaticSite()
        #expect(throws: StaticSite.AddError.unsupportedType) { try site.add(path: "/secrets.env", body: []) }
        #expect(throws: StaticSite.AddError.tooLarge) {
            try site.add(path: "/big.js", body: [UInt8](repeating: 0, count: StaticSite.maxFileBytes + 1))
        }
    }

    @Test("index.html at /, files by exact path only, GET and HEAD")
    func serving() throws {
        let site = try site()
        let page = text(site.respond(to: get("/")))
        #expect(page.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(page.contains("\r\nContent-Type: text/html; charset=utf-8\r\n"))
        #expect(page.contains("\r\nCache-Control: no-cache\r\n") && !page.contains("no-store"))
        #expect(page.contains("\r\nContent-Security-Policy: default-src 'self'; script-src 'self'"))
        #expect(page.contains("connect-src 'self';"))
        let hosted = text(site.respond(to: get("/", headers: [("Host", "chat.example.com:8080")])))
        #expect(hosted.contains("connect-src 'self' ws://chat.example.com:8080 wss://chat.example.com:8080;"))
        for evil in ["a.com; script-src *", "a.com 'unsafe-inline'", "x\u{7F}", ""] {
            #expect(
                text(site.respond(to: get("/", headers: [("Host", evil)]))).contains("connect-src 'self';"), "\(evil)")
        }
        #expect(page.hasSuffix("\r\n\r\n<!doctype html><p>hi"))
        #expect(text(site.respond(to: get("/img/logo.svg"))).hasSuffix("<svg/>"))
        let script = text(site.respond(to: get("/app.js")))
        #expect(!script.contains("Content-Security-Policy"))
        for missing in ["/nope.js", "/img", "/img/", "/../app.js", "/app.js/", "/APP.JS"] {
            #expect(site.respond(to: get(missing)) == nil, "\(missing)")
        }
        let head = text(site.respond(to: get("/app.js", method: "HEAD")))
        #expect(head.contains("\r\nContent-Length: 14\r\n") && head.hasSuffix("\r\n\r\n"))
        #expect(head.ranges(of: "Content-Length").count == 1)
        let post = text(site.respond(to: get("/app.js", method: "POST")))
        #expect(post.hasPrefix("HTTP/1.1 405 ") && post.contains("\r\nAllow: GET, HEAD\r\n"))
    }

    @Test("ETag revalidation: 304 without a body for a matching tag (weak, listed or *)")
    func revalidation() throws {
        let site = try site()
        let etag = try #require(site.assets["/app.js"]?.etag)
        #expect(etag.hasPrefix("\"") && etag.hasSuffix("\""))
        #expect(etag != site.assets["/"]?.etag)
        for header in [etag, "W/\(etag)", "\"x\", \(etag)", "*"] {
            let answer = text(site.respond(to: get("/app.js", headers: [("If-None-Match", header)])))
            #expect(answer.hasPrefix("HTTP/1.1 304 Not Modified\r\n"), "\(header)")
            #expect(answer.hasSuffix("\r\n\r\n") && !answer.contains("Content-Length"))
            #expect(answer.contains("\r\nETag: \(etag)\r\n"))
        }
        #expect(
            text(site.respond(to: get("/app.js", headers: [("If-None-Match", "\"other\"")]))).hasPrefix("HTTP/1.1 200 ")
        )
        // The tag follows the content.
        var changed = try self.site()
        try changed.add(path: "/app.js", body: bytes("console.log(2)"))
        #expect(changed.assets["/app.js"]?.etag != etag)
    }
}
