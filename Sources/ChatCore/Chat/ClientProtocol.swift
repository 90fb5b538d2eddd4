/// A client-chosen correlation value, echoed in the reply to the op that carried it.
public enum Ref: Equatable, Sendable {
    case string(String)
    case integer(Int64)

    func write(to o: inout JSONWriter.ObjectWriter) {
        switch self {
        case .string(let s): o.field("ref", s)
        case .integer(let n): o.field("ref", n)
        }
    }
}

/// What a join asks for besides membership (docs/PROTOCOL.md, "join").
public struct JoinOptions: Equatable, Sendable {
    /// Replay what came after this message id (normalized `ms-seq`; `0-0` = all history).
    public var since: String?
    /// Replay the last N messages.
    public var history: Int?
    /// The channel's password, or the one to protect a new channel with.
    public var password: String?
    public init(since: String? = nil, history: Int? = nil, password: String? = nil) {
        self.since = since
        self.history = history
        self.password = password
    }

    public static let maxPasswordLength = 128

    /// Checks and normalizes join options from query parameters or JSON members.
    public static func make(since: String?, history: String?, password: String?) -> Result<JoinOptions, Names.Violation>
    {
        var options = JoinOptions()
        if let since {
            guard let id = StreamID(since), id < StreamID(milliseconds: .max, sequence: .max) else {
                return .failure(Names.Violation(message: "\"since\" must be a message id like 1700000000000-0"))
            }
            options.since = id.description
        }
        if let history {
            guard let n = Int(history), n >= 0, n <= 1_000_000 else {
                return .failure(Names.Violation(message: "\"history\" must be a number of messages from 0 to 1000000"))
            }
            options.history = n
        }
        if options.since != nil && options.history != nil {
            return .failure(Names.Violation(message: "give either \"since\" or \"history\", not both"))
        }
        if let password {
            if password.isEmpty || password.unicodeScalars.count > maxPasswordLength || password.utf8.contains(0) {
                return .failure(Names.Violation(message: "\"password\" must be 1 to \(maxPasswordLength) characters"))
            }
            options.password = password
        }
        return .success(options)
    }
}

/// What a client asks for (docs/PROTOCOL.md, "Client operations").
public enum ClientOp: Equatable, Sendable {
    case join(channel: String, options: JoinOptions = JoinOptions())
    /// Who is in a channel.
    /// `cursor`: where a page of members starts (from the previous `presence` reply).
    case presence(channel: String, cursor: String? = nil)
    case leave(channel: String)
    /// `channel` is nil for the seed endpoint's `{"message": ...}`: the connection's channel.
    case send(channel: String?, text: String)
    case broadcast(text: String)
    case ping
}

public struct ClientRequest: Equatable, Sendable {
    public var op: ClientOp
    public var ref: Ref?
    public init(op: ClientOp, ref: Ref? = nil) {
        self.op = op
        self.ref = ref
    }
}

extension ClientOp {
    /// The channel the op names, if any.
    public var channel: String? {
        switch self {
        case .join(let channel, _), .presence(let channel, _), .leave(let channel): return channel
        case .send(let channel, _): return channel
        case .broadcast, .ping: return nil
        }
    }
}

/// Machine-readable error codes of `error` events.
public enum ErrorCode: String, Sendable, CaseIterable {
    case badJSON = "bad_json"
    case badRequest = "bad_request"
    case unknownOp = "unknown_op"
    case unsupportedData = "unsupported_data"
    case invalidChannel = "invalid_channel"
    case invalidNickname = "invalid_nickname"
    case emptyMessage = "empty_message"
    case messageTooLong = "message_too_long"
    case notJoined = "not_joined"
    case alreadyJoined = "already_joined"
    case tooManyChannels = "too_many_channels"
    case nicknameTaken = "nickname_taken"
    case wrongPassword = "wrong_password"
    case forbidden = "forbidden"
    case rateLimited = "rate_limited"
    case unavailable = "unavailable"
}

public struct ChatError: Error, Equatable, Sendable {
    public var code: ErrorCode
    public var message: String
    public var channel: String?
    public var ref: Ref?
    public init(_ code: ErrorCode, _ message: String, channel: String? = nil, ref: Ref? = nil) {
        self.code = code
        self.message = message
        self.channel = channel
        self.ref = ref
    }
}

public struct ProtocolLimits: Sendable {
    /// Longest chat message, in Unicode scalars (what people count as characters).
    public var maxMessageLength: Int
    /// Largest chat message as stored: UTF-8, JSON-escaped (a control character is six
    /// bytes there), so that characters cannot be chosen to make a message big.
    public var maxMessageBytes: Int
    public init(maxMessageLength: Int = 2000, maxMessageBytes: Int = 8192) {
        self.maxMessageLength = maxMessageLength
        self.maxMessageBytes = maxMessageBytes
    }

    /// The check every chat message passes (WebSocket ops and the HTTP API alike).
    public func check(_ text: String) -> (ErrorCode, String)? {
        if ClientProtocol.isBlank(text) { return (.emptyMessage, "message is empty") }
        if ClientProtocol.scalarCount(text) > maxMessageLength {
            return (.messageTooLong, "message is longer than \(maxMessageLength) characters")
        }
        if JSONWriter.escapedLength(text) > maxMessageBytes {
            return (
                .messageTooLong,
                "message is larger than \(maxMessageBytes) bytes as stored (control characters count six)"
            )
        }
        return nil
    }
}

/// Parses client text messages into requests. Pure: the connection decides what a
/// valid request does.
public enum ClientProtocol {
    /// Unicode scalars in `s`: UTF-8 bytes that do not continue a sequence.
    static func scalarCount(_ s: String) -> Int {
        var n = 0
        for b in s.utf8 where b & 0xC0 != 0x80 { n += 1 }
        return n
    }

