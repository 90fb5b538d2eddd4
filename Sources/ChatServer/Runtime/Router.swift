import ChatCore
import EventIO

/// Performs what `HTTPRouting` decides for a request: the HTTP API, a WebSocket
/// upgrade (chat or echo), /metrics, /healthz or the web client's files.
extension Worker {
    func route(_ conn: Connection, _ request: HTTPRequest, body: [UInt8] = []) {
        if !config.trustedProxies.isEmpty {
            conn.clientAddress = config.trustedProxies.clientAddress(
                peer: conn.peerAddress, forwardedFor: request.headerValues("x-forwarded-for"))
        }
        let state = HTTPRouting.State(
            shuttingDown: isShuttingDown, openWebSockets: openWebSockets, hasIndexPage: site.assets["/"] != nil)
        switch routing.route(
            request, state: state, addresses: &addressLimits, clientKey: AddressBuckets.key(conn.clientAddress))
        {
        case .api:
            api.handle(conn, request, body: body)
        case .upgrade(let path, let accept):
            open(conn, path, request, accept: accept)
        case .metrics:
            conn.respond(
                HTTPResponse.encode(
                    status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                    body: Array(metricsText().utf8)))
        case .health(let head):
            let ready = isRedisReady && !isShuttingDown
            let body = Array(
                ("{\"status\":\"\(ready ? "ok" : "unavailable")\",\"redis\":\(isRedisReady),"
                    + "\"instance\":\"\(instanceID)\",\"connections\":\(connections.count),"
                    + "\"passwords_restored\":\(hub.passwordsRestored)}\n").utf8)
            conn.respond(
                HTTPResponse.encode(status: ready ? 200 : 503, contentType: "application/json", body: body, head: head))
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
            logger.limited(
                "origin", .info, "upgrade refused: origin not allowed", [("origin", request.header("origin") ?? "")])
        case .capacity:
            logger.limited(
                "capacity", .warn, "upgrade refused: connection limit reached", [("limit", String(connectionLimit))])
        case .address:
            logger.limited(
                "address_limit", .info, "upgrade refused: too many connections from one address",
                [("address", conn.clientAddress), ("limit", String(config.maxConnectionsPerAddress))])
        }
    }

    /// Completes the WebSocket handshake (the address's count is taken), then starts
    /// what `ChatEntry` decides for the path: refusals come after the upgrade, as an
    /// `error` event and close 1008, so that browsers can read why.
    private func open(_ conn: Connection, _ path: WebSocketPath, _ request: HTTPRequest, accept: String) {
        switch path {
        case .echo:
            conn.upgrade(
                accept: accept, endpoint: .echo, maxMessageSize: config.echoMaxMessageSize, countsWebSocket: true)
            logger.debug("websocket open", [("conn", String(conn.id)), ("path", request.path)])
        case .chat:
            conn.upgrade(accept: accept, endpoint: .multi, maxMessageSize: config.maxMessageSize, countsWebSocket: true)
            logger.debug("websocket open", [("conn", String(conn.id)), ("path", request.path)])
            enter(conn, ChatEntry.chat(request, folding: nicknameFolding))
        case .seedJoin:
            let seed = ChatEntry.seedJoin(request, folding: nicknameFolding)
            let endpoint: Endpoint = seed.seedChannel.map { .seed(channel: $0) } ?? .multi
            conn.upgrade(
                accept: accept, endpoint: endpoint, maxMessageSize: config.maxMessageSize, countsWebSocket: true)
            logger.debug("websocket open", [("conn", String(conn.id)), ("path", request.path)])
            // Every event, refusals included, in the seed server's envelope.
            conn.envelopeChannel = seed.envelopeChannel
            if seed.seedChannel != nil { hub.addSeedConnection(conn) }
            if case .refuse = seed.entry, let nickname = seed.nickname { conn.nickname = nickname }
            enter(conn, seed.entry)
        }
    }

    private func enter(_ conn: Connection, _ entry: ChatEntry) {
        switch entry {
        case .welcome(let nickname):
            conn.nickname = nickname
            conn.sendEvent(
                ServerEvents.welcome(
                    nickname: nickname, instance: instanceID, maxMessageLength: config.maxMessageLength))
        case .join(let channel, let nickname, let options):
            conn.nickname = nickname
            hub.join(conn, channel, options: options, ref: nil)
        case .refuse(let code, let message):
            refuse(conn, code, message)
        }
    }

    /// Refuses a chat connection after the upgrade (so browsers can read why):
    /// an `error` event, then close 1008.
    func refuse(_ conn: Connection, _ code: ErrorCode, _ message: String) {
        conn.sendEvent(ServerEvents.error(ChatError(code, message)))
        conn.close(code: CloseCode.policyViolation, reason: message, why: .refused)
    }
}
