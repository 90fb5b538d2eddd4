import ChatCore
import EventIO

/// Performs what `HTTPRouting` decides for a request: the HTTP API, a WebSocket
/// upgrade (chat or echo), /metrics, /healthz or the web client's files.
extension Worker {
    func route(_ conn: Connection, _ request: HTTPRequest, body: [UInt8] = []) {
        if !config.trustedProxies.isEmpty {
            conn.clientAddress = config.trustedProxies.clientAddress(peer: conn.peerAddress, forwardedFor: request.headerValues("x-forwarded-for"))
        }
        let state = HTTPRouting.State(shuttingDown: isShuttingDown, openWebSockets: openWebSockets, hasIndexPage: site.assets["/"] != nil)
        switch routing.route(request, state: state, addresses: &addressLimits, clientKey: AddressBuckets.key(conn.clientAddress)) {
        case .api:
            api(conn, request, body: body)
        case .upgrade(let path, let accept):
            open(conn, path, request, accept: accept)
        case .metrics:
            conn.respond(HTTPResponse.encode(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Array(metricsText().utf8)))
        case .health(let head):
            let ready = isRedisReady && !isShuttingDown
            let body = Array("{\"status\":\"\(ready ? "ok" : "unavailable")\",\"redis\":\(isRedisReady),\"instance\":\"\(instanceID)\",\"connections\":\(connections.count),\"passwords_restored\":\(hub.passwordsRestored)}\n".utf8)
            conn.respond(HTTPResponse.encode(status: ready ? 200 : 503, contentType: "application/json", body: body, head: head))
        case .banner(let head):
            conn.respond(HTTPResponse.encode(status: 200, body: Array(HTTPRouting.banner.utf8), head: head))
        case .site:
            if let answer = site.respond(to: request) { return conn.respond(answer) }
            conn.respond(HTTPResponse.error(HTTPError(404, "no such path: \(request.path)")))
        case .error(let error, let headers, let refusal):
            if let refusal { refused(refusal, request, conn) }
            conn.respond(HTTPResponse.error(error, headers: headers.map { ($0.name, $0.value) }))
        }
    }

    /// Counts and logs an upgrade a limit refused.
    private func refused(_ refusal: UpgradeRefusal, _ request: HTTPRequest, _ conn: Connection) {
        stats.upgradesRefused += 1
        switch refusal {
        case .origin:
            logger.limited("origin", .info, "upgrade refused: origin not allowed", [("origin", request.header("origin") ?? "")])
        case .capacity:
            logger.limited("capacity", .warn, "upgrade refused: connection limit reached", [("limit", String(connectionLimit))])
        case .address:
            logger.limited("address_limit", .info, "upgrade refused: too many connections from one address",
                           [("address", conn.clientAddress), ("limit", String(config.maxConnectionsPerAddress))])
        }
    }

    /// Completes the WebSocket handshake (the address's count is taken), then starts
    /// the chat session the path asks for: refusals come after the upgrade, as an
    /// `error` event and close 1008, so that browsers can read why.
    private func open(_ conn: Connection, _ path: WebSocketPath, _ request: HTTPRequest, accept: String) {
        let channel = Names.channel(request.queryValue("channel") ?? "")
        let endpoint: Endpoint
        switch path {
        case .chat: endpoint = .multi
        case .seedJoin: if case .success(let c) = channel { endpoint = .seed(channel: c) } else { endpoint = .multi }
        case .echo: endpoint = .echo
        }
        conn.upgrade(accept: accept, endpoint: endpoint, maxMessageSize: path == .echo ? config.echoMaxMessageSize : config.maxMessageSize,
                     countsWebSocket: true)
        logger.debug("websocket open", [("conn", String(conn.id)), ("path", request.path)])
        switch path {
        case .echo:
            break
        case .chat:
            switch Names.nickname(request.queryValue("nickname") ?? "", folding: nicknameFolding) {
            case .failure(let v): refuse(conn, .invalidNickname, v.message)
            case .success(let nickname):
                conn.nickname = nickname
                conn.sendEvent(ServerEvents.welcome(nickname: nickname, instance: instanceID, maxMessageLength: config.maxMessageLength))
            }
        case .seedJoin:
            // Every event, refusals included, in the seed server's envelope.
            guard case .success(let name) = channel else {
                conn.envelopeChannel = request.queryValue("channel") ?? ""
                if case .failure(let v) = channel { refuse(conn, .invalidChannel, v.message) }
                return
            }
            conn.envelopeChannel = name
            hub.addSeedConnection(conn)
            switch Names.nickname(request.queryValue("nickname") ?? "", folding: nicknameFolding) {
            case .failure(let v): refuse(conn, .invalidNickname, v.message)
            case .success(let nickname):
                conn.nickname = nickname
                switch JoinOptions.make(since: request.queryValue("since"), history: request.queryValue("history"), password: request.queryValue("password")) {
                case .failure(let v): refuse(conn, .badRequest, v.message)
                case .success(let options): hub.join(conn, name, options: options, ref: nil)
                }
            }
        }
    }

    /// Refuses a chat connection after the upgrade (so browsers can read why):
    /// an `error` event, then close 1008.
    func refuse(_ conn: Connection, _ code: ErrorCode, _ message: String) {
        conn.sendEvent(ServerEvents.error(ChatError(code, message)))
        conn.close(code: CloseCode.policyViolation, reason: message, why: .refused)
    }
}
