import Testing

@testable import ChatCore

@Suite("Chat entry: what a chat WebSocket starts with")
struct ChatEntryTests {
    let folding = NicknameFolding(skeleton: { $0 })

    @Test("/ws: a welcome for a valid nickname, a refusal (invalid_nickname) otherwise")
    func chat() {
        #expect(
            ChatEntry.chat(parsedRequest("GET", "/ws?nickname=%20alice%20"), folding: folding)
                == .welcome(nickname: "alice"))
        guard case .refuse(let code, _) = ChatEntry.chat(parsedRequest("GET", "/ws"), folding: folding) else {
            Issue.record("no nickname was accepted")
            return
        }
        #expect(code == .invalidNickname)
        guard
            case .refuse(let reserved, let message) = ChatEntry.chat(
                parsedRequest("GET", "/ws?nickname=System"), folding: folding)
        else {
            Issue.record("a reserved nickname was accepted")
            return
        }
        #expect(reserved == .invalidNickname && message.contains("reserved"))
    }

    @Test("/chat/join: the channel, then the nickname, then the options; the envelope names the channel as given")
    func seedJoin() {
        let ok = ChatEntry.seedJoin(
            parsedRequest("GET", "/chat/join?channel=general&nickname=bob&history=5"), folding: folding)
        #expect(
            ok
                == ChatEntry.Seed(
                    envelopeChannel: "general", seedChannel: "general", nickname: "bob",
                    entry: .join(channel: "general", nickname: "bob", options: JoinOptions(history: 5))))
        let badChannel = ChatEntry.seedJoin(parsedRequest("GET", "/chat/join?channel=%20&nickname="), folding: folding)
        #expect(badChannel.envelopeChannel == " " && badChannel.seedChannel == nil && badChannel.nickname == nil)
        guard case .refuse(.invalidChannel, _) = badChannel.entry else {
            Issue.record("an empty channel was accepted")
            return
        }
        // A valid channel with a bad nickname: still in the channel's seed group (its
        // refusal in that channel's envelope), no nickname.
        let badNick = ChatEntry.seedJoin(
            parsedRequest("GET", "/chat/join?channel=general&nickname=%20"), folding: folding)
        #expect(badNick.seedChannel == "general" && badNick.nickname == nil)
        guard case .refuse(.invalidNickname, _) = badNick.entry else {
            Issue.record("an empty nickname was accepted")
            return
        }
        let badOptions = ChatEntry.seedJoin(
            parsedRequest("GET", "/chat/join?channel=general&nickname=bob&since=1-0&history=2"),
            folding: folding)
        #expect(badOptions.nickname == "bob")
        #expect(badOptions.entry == .refuse(.badRequest, "give either \"since\" or \"history\", not both"))
    }
}
