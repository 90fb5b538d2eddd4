/// An HTTP API error answer: `{"error": code, "message": text}` with this status.
public struct APIError: Error, Equatable, Sendable {
    public var status: Int
    public var code: String
    public var message: String
    public var headers: [HTTPHeader]

    public init(_ status: Int, _ code: String, _ message: String, headers: [HTTPHeader] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    /// Chat storage is unavailable (a Redis error or no connection).
    public static let unavailable = APIError(
        503, "unavailable", "chat storage is unavailable, try again shortly",
        headers: [HTTPHeader("Retry-After", "1")])
}

/// An HTTP API operation, its channel name valid.
public enum APIOperation: Equatable, Sendable {
    /// `GET /api/channels`.
    case listChannels
    /// `GET /api/channels/NAME/members`.
    case members(channel: String)
    /// `GET /api/channels/NAME/history`.
    case history(channel: String)
    /// `PUT /api/channels/NAME` (API key).
    case setPassword(channel: String)
    /// `POST /api/publish` (API key).
    case publish
    /// `POST /api/broadcast` (API key).
    case broadcast
}

/// The HTTP API's routing and authorization (docs/PROTOCOL.md, "HTTP API"): reads for
/// anyone, writes with `Authorization: Bearer API_KEY`; API_RATE_LIMIT requests a
/// second per client address for callers without the key. Pure: the rate buckets and
/// the Redis link's congestion come in as arguments.
public struct APIRouting: Sendable {
    /// API_KEY; empty: the write API is off.
    public var apiKey: String
    /// API_RATE_LIMIT per address for callers without the key; 0: none.
    public var rateLimit: Double

    public init(apiKey: String, rateLimit: Double) {
        self.apiKey = apiKey
        self.rateLimit = rateLimit
    }

    /// Whether the request carries the API key (compared in constant time).
    public func hasKey(_ request: HTTPRequest) -> Bool {
        guard !apiKey.isEmpty, let header = request.header("authorization") else { return false }
        let scheme = "bearer "
        guard header.count > scheme.count, header.prefix(scheme.count).lowercased() == scheme else { return false }
        let given = Array(header.dropFirst(scheme.count).utf8)
        let wanted = Array(apiKey.utf8)
        guard given.count == wanted.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<given.count { diff |= given[i] ^ wanted[i] }  // constant time
        return diff == 0
    }

    /// The operation `request` asks for, or the error it gets: rate limit (a token of
    /// `clientKey`'s bucket is taken for a caller without the key), backpressure
    /// (`congested`: nothing more for Redis until it catches up), path and method, the
    /// API key for writes, the channel name.
    public func route(
        _ request: HTTPRequest, congested: Bool, buckets: inout AddressBuckets, clientKey: String,
        now: UInt64
    ) -> Result<APIOperation, APIError> {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst(2).map(String.init)
        if rateLimit > 0, !hasKey(request), !buckets.take(clientKey, now: now) {
            return .failure(
                APIError(
                    429, "rate_limited", "too many API requests from your address: at most \(rateLimit) a second",
                    headers: [HTTPHeader("Retry-After", "1")]))
        }
        if congested {
            return .failure(
                APIError(
                    503, "busy", "the server is catching up with chat storage, try again shortly",
                    headers: [HTTPHeader("Retry-After", "1")]))
        }
        switch (request.method, parts.count, parts.first) {
        case ("GET", 1, "channels"):
            return .success(.listChannels)
        case ("GET", 3, "channels") where parts[2] == "members":
            return Self.channel(parts[1]).map { .members(channel: $0) }
        case ("GET", 3, "channels") where parts[2] == "history":
            return Self.channel(parts[1]).map { .history(channel: $0) }
        case ("PUT", 2, "channels"):
            return authorize(request).flatMap { Self.channel(parts[1]) }.map { .setPassword(channel: $0) }
        case ("POST", 1, "publish"):
            return authorize(request).map { .publish }
        case ("POST", 1, "broadcast"):
            return authorize(request).map { .broadcast }
        case (_, 1, "channels"), (_, 3, "channels"):
            return .failure(Self.methodNotAllowed("GET"))
        case (_, 2, "channels"):
            return .failure(Self.methodNotAllowed("PUT"))
        case (_, 1, "publish"), (_, 1, "broadcast"):
            return .failure(Self.methodNotAllowed("POST"))
        default:
            return .failure(APIError(404, "not_found", "no such API path: \(request.path)"))
        }
    }

    /// The write API's key check: 401 without it, 403 when the server has none.
    func authorize(_ request: HTTPRequest) -> Result<Void, APIError> {
        if hasKey(request) { return .success(()) }
        if apiKey.isEmpty {
            return .failure(APIError(403, "api_disabled", "this server has no API_KEY: the write API is off"))
        }
        return .failure(
            APIError(
                401, "unauthorized", "send Authorization: Bearer <API_KEY>",
                headers: [HTTPHeader("WWW-Authenticate", "Bearer")]))
    }

    static func channel(_ raw: String) -> Result<String, APIError> {
        Names.channel(raw).mapError { APIError(400, "invalid_channel", $0.message) }
    }

    static func methodNotAllowed(_ method: String) -> APIError {
        APIError(405, "method_not_allowed", "use \(method)", headers: [HTTPHeader("Allow", method)])
    }
}
