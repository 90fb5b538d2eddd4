/// One response header, as a decision carries it.
public struct HTTPHeader: Equatable, Sendable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A WebSocket endpoint, by path.
public enum WebSocketPath: Equatable, Sendable {
    /// `/ws?nickname=`: the multi-channel JSON protocol.
    case chat
    /// `/chat/join?channel=&nickname=`: the seed server's one-channel contract.
    case seedJoin
    /// `/echo` (ECHO_ENABLED): the conformance suite's target.
    case echo
}

/// Which limit refused an upgrade (counted and logged by the server).
public enum UpgradeRefusal: Equatable, Sendable {
    /// ALLOWED_ORIGINS.
    case origin
    /// MAX_CONNECTIONS open WebSockets.
    case capacity
    /// MAX_CONNECTIONS_PER_ADDRESS.
    case address
}

/// What an HTTP request gets.
public enum HTTPRoute: Equatable, Sendable {
    /// `/api/…`: the HTTP API (`APIRouting`).
    case api
    /// Answer 101 and open a WebSocket; the address's WebSocket count is taken.
    case upgrade(WebSocketPath, accept: String)
    /// `GET /metrics`.
    case metrics
    /// `GET|HEAD /healthz`.
    case health(head: Bool)
    /// `GET|HEAD /` with no web client: a line saying where to connect.
    case banner(head: Bool)
    /// The web client's files (404 for a path it does not have).
    case site
    /// A plain error answer; `refusal` when an upgrade limit refused the request.
    case error(HTTPError, headers: [HTTPHeader], refusal: UpgradeRefusal?)
}

/// Routing and the upgrade policy: paths, methods, the Origin policy, the upgrade
/// headers (`WebSocketHandshake`), shutdown, the connection limit and the per-address
/// WebSocket limit. Pure: the server's state comes in as arguments.
public struct HTTPRouting: Sendable {
    public var echoEnabled: Bool
    public var allowedOrigins: OriginPolicy
    /// MAX_CONNECTIONS (or the automatic limit).
    public var connectionLimit: Int

    public init(echoEnabled: Bool, allowedOrigins: OriginPolicy, connectionLimit: Int) {
        self.echoEnabled = echoEnabled
        self.allowedOrigins = allowedOrigins
        self.connectionLimit = connectionLimit
    }

    /// The server's state a decision depends on.
    public struct State: Sendable {
        public var shuttingDown: Bool
        public var openWebSockets: Int
        /// The web client has an index page (it answers `/` then).
        public var hasIndexPage: Bool

        public init(shuttingDown: Bool, openWebSockets: Int, hasIndexPage: Bool) {
            self.shuttingDown = shuttingDown
            self.openWebSockets = openWebSockets
            self.hasIndexPage = hasIndexPage
        }
    }

    /// The plain-text answer at `/` when there is no web client.
    public static let banner =
        "chat-server: WebSocket chat. Connect to /ws?nickname=NAME (see docs/PROTOCOL.md) "
        + "or /chat/join?channel=NAME&nickname=NAME. (No web client: WEB_ROOT has no index.html.)\n"

    /// Decides what `request` gets. An accepted upgrade takes the client address's
    /// WebSocket count in `addresses` (`clientKey`, see `AddressBuckets.key`); nothing
    /// else changes it.
    public func route(
        _ request: HTTPRequest, state: State, addresses: inout AddressLimits, clientKey: String
    ) -> HTTPRoute {
        if request.path.hasPrefix("/api/") { return .api }
        switch request.path {
        case "/ws":
            return upgrade(.chat, request, state: state, addresses: &addresses, clientKey: clientKey)
        case "/chat/join":
            return upgrade(.seedJoin, request, state: state, addresses: &addresses, clientKey: clientKey)
        case "/echo" where echoEnabled:
            return upgrade(.echo, request, state: state, addresses: &addresses, clientKey: clientKey)
        case "/metrics":
            guard request.method == "GET" else { return Self.methodNotAllowed("GET") }
            return .metrics
        case "/healthz":
            guard request.method == "GET" || request.method == "HEAD" else { return Self.methodNotAllowed("GET, HEAD") }
            return .health(head: request.method == "HEAD")
        case "/" where !state.hasIndexPage:
            guard request.method == "GET" || request.method == "HEAD" else { return Self.methodNotAllowed("GET, HEAD") }
            return .banner(head: request.method == "HEAD")
        default:
            return .site
        }
    }

    /// The upgrade policy, in order: method, shutdown, origin, capacity, the handshake
    /// headers, then the address's limit (last: only a request that would open takes it).
    private func upgrade(
        _ path: WebSocketPath, _ request: HTTPRequest, state: State,
        addresses: inout AddressLimits, clientKey: String
    ) -> HTTPRoute {
        guard request.method == "GET" else { return Self.methodNotAllowed("GET") }
        if state.shuttingDown { return .error(HTTPError(503, "server is shutting down"), headers: [], refusal: nil) }
        if !allowedOrigins.allows(request.header("origin")) {
            return .error(HTTPError(403, "origin not allowed"), headers: [], refusal: .origin)
        }
        if state.openWebSockets >= connectionLimit {
            return .error(
                HTTPError(503, "server is at its connection limit, try again later"),
                headers: [HTTPHeader("Retry-After", "5")], refusal: .capacity)
        }
        switch WebSocketHandshake.evaluate(request) {
        case .notUpgrade:
            return .error(
                HTTPError(426, "this path speaks WebSocket only"),
                headers: [
                    HTTPHeader("Upgrade", "websocket"), HTTPHeader("Connection", "Upgrade, close"),
                    HTTPHeader("Sec-WebSocket-Version", "13"),
                ], refusal: nil)
        case .reject(let error, let lines):
            return .error(
                error,
                headers: lines.map { line in
                    let parts = line.split(separator: ":", maxSplits: 1)
                    return HTTPHeader(String(parts[0]), String(parts[1].dropFirst()))
                }, refusal: nil)
        case .accept(let accept):
            guard addresses.admitWebSocket(clientKey) else {
                return .error(
                    HTTPError(429, "too many connections from your address"),
                    headers: [HTTPHeader("Retry-After", "5")], refusal: .address)
            }
            return .upgrade(path, accept: accept)
        }
    }

    static func methodNotAllowed(_ allow: String) -> HTTPRoute {
        .error(HTTPError(405, "method not allowed"), headers: [HTTPHeader("Allow", allow)], refusal: nil)
    }
}
