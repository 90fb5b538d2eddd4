/// What a WebSocket opened on a chat path starts with, from its query parameters.
/// Refusals come after the upgrade (an `error` event, then close 1008), so that a
/// browser can read why.
public enum ChatEntry: Equatable, Sendable {
    /// `/ws`: a welcome for this nickname.
    case welcome(nickname: String)
    /// `/chat/join`: join the channel as this nickname.
    case join(channel: String, nickname: String, options: JoinOptions)
    case refuse(ErrorCode, String)

    /// `/chat/join`'s entry, and the channel its events name in the seed envelope.
    public struct Seed: Equatable, Sendable {
        /// The channel the seed server's envelope names for every event: the valid
        /// name, or the parameter as given when it is not one.
        public var envelopeChannel: String
        /// The valid channel name: the connection is in that channel's seed group
        /// (broadcasts in its envelope) even when its nickname is then refused.
        public var seedChannel: String?
        /// The valid nickname, when the entry got that far.
        public var nickname: String?
        public var entry: ChatEntry
    }

    /// `/ws?nickname=`.
    public static func chat(_ request: HTTPRequest, folding: NicknameFolding) -> ChatEntry {
        switch Names.nickname(request.queryValue("nickname") ?? "", folding: folding) {
        case .failure(let v): return .refuse(.invalidNickname, v.message)
        case .success(let nickname): return .welcome(nickname: nickname)
        }
    }

    /// `/chat/join?channel=&nickname=&since=|history=&password=`: the channel, then
    /// the nickname, then the join options.
    public static func seedJoin(_ request: HTTPRequest, folding: NicknameFolding) -> Seed {
        let raw = request.queryValue("channel") ?? ""
        let name: String
        switch Names.channel(raw) {
        case .failure(let v):
            return Seed(
                envelopeChannel: raw, seedChannel: nil, nickname: nil, entry: .refuse(.invalidChannel, v.message))
        case .success(let n): name = n
        }
        switch Names.nickname(request.queryValue("nickname") ?? "", folding: folding) {
        case .failure(let v):
            return Seed(
                envelopeChannel: name, seedChannel: name, nickname: nil, entry: .refuse(.invalidNickname, v.message))
        case .success(let nickname):
            let options = JoinOptions.make(
                since: request.queryValue("since"), history: request.queryValue("history"),
                password: request.queryValue("password"))
            switch options {
            case .failure(let v):
                return Seed(
                    envelopeChannel: name, seedChannel: name, nickname: nickname, entry: .refuse(.badRequest, v.message)
                )
            case .success(let o):
                return Seed(
                    envelopeChannel: name, seedChannel: name, nickname: nickname,
                    entry: .join(channel: name, nickname: nickname, options: o))
            }
        }
    }
}
