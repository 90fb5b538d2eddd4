import Testing

@testable import ChatCore

/// A request as the parser makes it from `METHOD target` and header lines.
func parsedRequest(_ method: String, _ target: String, _ headers: [String] = [], body: String = "") -> HTTPRequest {
    var text = "\(method) \(target) HTTP/1.1\r\nHost: example\r\n"
    for line in headers { text += line + "\r\n" }
    text += "\r\n"
    var parser = HTTPRequestParser()
    let bytes = Array(text.utf8)
    guard case .complete(let request, _) = bytes.withUnsafeBytes({ parser.feed($0) }) else {
        fatalError("test request did not parse: \(text)")
    }
    return request
}

private let upgradeHeaders = [
    "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
]
private let acceptValue = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

@Suite("HTTP routing and the upgrade policy")
struct HTTPRoutingTests {
    let routing = HTTPRouting(
        echoEnabled: true, allowedOrigins: OriginPolicy("https://chat.example")!, connectionLimit: 2)
    let idle = HTTPRouting.State(shuttingDown: false, openWebSockets: 0, hasIndexPage: true)

    func route(
        _ request: HTTPRequest, state: HTTPRouting.State? = nil, routing: HTTPRouting? = nil,
        limits: inout AddressLimits
    ) -> HTTPRoute {
        (routing ?? self.routing).route(request, state: state ?? idle, addresses: &limits, clientKey: "10.0.0.1")
    }

    func route(_ request: HTTPRequest, state: HTTPRouting.State? = nil, routing: HTTPRouting? = nil) -> HTTPRoute {
        var limits = AddressLimits(maxHandshakes: 0, maxWebSockets: 0)
        return route(request, state: state, routing: routing, limits: &limits)
    }

