import ChatCore

/// `publish.lua`: a message (or broadcast) appended to a channel's stream and published.
struct PublishCall: ScriptCall {
    static let script = LuaScript.publish
    var channel: ChannelKeys
    var limits: StreamLimits
    /// The message's JSON members without `{`.
    var body: [UInt8]

    var keys: [[UInt8]] { [channel.stream, channel.members, channel.presence, channel.nicknames, channel.meta] }

    func addArguments(to args: inout RedisArgs) {
        limits.add(topic: channel.topic, to: &args)
        args.add(body)
    }

    /// {id}
    static func decode(_ reply: RedisValue) -> Result<ChatStore.Appended, StoreFailure> {
        guard reply[0].isString else { return .failure(unexpected("publish")) }
        return .success(ChatStore.Appended(id: reply[0].text, count: nil))
    }
}

/// `history.lua`: the HTTP history API's read, bounded in events and bytes.
struct HistoryCall: ScriptCall {
    static let script = LuaScript.history
    enum Direction: Equatable {
        /// After an id, oldest first.
        case since(String)
        /// Before an id, newest first.
        case before(String)
        /// The latest, newest first.
        case latest
    }
    var channel: ChannelKeys
    var direction: Direction
    var limit: Int
    var budget: Int
    /// The caller has the API key (may read a protected channel).
    var keyed: Bool

    var keys: [[UInt8]] { [channel.stream, channel.meta] }

    func addArguments(to args: inout RedisArgs) {
        switch direction {
        case .since(let id):
            args.add("s")
            args.add(id)
        case .before(let id):
            args.add("b")
            args.add(id)
        case .latest:
            args.add("l")
            args.add("")
        }
        args.add(limit)
        args.add(budget)
        args.add(keyed ? "1" : "0")
    }

    enum Page: Equatable {
        /// A protected channel, and no API key: nothing was read.
        case forbidden
        /// (id, body) in reading order; `cut`: the byte budget stopped it short of the limit.
        case entries([Entry], protected: Bool, cut: Bool)
    }

    struct Entry: Equatable {
        var id: String
        var body: [UInt8]
    }

    /// {1} or {protected, {id, body, ...}, cut}
    static func decode(_ reply: RedisValue) -> Result<Page, StoreFailure> {
        if reply.count == 1 { return .success(.forbidden) }
        guard reply.count >= 3, reply[1].isArray else { return .failure(unexpected("history")) }
        return .success(.entries(pairs(reply[1]), protected: reply[0].integer == 1, cut: reply[2].integer == 1))
    }

    /// A flat `{id, body, ...}` list as entries.
    static func pairs(_ list: RedisValue) -> [Entry] {
        let items = list.items
        var out: [Entry] = []
        out.reserveCapacity(items.count / 2)
        var i = 0
        while i + 1 < items.count {
            out.append(Entry(id: items[i].text, body: items[i + 1].bytes))
            i += 2
        }
        return out
    }
}

extension ChatStore {
    struct Appended {
        let id: String
        /// Member count after a join or leave.
        let count: Int?
        /// The notice was quiet (published as a marker only).
        var quiet = false
    }

    /// What the history API reads: nothing of a protected channel for a caller
    /// without the key.
    enum History {
        case forbidden
        /// Events oldest first, as they were published; `cut`: the byte budget stopped
        /// the read short of its limit.
        case events([[UInt8]], protected: Bool, cut: Bool)
    }

    func publish(_ keys: ChannelKeys, body: [UInt8], _ done: @escaping (Result<Appended, StoreFailure>) -> Void) {
        run(PublishCall(channel: keys, limits: streamLimits, body: body), done)
    }

    /// Stored events of a channel, oldest first: after `since`, or before `before`,
    /// or the latest; `limit` and `budget` bytes at most, read in pages inside Redis.
    func history(
        _ keys: ChannelKeys, since: String?, before: String?, limit: Int, budget: Int, keyed: Bool,
        _ done: @escaping (Result<History, StoreFailure>) -> Void
    ) {
        let direction: HistoryCall.Direction = since.map { .since($0) } ?? before.map { .before($0) } ?? .latest
        let oldestFirst = since != nil
        run(HistoryCall(channel: keys, direction: direction, limit: limit, budget: budget, keyed: keyed)) { result in
            done(
                result.map { page in
                    guard case .entries(let entries, let protected, let cut) = page else { return .forbidden }
                    var events: [[UInt8]] = []
                    events.reserveCapacity(entries.count)
                    for entry in oldestFirst ? entries : entries.reversed() {
                        var event: [UInt8] = []
                        entry.body.withUnsafeBytes {
                            ServerEvents.stored(id: entry.id, body: $0, replay: false, to: &event)
                        }
                        events.append(event)
                    }
                    return .events(events, protected: protected, cut: cut)
                })
        }
    }
}