    /// Empty or only whitespace (checked byte-wise while it is ASCII).
    static func isBlank(_ s: String) -> Bool {
        for b in s.utf8 {
            if b >= 0x80 { return s.unicodeScalars.allSatisfy { $0.properties.isWhitespace } }
            if b != 0x20 && !(0x09...0x0D).contains(b) { return false }
        }
        return true
    }

    /// `seedChannel` is the channel of a `/chat/join` connection, whose clients send
    /// `{"message":"text"}` without an op.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer, limits: ProtocolLimits, seedChannel: String?
    ) -> Result<ClientRequest, ChatError> {
        let members: [(key: String, value: JSONValue)]
        do {
            members = try JSONReader.parseObject(bytes)
        } catch {
            return .failure(ChatError(.badJSON, "malformed JSON: \(error.message) at byte \(error.offset)"))
        }
        var op: JSONValue?
        var channel: JSONValue?
        var message: JSONValue?
        var refValue: JSONValue?
        var since: JSONValue?
        var history: JSONValue?
        var password: JSONValue?
        var cursor: JSONValue?
        for (key, value) in members {
            switch key {
            case "op": op = value
            case "channel": channel = value
            case "message": message = value
            case "ref": refValue = value
            case "since": since = value
            case "history": history = value
            case "password": password = value
            case "cursor": cursor = value
            default: break  // unknown members are ignored, for forward compatibility
            }
        }
        var ref: Ref?
        switch refValue {
        case nil: break
        case .string(let s)? where s.utf8.count <= 64: ref = .string(s)
        case .number(let n)? where n == n.rounded() && abs(n) < 9_007_199_254_740_992: ref = .integer(Int64(n))
        default: return .failure(ChatError(.badRequest, "\"ref\" must be a string of at most 64 bytes or an integer"))
        }
        func fail(_ code: ErrorCode, _ message: String, _ channel: String? = nil) -> Result<ClientRequest, ChatError> {
            .failure(ChatError(code, message, channel: channel, ref: ref))
        }
        // The op's channel, when it named a valid one, so that its errors can say which.
        var opChannel: String?
        if case .string(let raw)? = channel, case .success(let name) = Names.channel(raw) { opChannel = name }
        func requireString(_ value: JSONValue?, _ name: String) -> Result<String, ChatError> {
            switch value {
            case .string(let s)?: return .success(s)
            case nil: return .failure(ChatError(.badRequest, "missing \"\(name)\"", channel: opChannel, ref: ref))
            default:
                return .failure(ChatError(.badRequest, "\"\(name)\" must be a string", channel: opChannel, ref: ref))
            }
        }
        func requireChannel() -> Result<String, ChatError> {
            requireString(channel, "channel").flatMap { raw in
                Names.channel(raw).mapError { ChatError(.invalidChannel, $0.message, channel: raw, ref: ref) }
            }
        }
        func requireText(_ channel: String?) -> Result<String, ChatError> {
            requireString(message, "message").flatMap { text in
                if let (code, why) = limits.check(text) {
                    return .failure(ChatError(code, why, channel: channel, ref: ref))
                }
                return .success(text)
            }
        }

        guard let op else {
            if seedChannel != nil, message != nil {
                return requireText(seedChannel).map { ClientRequest(op: .send(channel: nil, text: $0), ref: ref) }
            }
            return fail(.badRequest, "missing \"op\"")
        }
        guard case .string(let name) = op else { return fail(.badRequest, "\"op\" must be a string") }
        switch name {
        case "join":
            return requireChannel().flatMap { name in
                var sinceText: String?
                var historyText: String?
                var passwordText: String?
                switch since {
                case nil, .null?: break
                case .string(let s)?: sinceText = s
                default: return fail(.badRequest, "\"since\" must be a message id string", name)
                }
                switch history {
                case nil, .null?: break
                case .number(let n)? where n == n.rounded() && abs(n) < 1e9: historyText = String(Int(n))
                default: return fail(.badRequest, "\"history\" must be a whole number", name)
                }
                switch password {
                case nil, .null?: break
                case .string(let s)?: passwordText = s
                default: return fail(.badRequest, "\"password\" must be a string", name)
                }
                switch JoinOptions.make(since: sinceText, history: historyText, password: passwordText) {
                case .failure(let why): return fail(.badRequest, why.message, name)
                case .success(let options):
                    return .success(ClientRequest(op: .join(channel: name, options: options), ref: ref))
                }
            }
        case "presence":
            return requireChannel().flatMap { name in
                switch cursor {
                case nil, .null?: return .success(ClientRequest(op: .presence(channel: name), ref: ref))
                case .string(let c)?
                where c.utf8.count <= 20 && c.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) && UInt64(c) != nil:
                    return .success(ClientRequest(op: .presence(channel: name, cursor: c), ref: ref))
                default:
                    return fail(.badRequest, "\"cursor\" must be the cursor string of a previous presence reply", name)
                }
            }
        case "leave":
            return requireChannel().map { ClientRequest(op: .leave(channel: $0), ref: ref) }
        case "send":
            let target: Result<String?, ChatError> =
                channel == nil && seedChannel != nil ? .success(nil) : requireChannel().map { $0 }
            return target.flatMap { ch in
                requireText(ch ?? seedChannel).map { ClientRequest(op: .send(channel: ch, text: $0), ref: ref) }
            }
        case "broadcast":
            return requireText(nil).map { ClientRequest(op: .broadcast(text: $0), ref: ref) }
        case "ping":
            return .success(ClientRequest(op: .ping, ref: ref))
        default:
            return fail(.unknownOp, "unknown op \"\(name)\"")
        }
    }
}
