import ChatCore
import EventIO

/// Which answer a request gets: the HTTP API, a WebSocket upgrade (chat or echo),
/// /metrics, /healthz or the web client's files.
extension Worker {
    func route(_ conn: Connection, _ request: HTTPRequest, body: [UInt8] = []) {
        if !config.trustedProxies.isEmpty {
            conn.clientAddress = config.trustedProxies.clientAddress(peer: conn.peerAddress, forwardedFor: request.headerValues("x-forwarded-for"))
        }
        if request.path.hasPrefix("/api/") { return api(conn, request, body: body) }
        switch request.path {
        case "/ws":
            upgrade(conn, request) { [unowned self] conn in
                switch Names.nickname(request.queryValue("nickname") ?? "", folding: self.nicknameFolding) {
                case .failure(let v): self.refuse(conn, .invalidNickname, v.message)
                case .success(let nickname):
                    conn.nickname = nickname
                    conn.sendEvent(ServerEvents.welcome(nickname: nickname, instance: self.instanceID, maxMessageLength: self.config.maxMessageLength))
                }
            }
        case "/chat/join":
            let channel = Names.channel(request.queryValue("channel") ?? "")
            upgrade(conn, request, endpoint: { if case .success(let c) = channel { return .seed(channel: c) }; return .multi }()) { [unowned self] conn in
                // Every event, refusals included, in the seed server's envelope.
                if case .success(let name) = channel {
                    conn.envelopeChannel = name
                    self.hub.addSeedConnection(conn)
                } else {
                    conn.envelopeChannel = request.queryValue("channel") ?? ""
                }
                guard case .success(let name) = channel else {
                    if case .failure(let v) = channel { self.refuse(conn, .invalidChannel, v.message) }
                    return
                }
                switch Names.nickname(request.queryValue("nickname") ?? "", folding: self.nicknameFolding) {
                case .failure(let v): self.refuse(conn, .invalidNickname, v.message)
                case .success(let nickname):
                    conn.nickname = nickname
                    switch JoinOptions.make(since: request.queryValue("since"), history: request.queryValue("history"), password: request.queryValue("password")) {
                    case .failure(let v): self.refuse(conn, .badRequest, v.message)
                    case .success(let options): self.hub.join(conn, name, options: options, ref: nil)
                    }
                }
            }
        case "/echo" where config.echoEnabled:
            upgrade(conn, request, endpoint: .echo, maxMessageSize: config.echoMaxMessageSize) { _ in }
        case "/metrics":
            guard request.method == "GET" else { return methodNotAllowed(conn, "GET") }
            conn.respond(HTTPResponse.encode(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Array(metricsText().utf8)))
        case "/healthz":
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed(conn, "GET, HEAD") }
            let ready = isRedisReady && !isShuttingDown
            let body = Array("{\"status\":\"\(ready ? "ok" : "unavailable")\",\"redis\":\(isRedisReady),\"instance\":\"\(instanceID)\",\"connections\":\(connections.count),\"passwords_restored\":\(hub.passwordsRestored)}\n".utf8)
            conn.respond(HTTPResponse.encode(status: ready ? 200 : 503, contentType: "application/json", body: body, head: request.method == "HEAD"))
        case "/" where site.assets["/"] == nil:
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed(conn, "GET, HEAD") }
            let body = Array("chat-server: WebSocket chat. Connect to /ws?nickname=NAME (see docs/PROTOCOL.md) or /chat/join?channel=NAME&nickname=NAME. (No web client: WEB_ROOT has no index.html.)\n".utf8)
            conn.respond(HTTPResponse.encode(status: 200, body: body, head: request.method == "HEAD"))
        default:
            if let answer = site.respond(to: request) { return conn.respond(answer) }
            conn.respond(HTTPResponse.error(HTTPError(404, "no such path: \(request.path)")))
        }
    }

    func methodNotAllowed(_ conn: Connection, _ allow: String) {
        conn.respond(HTTPResponse.error(HTTPError(405, "method not allowed"), headers: [("Allow", allow)]))
    }

    /// Completes the WebSocket handshake on a chat or echo path, then runs `opened`.
    func upgrade(_ conn: Connection, _ request: HTTPRequest, endpoint: Endpoint = .multi, maxMessageSize: Int? = nil, _ opened: (Connection) -> Void) {
        guard request.method == "GET" else { return methodNotAllowed(conn, "GET") }
        if isShuttingDown { return conn.respond(HTTPResponse.error(HTTPError(503, "server is shutting down"))) }
        if !config.allowedOrigins.allows(request.header("origin")) {
            stats.upgradesRefused += 1
            logger.limited("origin", .info, "upgrade refused: origin not allowed", [("origin", request.header("origin") ?? "")])
            return conn.respond(HTTPResponse.error(HTTPError(403, "origin not allowed")))
        }
        if openWebSockets >= connectionLimit {
            stats.upgradesRefused += 1
            logger.limited("capacity", .warn, "upgrade refused: connection limit reached", [("limit", String(connectionLimit))])
            return conn.respond(HTTPResponse.error(HTTPError(503, "server is at its connection limit, try again later"), headers: [("Retry-After", "5")]))
        }
        switch WebSocketHandshake.evaluate(request) {
        case .notUpgrade:
            conn.respond(HTTPResponse.error(HTTPError(426, "this path speaks WebSocket only"),
                                            headers: [("Upgrade", "websocket"), ("Connection", "Upgrade, close"), ("Sec-WebSocket-Version", "13")]))
        case .reject(let error, let headers):
            conn.respond(HTTPResponse.error(error, headers: headers.map { line in
                let parts = line.split(separator: ":", maxSplits: 1)
                return (String(parts[0]), String(parts[1].dropFirst()))
            }))
        case .accept(let accept):
            guard addressLimits.admitWebSocket(AddressBuckets.key(conn.clientAddress)) else {
                stats.upgradesRefused += 1
                logger.limited("address_limit", .info, "upgrade refused: too many connections from one address",
                               [("address", conn.clientAddress), ("limit", String(config.maxConnectionsPerAddress))])
                return conn.respond(HTTPResponse.error(HTTPError(429, "too many connections from your address"), headers: [("Retry-After", "5")]))
            }
            conn.upgrade(accept: accept, endpoint: endpoint, maxMessageSize: maxMessageSize ?? config.maxMessageSize, countsWebSocket: true)
            logger.debug("websocket open", [("conn", String(conn.id)), ("path", request.path)])
            opened(conn)
        }
    }

    /// Refuses a chat connection after the upgrade (so browsers can read why):
    /// an `error` event, then close 1008.
    func refuse(_ conn: Connection, _ code: ErrorCode, _ message: String) {
        conn.sendEvent(ServerEvents.error(ChatError(code, message)))
        conn.close(code: CloseCode.policyViolation, reason: message, why: .refused)
    }
}
