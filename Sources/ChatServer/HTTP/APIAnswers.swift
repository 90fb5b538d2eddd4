import ChatCore
import EventIO

/// What every HTTP API handler shares: JSON answers and errors, the API key, the
/// channel name and `limit` parameters, the JSON body.
extension Worker {
    func apiJSON(_ conn: Connection, _ status: Int = 200, _ fields: (inout JSONWriter.ObjectWriter) -> Void) {
        var out: [UInt8] = []
        JSONWriter.object(&out, fields)
        out.append(UInt8(ascii: "\n"))
        conn.respond(HTTPResponse.encode(status: status, headers: [("Cache-Control", "no-store")], contentType: "application/json", body: out))
    }

    func apiError(_ conn: Connection, _ status: Int, _ code: String, _ message: String, headers: [(String, String)] = []) {
        var out: [UInt8] = []
        JSONWriter.object(&out) { o in
            o.field("error", code)
            o.field("message", message)
        }
        out.append(UInt8(ascii: "\n"))
        conn.respond(HTTPResponse.encode(status: status, headers: headers + [("Cache-Control", "no-store")], contentType: "application/json", body: out))
    }

    func unavailable(_ conn: Connection) {
        apiError(conn, 503, "unavailable", "chat storage is unavailable, try again shortly", headers: [("Retry-After", "1")])
    }

    /// Whether the request carries the API key (401 answered if not; 403 when the API
    /// has no key configured).
    func authorized(_ conn: Connection, _ request: HTTPRequest) -> Bool {
        guard hasAPIKey(request) else {
            if config.apiKey.isEmpty {
                apiError(conn, 403, "api_disabled", "this server has no API_KEY: the write API is off")
            } else {
                apiError(conn, 401, "unauthorized", "send Authorization: Bearer <API_KEY>", headers: [("WWW-Authenticate", "Bearer")])
            }
            return false
        }
        return true
    }

    func hasAPIKey(_ request: HTTPRequest) -> Bool {
        guard !config.apiKey.isEmpty, let header = request.header("authorization") else { return false }
        let scheme = "bearer "
        guard header.count > scheme.count, header.prefix(scheme.count).lowercased() == scheme else { return false }
        let given = Array(header.dropFirst(scheme.count).utf8), wanted = Array(config.apiKey.utf8)
        guard given.count == wanted.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<given.count { diff |= given[i] ^ wanted[i] }  // constant time
        return diff == 0
    }

    func withChannel(_ conn: Connection, _ raw: String, _ body: (String) -> Void) {
        switch Names.channel(raw) {
        case .failure(let v): apiError(conn, 400, "invalid_channel", v.message)
        case .success(let name): body(name)
        }
    }

    func limit(_ request: HTTPRequest, default def: Int, max: Int) -> Int? {
        guard let text = request.queryValue("limit") else { return def }
        guard let n = Int(text), n >= 1, n <= max else { return nil }
        return n
    }

    /// The body's members; a repeated one counts with its last value, as in the
    /// WebSocket protocol. Text that is not UTF-8 is refused (WebSocket frames are
    /// checked for it already; an HTTP body is not).
    func parseBody(_ conn: Connection, _ body: [UInt8]) -> [String: JSONValue]? {
        guard body.withUnsafeBytes({ UTF8Validator.isValid($0) }) else {
            apiError(conn, 400, "bad_json", "the body is not valid UTF-8")
            return nil
        }
        do {
            let members = try body.withUnsafeBytes { try JSONReader.parseObject($0) }
            var fields: [String: JSONValue] = [:]
            for (key, value) in members { fields[key] = value }
            return fields
        } catch let error as JSONError {
            apiError(conn, 400, "bad_json", "the body must be a JSON object: \(error.message) at byte \(error.offset)")
            return nil
        } catch {
            apiError(conn, 400, "bad_json", "the body must be a JSON object")
            return nil
        }
    }
}