    @Test("each WebSocket path upgrades with the accept value")
    func upgrades() {
        #expect(route(parsedRequest("GET", "/ws?nickname=a", upgradeHeaders)) == .upgrade(.chat, accept: acceptValue))
        #expect(
            route(parsedRequest("GET", "/chat/join?channel=x", upgradeHeaders))
                == .upgrade(.seedJoin, accept: acceptValue))
        #expect(route(parsedRequest("GET", "/echo", upgradeHeaders)) == .upgrade(.echo, accept: acceptValue))
    }

    @Test("/echo is a plain path (the web client's files) unless ECHO_ENABLED")
    func echoOff() {
        let off = HTTPRouting(echoEnabled: false, allowedOrigins: OriginPolicy("")!, connectionLimit: 2)
        #expect(route(parsedRequest("GET", "/echo", upgradeHeaders), routing: off) == .site)
    }

    @Test("the upgrade policy in order: method, shutdown, origin, capacity, headers")
    func policyOrder() {
        let notGet = route(parsedRequest("POST", "/ws", upgradeHeaders))
        #expect(
            notGet == .error(HTTPError(405, "method not allowed"), headers: [HTTPHeader("Allow", "GET")], refusal: nil))
        let stopping = HTTPRouting.State(shuttingDown: true, openWebSockets: 5, hasIndexPage: true)
        #expect(
            route(parsedRequest("GET", "/ws", upgradeHeaders + ["Origin: https://evil.example"]), state: stopping)
                == .error(HTTPError(503, "server is shutting down"), headers: [], refusal: nil))
        let full = HTTPRouting.State(shuttingDown: false, openWebSockets: 2, hasIndexPage: true)
        #expect(
            route(parsedRequest("GET", "/ws", upgradeHeaders + ["Origin: https://evil.example"]), state: full)
                == .error(HTTPError(403, "origin not allowed"), headers: [], refusal: .origin))
        #expect(
            route(parsedRequest("GET", "/ws", upgradeHeaders + ["Origin: https://chat.example"]), state: full)
                == .error(
                    HTTPError(503, "server is at its connection limit, try again later"),
                    headers: [HTTPHeader("Retry-After", "5")], refusal: .capacity))
        // No Origin header (not a browser) passes the origin policy.
        #expect(route(parsedRequest("GET", "/ws", upgradeHeaders)) == .upgrade(.chat, accept: acceptValue))
    }

    @Test("a plain GET on a WebSocket path: 426 with the upgrade headers; a bad upgrade: the handshake's error")
    func notUpgrade() {
        #expect(
            route(parsedRequest("GET", "/ws"))
                == .error(
                    HTTPError(426, "this path speaks WebSocket only"),
                    headers: [
                        HTTPHeader("Upgrade", "websocket"), HTTPHeader("Connection", "Upgrade, close"),
                        HTTPHeader("Sec-WebSocket-Version", "13"),
                    ], refusal: nil))
        let oldVersion = [
            "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 8",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ]
        #expect(
            route(parsedRequest("GET", "/ws", oldVersion))
                == .error(
                    HTTPError(426, "only WebSocket version 13 is supported"),
                    headers: [HTTPHeader("Sec-WebSocket-Version", "13")], refusal: nil))
    }

    @Test("the address's WebSocket limit is taken by an accepted upgrade only, and refuses past it with 429")
    func perAddress() {
        var limits = AddressLimits(maxHandshakes: 0, maxWebSockets: 1)
        // Refused before the address check: the count is not taken.
        _ = route(parsedRequest("GET", "/ws"), limits: &limits)
        #expect(limits.addresses == 0)
        #expect(
            route(parsedRequest("GET", "/ws", upgradeHeaders), limits: &limits) == .upgrade(.chat, accept: acceptValue))
        #expect(limits.addresses == 1)
        #expect(
            route(parsedRequest("GET", "/chat/join", upgradeHeaders), limits: &limits)
                == .error(
                    HTTPError(429, "too many connections from your address"), headers: [HTTPHeader("Retry-After", "5")],
                    refusal: .address))
        limits.webSocketClosed("10.0.0.1")
        #expect(
            route(parsedRequest("GET", "/ws", upgradeHeaders), limits: &limits) == .upgrade(.chat, accept: acceptValue))
    }

    @Test("plain paths: the API, metrics, health, the banner without a web client, the site otherwise")
    func plainPaths() {
        #expect(route(parsedRequest("DELETE", "/api/anything")) == .api)
        #expect(route(parsedRequest("GET", "/metrics")) == .metrics)
        #expect(
            route(parsedRequest("HEAD", "/metrics"))
                == .error(
                    HTTPError(405, "method not allowed"),
                    headers: [HTTPHeader("Allow", "GET")], refusal: nil))
        #expect(route(parsedRequest("GET", "/healthz")) == .health(head: false))
        #expect(route(parsedRequest("HEAD", "/healthz")) == .health(head: true))
        #expect(
            route(parsedRequest("POST", "/healthz"))
                == .error(
                    HTTPError(405, "method not allowed"),
                    headers: [HTTPHeader("Allow", "GET, HEAD")], refusal: nil))
        #expect(route(parsedRequest("GET", "/")) == .site)
        let bare = HTTPRouting.State(shuttingDown: false, openWebSockets: 0, hasIndexPage: false)
        #expect(route(parsedRequest("HEAD", "/"), state: bare) == .banner(head: true))
        #expect(
            route(parsedRequest("PUT", "/"), state: bare)
                == .error(
                    HTTPError(405, "method not allowed"),
                    headers: [HTTPHeader("Allow", "GET, HEAD")], refusal: nil))
        #expect(route(parsedRequest("GET", "/app.js")) == .site)
        // Shutting down still answers plain paths (/healthz says 503 itself).
        let stopping = HTTPRouting.State(shuttingDown: true, openWebSockets: 0, hasIndexPage: true)
        #expect(route(parsedRequest("GET", "/healthz"), state: stopping) == .health(head: false))
    }
}
