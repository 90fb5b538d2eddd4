/// The WebSocket endpoint a connection upgraded on.
enum Endpoint {
    /// `/echo`: echoes every message (the conformance suite's target).
    case echo
    /// `/chat/join?channel=&nickname=`: the seed's one-channel contract.
    case seed(channel: String)
    /// `/ws?nickname=`: the multi-channel JSON protocol.
    case multi

    var isChat: Bool {
        if case .echo = self { return false }
        return true
    }
}
