import ChatCore
import EventIO

/// The HTTP API (docs/PROTOCOL.md, "HTTP API"): reads of channels, members and
/// history for anyone (a password-protected channel's members and history need the
/// API key), and writes for an application backend with `Authorization: Bearer
/// API_KEY` (publish, broadcast, channel passwords). Answers and errors are JSON:
/// `{"error": code, "message": text}` with the fitting status.
extension Worker {
    func api(_ conn: Connection, _ request: HTTPRequest, body: [UInt8]) {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst(2).map(String.init)
        let method = request.method
        if config.apiRateLimit > 0, !hasAPIKey(request), !apiBuckets.take(conn.clientAddress, now: Platform.monotonicMillis()) {
            return apiError(conn, 429, "rate_limited", "too many API requests from your address: at most \(config.apiRateLimit) a second",
                            headers: [("Retry-After", "1")])
        }
        if commands.isCongested {  // backpressure: nothing more for Redis until it catches up
            return apiError(conn, 503, "busy", "the server is catching up with chat storage, try again shortly", headers: [("Retry-After", "1")])
        }
        switch (method, parts.count, parts.first) {
        case ("GET", 1, "channels"):
            listChannels(conn, request)
        case ("GET", 3, "channels") where parts[2] == "members":
            withChannel(conn, parts[1]) { self.members(conn, request, $0) }
        case ("GET", 3, "channels") where parts[2] == "history":
            withChannel(conn, parts[1]) { self.history(conn, request, $0) }
        case ("PUT", 2, "channels"):
            guard authorized(conn, request) else { return }
            withChannel(conn, parts[1]) { self.setPassword(conn, $0, body) }
        case ("POST", 1, "publish"):
            guard authorized(conn, request) else { return }
            publish(conn, body, toEveryone: false)
        case ("POST", 1, "broadcast"):
            guard authorized(conn, request) else { return }
            publish(conn, body, toEveryone: true)
        case (_, 1, "channels"), (_, 3, "channels"):
            apiError(conn, 405, "method_not_allowed", "use GET", headers: [("Allow", "GET")])
        case (_, 2, "channels"):
            apiError(conn, 405, "method_not_allowed", "use PUT", headers: [("Allow", "PUT")])
        case (_, 1, "publish"), (_, 1, "broadcast"):
            apiError(conn, 405, "method_not_allowed", "use POST", headers: [("Allow", "POST")])
        default:
            apiError(conn, 404, "not_found", "no such API path: \(request.path)")
        }
    }
}
