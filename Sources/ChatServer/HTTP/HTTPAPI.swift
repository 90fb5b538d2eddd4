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

    // MARK: Answers

    private func apiJSON(_ conn: Connection, _ status: Int = 200, _ fields: (inout JSONWriter.ObjectWriter) -> Void) {
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

    private func unavailable(_ conn: Connection) {
        apiError(conn, 503, "unavailable", "chat storage is unavailable, try again shortly", headers: [("Retry-After", "1")])
    }

    /// Whether the request carries the API key (401 answered if not; 403 when the API
    /// has no key configured).
    private func authorized(_ conn: Connection, _ request: HTTPRequest) -> Bool {
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

    private func hasAPIKey(_ request: HTTPRequest) -> Bool {
        guard !config.apiKey.isEmpty, let header = request.header("authorization") else { return false }
        let scheme = "bearer "
        guard header.count > scheme.count, header.prefix(scheme.count).lowercased() == scheme else { return false }
        let given = Array(header.dropFirst(scheme.count).utf8), wanted = Array(config.apiKey.utf8)
        guard given.count == wanted.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<given.count { diff |= given[i] ^ wanted[i] }  // constant time
        return diff == 0
    }

    private func withChannel(_ conn: Connection, _ raw: String, _ body: (String) -> Void) {
        switch Names.channel(raw) {
        case .failure(let v): apiError(conn, 400, "invalid_channel", v.message)
        case .success(let name): body(name)
        }
    }

    private func limit(_ request: HTTPRequest, default def: Int, max: Int) -> Int? {
        guard let text = request.queryValue("limit") else { return def }
        guard let n = Int(text), n >= 1, n <= max else { return nil }
        return n
    }

    // MARK: Reads

    /// `GET /api/channels?limit=N`: channels with members, largest first; protected
    /// ones only for a caller with the API key.
    private func listChannels(_ conn: Connection, _ request: HTTPRequest) {
        guard let limit = limit(request, default: 100, max: 10_000) else {
            return apiError(conn, 400, "bad_request", "limit must be from 1 to 10000")
        }
        let g = hub.store.global
        let directories = hasAPIKey(request) ? [g.channels, g.protectedChannels] : [g.channels]
        var total = 0, listed: [(name: String, count: Int)] = [], answered = 0, failed = false
        for directory in directories {
            hub.store.command([Array("ZCARD".utf8), directory]) { result in
                if case .success(let r) = result { total += Int(r.integer) }
            }
            hub.store.command([Array("ZREVRANGE".utf8), directory, Array("0".utf8), Array(String(limit - 1).utf8), Array("WITHSCORES".utf8)]) {
                [unowned self] result in
                answered += 1
                if case .success(let reply) = result {
                    var k = 0
                    while k + 1 < reply.count {
                        listed.append((reply[k].text, Int(reply[k + 1].text) ?? 0))
                        k += 2
                    }
                } else {
                    failed = true
                }
                guard answered == directories.count else { return }
                if failed { return self.unavailable(conn) }
                var list: [UInt8] = [UInt8(ascii: "[")]
                for (k, c) in listed.sorted(by: { $0.count > $1.count }).prefix(limit).enumerated() {
                    if k > 0 { list.append(UInt8(ascii: ",")) }
                    JSONWriter.object(&list) { o in
                        o.field("name", c.name)
                        o.field("count", c.count)
                    }
                }
                list.append(UInt8(ascii: "]"))
                self.apiJSON(conn) { o in
                    o.rawField("channels", list)
                    o.field("total", total)
                }
            }
        }
    }

    /// `GET /api/channels/NAME/members?limit=N&cursor=C`: one page of about N names
    /// (read with HSCAN and sorted within the page: never the whole list), and the
    /// cursor of the next page while there is one.
    private func members(_ conn: Connection, _ request: HTTPRequest, _ name: String) {
        guard let limit = limit(request, default: 1_000, max: 1_000) else {
            return apiError(conn, 400, "bad_request", "limit must be from 1 to 1000")
        }
        let cursor = request.queryValue("cursor") ?? "0"
        guard !cursor.isEmpty, cursor.utf8.count <= 20, cursor.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            return apiError(conn, 400, "bad_request", "cursor must be the cursor of a previous answer")
        }
        let keyed = hasAPIKey(request)
        hub.store.memberPage(ChannelKeys(prefix: config.redisPrefix, tag: name), cursor: cursor, pageSize: limit) { [unowned self] result in
            switch result {
            case .failure: self.unavailable(conn)
            case .success(let page) where page.protected && !keyed:
                self.apiError(conn, 403, "forbidden", "channel \(name) is password-protected: its members are shown with the API key only")
            case .success(let page):
                let names = page.trimmed(to: limit)
                self.apiJSON(conn) { o in
                    o.field("channel", name)
                    o.field("count", page.count)
                    o.rawField("members", ServerEvents.stringArray(names))
                    o.field("protected", page.protected)
                    if let next = page.next { o.field("cursor", next) }
                }
            }
        }
    }

    /// `GET /api/channels/NAME/history?since=ID|before=ID&limit=N` (default: the latest 100).
    private func history(_ conn: Connection, _ request: HTTPRequest, _ name: String) {
        guard let limit = limit(request, default: 100, max: 1_000) else {
            return apiError(conn, 400, "bad_request", "limit must be from 1 to 1000")
        }
        let since = request.queryValue("since"), before = request.queryValue("before")
        if since != nil && before != nil { return apiError(conn, 400, "bad_request", "give since or before, not both") }
        let sinceID = since.flatMap { StreamID($0) }, beforeID = before.flatMap { StreamID($0) }
        if (since != nil && sinceID == nil) || (before != nil && beforeID == nil)
            || sinceID == StreamID(milliseconds: .max, sequence: .max) || beforeID == StreamID(milliseconds: 0, sequence: 0) {
            return apiError(conn, 400, "bad_request", "since and before must be message ids like 1700000000000-0 (before above 0-0)")
        }
        let keyed = hasAPIKey(request), address = AddressBuckets.key(conn.clientAddress)
        switch hub.historyReads.admitRequest(from: address) {
        case .busy?:
            return apiError(conn, 503, "busy", "too many history reads at once, try again shortly", headers: [("Retry-After", "1")])
        case .perAddress?:
            return apiError(conn, 429, "too_many_requests", "at most \(HistoryReads.perAddress) history requests at once from one address",
                            headers: [("Retry-After", "1")])
        case nil:
            break
        }
        // Bounded in bytes as well as in count (OUTPUT_BUFFER_LIMIT), inside Redis: the
        // events next to `since` (or to `before`, or the latest) that fit; `truncated`
        // says there are more, to be read from the last (first) id given.
        hub.store.history(ChannelKeys(prefix: config.redisPrefix, tag: name), since: sinceID?.description, before: beforeID?.description,
                          limit: limit, budget: config.outputBufferLimit, keyed: keyed) { [unowned self] result in
            self.hub.historyReads.requestFinished(from: address)
            self.hub.scheduleReplays()
            switch result {
            case .failure: self.unavailable(conn)
            case .success(.forbidden):
                self.apiError(conn, 403, "forbidden", "channel \(name) is password-protected: its history is shown with the API key only")
            case .success(.events(let events, _, let cut)):
                var list: [UInt8] = [UInt8(ascii: "[")]
                for (k, event) in events.enumerated() {
                    if k > 0 { list.append(UInt8(ascii: ",")) }
                    list.append(contentsOf: event)
                }
                list.append(UInt8(ascii: "]"))
                self.apiJSON(conn) { o in
                    o.field("channel", name)
                    o.rawField("messages", list)
                    o.field("truncated", cut)
                }
            }
        }
    }

    // MARK: Writes

    /// The body's members; a repeated one counts with its last value, as in the
    /// WebSocket protocol. Text that is not UTF-8 is refused (WebSocket frames are
    /// checked for it already; an HTTP body is not).
    private func parseBody(_ conn: Connection, _ body: [UInt8]) -> [String: JSONValue]? {
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

    /// `POST /api/publish {"channel","message","sender"?}` and `POST /api/broadcast
    /// {"message","sender"?}`: the message goes through Redis like a client's (history,
    /// every instance); `sender` defaults to `System` and may be a reserved name.
    private func publish(_ conn: Connection, _ body: [UInt8], toEveryone: Bool) {
        guard let fields = parseBody(conn, body) else { return }
        guard case .string(let text)? = fields["message"] else { return apiError(conn, 400, "bad_request", "\"message\" must be a string") }
        if let (code, why) = protocolLimits.check(text) { return apiError(conn, 400, code.rawValue, why) }
        var sender = "System"
        switch fields["sender"] {
        case nil, .null?: break
        case .string(let s)?:
            // The backend may sign as a reserved name: the syntax rules still apply.
            let trimmed = s.trimmingWhitespace()
            if case .failure(let v) = Names.nicknameSyntax(trimmed) {
                return apiError(conn, 400, "invalid_nickname", v.message)
            }
            sender = trimmed
        default: return apiError(conn, 400, "bad_request", "\"sender\" must be a string")
        }
        var event: [UInt8] = []
        let keys: ChannelKeys
        var channelName = ""
        if toEveryone {
            ServerEvents.appendBroadcastBody(sender: sender, text: text, to: &event)
            keys = ChannelKeys.global(prefix: config.redisPrefix)
        } else {
            guard case .string(let raw)? = fields["channel"] else { return apiError(conn, 400, "bad_request", "\"channel\" must be a string") }
            guard case .success(let name) = Names.channel(raw) else { return apiError(conn, 400, "invalid_channel", "invalid channel name") }
            channelName = name
            ServerEvents.appendMessageBody(channel: name, sender: sender, text: text, to: &event)
            keys = ChannelKeys(prefix: config.redisPrefix, tag: name)
        }
        hub.store.publish(keys, body: event) { [unowned self] result in
            switch result {
            case .failure: self.unavailable(conn)
            case .success(let appended):
                self.stats.published += 1
                self.apiJSON(conn) { o in
                    o.field("id", appended.id)
                    if !toEveryone { o.field("channel", channelName) }
                }
            }
        }
    }

    /// `PUT /api/channels/NAME {"password": "..." | null}`: protects a channel (or
    /// changes its password), or opens it again with null.
    private func setPassword(_ conn: Connection, _ name: String, _ body: [UInt8]) {
        guard let fields = parseBody(conn, body) else { return }
        let keys = ChannelKeys(prefix: config.redisPrefix, tag: name)
        let done: (Bool) -> Void = { [unowned self] protected in
            self.apiJSON(conn) { o in
                o.field("channel", name)
                o.field("protected", protected)
            }
        }
        switch fields["password"] {
        case .null?:
            hub.store.setPassword(keys, channel: name, hash: "") { [unowned self] ok in
                if ok { done(false) } else { self.unavailable(conn) }
            }
        case .string(let password)? where !password.isEmpty && password.unicodeScalars.count <= JoinOptions.maxPasswordLength
                                            && !password.utf8.contains(0):
            let accepted = hasher.submit(.hash(password)) { [unowned self] outcome in
                guard case .hashed(let hash?) = outcome else { return self.unavailable(conn) }
                self.hub.store.setPassword(keys, channel: name, hash: hash) { [unowned self] ok in
                    if ok { done(true) } else { self.unavailable(conn) }
                }
            }
            if !accepted { unavailable(conn) }
        default:
            apiError(conn, 400, "bad_request", "\"password\" must be a string of 1 to \(JoinOptions.maxPasswordLength) characters, or null")
        }
    }
}
