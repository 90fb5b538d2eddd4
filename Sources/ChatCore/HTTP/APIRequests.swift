/// The HTTP API's request validation: query parameters and JSON bodies in, checked
/// values or the error answer out.
public enum APIRequests {
    /// `limit` (default `def`, 1…`max`).
    public static func limit(_ request: HTTPRequest, default def: Int, max: Int) -> Result<Int, APIError> {
        guard let text = request.queryValue("limit") else { return .success(def) }
        guard let n = Int(text), n >= 1, n <= max else {
            return .failure(APIError(400, "bad_request", "limit must be from 1 to \(max)"))
        }
        return .success(n)
    }

    /// `GET /api/channels?limit=N`: N from 1 to 10000 (100).
    public static func channelList(_ request: HTTPRequest) -> Result<Int, APIError> {
        limit(request, default: 100, max: 10_000)
    }

    public struct MembersQuery: Equatable, Sendable {
        public var limit: Int
        /// The HSCAN cursor of a previous answer ("0": the first page).
        public var cursor: String
    }

    /// `GET /api/channels/NAME/members?limit=N&cursor=C`: N from 1 to 1000 (1000); C
    /// decimal digits of a 64-bit unsigned number (what Redis's HSCAN takes).
    public static func members(_ request: HTTPRequest) -> Result<MembersQuery, APIError> {
        limit(request, default: 1_000, max: 1_000).flatMap { limit in
            let cursor = request.queryValue("cursor") ?? "0"
            guard cursor.utf8.count <= 20, cursor.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), UInt64(cursor) != nil
            else {
                return .failure(APIError(400, "bad_request", "cursor must be the cursor of a previous answer"))
            }
            return .success(MembersQuery(limit: limit, cursor: cursor))
        }
    }

    public struct HistoryQuery: Equatable, Sendable {
        public var limit: Int
        public var since: StreamID?
        public var before: StreamID?
    }

    /// `GET /api/channels/NAME/history?since=ID|before=ID&limit=N`: N from 1 to 1000
    /// (100); since or before, not both; ids like `1700000000000-0`, `since` below the
    /// largest and `before` above 0-0 (either would read nothing).
    public static func history(_ request: HTTPRequest) -> Result<HistoryQuery, APIError> {
        limit(request, default: 100, max: 1_000).flatMap { limit in
            let since = request.queryValue("since")
            let before = request.queryValue("before")
            if since != nil && before != nil {
                return .failure(APIError(400, "bad_request", "give since or before, not both"))
            }
            let sinceID = since.flatMap { StreamID($0) }
            let beforeID = before.flatMap { StreamID($0) }
            if (since != nil && sinceID == nil) || (before != nil && beforeID == nil)
                || sinceID == StreamID(milliseconds: .max, sequence: .max)
                || beforeID == StreamID(milliseconds: 0, sequence: 0)
            {
                return .failure(
                    APIError(
                        400, "bad_request",
                        "since and before must be message ids like 1700000000000-0 (before above 0-0)"))
            }
            return .success(HistoryQuery(limit: limit, since: sinceID, before: beforeID))
        }
    }

    /// The body's members; a repeated one counts with its last value, as in the
    /// WebSocket protocol. Text that is not UTF-8 is refused (WebSocket frames are
    /// checked for it already; an HTTP body is not).
    public static func body(_ body: [UInt8]) -> Result<[String: JSONValue], APIError> {
        guard body.withUnsafeBytes({ UTF8Validator.isValid($0) }) else {
            return .failure(APIError(400, "bad_json", "the body is not valid UTF-8"))
        }
        do {
            let members = try JSONReader.parseObject(body)
            var fields: [String: JSONValue] = [:]
            for (key, value) in members { fields[key] = value }
            return .success(fields)
        } catch {
            return .failure(
                APIError(400, "bad_json", "the body must be a JSON object: \(error.message) at byte \(error.offset)"))
        }
    }

    public struct Publish: Equatable, Sendable {
        public var text: String
        /// `System` unless the body names a sender (which may be a reserved name).
        public var sender: String
        /// nil for a broadcast.
        public var channel: String?
    }

    /// `POST /api/publish {"channel","message","sender"?}` and `POST /api/broadcast
    /// {"message","sender"?}`: the message within the chat's limits, the sender a
    /// nickname by its syntax (the backend may sign as a reserved name), the channel
    /// a valid name.
    public static func publish(_ body: [UInt8], toEveryone: Bool, limits: ProtocolLimits) -> Result<Publish, APIError> {
        let fields: [String: JSONValue]
        switch self.body(body) {
        case .failure(let error): return .failure(error)
        case .success(let f): fields = f
        }
        guard case .string(let text)? = fields["message"] else {
            return .failure(APIError(400, "bad_request", "\"message\" must be a string"))
        }
        if let (code, why) = limits.check(text) { return .failure(APIError(400, code.rawValue, why)) }
        var sender = "System"
        switch fields["sender"] {
        case nil, .null?: break
        case .string(let s)?:
            let trimmed = s.trimmingWhitespace()
            if case .failure(let v) = Names.nicknameSyntax(trimmed) {
                return .failure(APIError(400, "invalid_nickname", v.message))
            }
            sender = trimmed
        default: return .failure(APIError(400, "bad_request", "\"sender\" must be a string"))
        }
        if toEveryone { return .success(Publish(text: text, sender: sender, channel: nil)) }
        guard case .string(let raw)? = fields["channel"] else {
            return .failure(APIError(400, "bad_request", "\"channel\" must be a string"))
        }
        guard case .success(let name) = Names.channel(raw) else {
            return .failure(APIError(400, "invalid_channel", "invalid channel name"))
        }
        return .success(Publish(text: text, sender: sender, channel: name))
    }

    /// `PUT /api/channels/NAME {"password": "..." | null}`: the new password (1 to
    /// `JoinOptions.maxPasswordLength` characters, no NUL), or nil to open the channel.
    public static func password(_ body: [UInt8]) -> Result<String?, APIError> {
        self.body(body).flatMap { fields in
            switch fields["password"] {
            case .null?:
                return .success(nil)
            case .string(let password)?
            where !password.isEmpty && password.unicodeScalars.count <= JoinOptions.maxPasswordLength
                && !password.utf8.contains(0):
                return .success(password)
            default:
                return .failure(
                    APIError(
                        400, "bad_request",
                        "\"password\" must be a string of 1 to \(JoinOptions.maxPasswordLength) characters, or null"))
            }
        }
    }
}
