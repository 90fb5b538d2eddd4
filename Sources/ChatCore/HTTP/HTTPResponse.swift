/// Encodes the few plain HTTP responses the server sends. Every one closes the
/// connection: the server speaks HTTP only to upgrade or to answer small requests.
public enum HTTPResponse {
    public static func reason(_ status: Int) -> String {
        switch status {
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 204: return "No Content"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 426: return "Upgrade Required"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status"
        }
    }

    /// A complete response with `Content-Length` (unless `contentLength` is false: a
    /// 304), `Connection: close` (unless `headers` sets Connection itself, as a 426 does
    /// with `Upgrade, close`) and `Cache-Control: no-store` (unless `headers` sets Cache-Control). With `head`, the
    /// answer to a HEAD request: the same head as the GET's, `body`'s length included,
    /// without the body.
    public static func encode(
        status: Int, headers: [(String, String)] = [], contentType: String = "text/plain; charset=utf-8", body: [UInt8],
        contentLength: Bool = true, head isHead: Bool = false
    ) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(reason(status))\r\n"
        head += "Content-Type: \(contentType)\r\n"
        if contentLength { head += "Content-Length: \(body.count)\r\n" }
        if !headers.contains(where: { $0.0.lowercased() == "connection" }) { head += "Connection: close\r\n" }
        if !headers.contains(where: { $0.0.lowercased() == "cache-control" }) { head += "Cache-Control: no-store\r\n" }
        head += "X-Content-Type-Options: nosniff\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        return isHead ? Array(head.utf8) : Array(head.utf8) + body
    }

    /// Where an encoded response's head ends (just after its blank line): the answer to
    /// a HEAD request is the response cut there, whatever made it. Nil if there is none.
    public static func headEnd(_ response: [UInt8]) -> Int? {
        guard response.count >= 4 else { return nil }
        for i in 3..<response.count
        where response[i] == 10 && response[i - 1] == 13 && response[i - 2] == 10 && response[i - 3] == 13 {
            return i + 1
        }
        return nil
    }

    /// An error answer with a small JSON body: `{"error":"<status text>","message":"..."}`.
    public static func error(_ error: HTTPError, headers: [(String, String)] = []) -> [UInt8] {
        var body: [UInt8] = []
        JSONWriter.object(&body) { o in
            o.field("error", reason(error.status).lowercased().replacing(" ", with: "_"))
            o.field("message", error.message)
        }
        body.append(10)
        return encode(status: error.status, headers: headers, contentType: "application/json", body: body)
    }
}
