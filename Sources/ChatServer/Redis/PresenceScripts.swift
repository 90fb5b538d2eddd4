// The presence scripts' typed calls (join.lua, leave.lua, restore.lua, count.lua);
// ChatStore runs them in PresenceStore.swift.

/// `join.lua`: password and nickname checks, the member added, its notice, the
/// member list and the replay, in one step.
struct JoinCall: ScriptCall {
    static let script = LuaScript.join
    var channel: ChannelKeys
    var limits: StreamLimits
    /// The notice's JSON members without `{`, ending in `"count":`.
    var bodyPrefix: [UInt8]
    var noticeLimit: Int
    var request: ChatStore.JoinRequest

    var keys: [[UInt8]] {
        [channel.stream, channel.members, channel.presence, channel.nicknames, channel.meta, request.passwordFailures]
    }

    func addArguments(to args: inout RedisArgs) {
        let j = request
        limits.add(topic: channel.topic, to: &args)
        args.add(bodyPrefix)
        args.add(j.field)
        args.add(j.nickname)
        args.add(noticeLimit)
        args.add(j.folded)
        args.add(j.verifiedHash)
        args.add(j.newPassword)
        switch j.replay {
        case .none:
            args.add("")
            args.add("")
        case .since(let id):
            args.add("s")
            args.add(id)
        case .last(let n):
            args.add("h")
            args.add(n)
        }
        args.add(j.replayLimit)
        args.add(j.listLimit)
        args.add(j.passwordFailureLimit)
        args.add(j.replayBudget)
        args.add(j.knownHash)
        args.add(j.mayCreate ? "1" : "0")
    }

    static func decode(_ reply: RedisValue) -> Result<ChatStore.JoinOutcome, StoreFailure> {
        if reply[0].isString, reply[0].bytes.first == UInt8(ascii: "!") {
            switch reply[0].text {
            case "!pw" where reply.count > 1: return .success(.verify(hash: reply[1].text))
            case "!claim": return .success(.claim)
            case "!new": return .success(.new)
            case "!taken": return .success(.nicknameTaken)
            case "!limited":
                return .success(.passwordLimited(waitMillis: reply.count > 1 ? Int(reply[1].integer) : 1_000))
            default: return .failure(.refused("unexpected script reply \(reply[0].text)"))
            }
        }
        guard reply.count >= 8, reply[0].isString, reply[1].isInteger else { return .failure(unexpected("join")) }
        let appended = ChatStore.Appended(id: reply[0].text, count: Int(reply[1].integer), quiet: reply[2].integer == 1)
        let list = reply[4].isArray ? reply[4].items.map(\.text) : nil
        let replay = HistoryCall.pairs(reply[5]).map { (id: $0.id, body: $0.body) }
        return .success(
            .joined(
                ChatStore.Joined(
                    appended: appended, protected: reply[3].integer == 1, members: list, replay: replay,
                    truncated: reply[6].integer == 1, oldest: reply[7].text)))
    }
}

/// `leave.lua`: a member removed and, if it was there, its notice.
struct LeaveCall: ScriptCall {
    static let script = LuaScript.leave
    var channel: ChannelKeys
    var limits: StreamLimits
    var bodyPrefix: [UInt8]
    var field: String
    var noticeLimit: Int
    /// The nickname's keys, newline-separated.
    var folded: String

    var keys: [[UInt8]] { [channel.stream, channel.members, channel.presence, channel.nicknames, channel.meta] }

    func addArguments(to args: inout RedisArgs) {
        limits.add(topic: channel.topic, to: &args)
        args.add(bodyPrefix)
        args.add(field)
        args.add(noticeLimit)
        args.add(folded)
    }

    struct Left {
        /// `id` empty when nothing was removed.
        var appended: ChatStore.Appended
        var protected: Bool
    }

    /// {id or nil, count, quiet, protected}
    static func decode(_ reply: RedisValue) -> Result<Left, StoreFailure> {
        guard reply.count >= 4, reply[0].isString || reply[0].isNil, reply[1].isInteger else {
            return .failure(unexpected("leave"))
        }
        return .success(
            Left(
                appended: ChatStore.Appended(
                    id: reply[0].text, count: Int(reply[1].integer), quiet: reply[2].integer == 1),
                protected: reply[3].integer == 1))
    }
}

/// `restore.lua`: members written back without notices.
struct RestoreCall: ScriptCall {
    static let script = LuaScript.restore
    var channel: ChannelKeys
    var limits: StreamLimits
    /// The password hash this instance knows the channel by ('' = none).
    var knownHash: String
    var members: [(field: String, nickname: String, folded: String)]

    var keys: [[UInt8]] { [channel.stream, channel.members, channel.presence, channel.nicknames, channel.meta] }

    func addArguments(to args: inout RedisArgs) {
        args.add(limits.ttlMillis)
        args.add(limits.protectedTTLMillis)
        args.add(knownHash)
        for m in members {
            args.add(m.field)
            args.add(m.nickname)
            args.add(m.folded)
        }
    }

    struct Restored: Equatable {
        var count: Int
        /// The password was written back (Redis had lost it).
        var restoredPassword: Bool
        var protected: Bool
    }

    /// {false, count, restored, protected}
    static func decode(_ reply: RedisValue) -> Result<Restored, StoreFailure> {
        guard reply.count >= 4, reply[1].isInteger else { return .failure(unexpected("restore")) }
        return .success(
            Restored(
                count: Int(reply[1].integer), restoredPassword: reply[2].integer == 1, protected: reply[3].integer == 1)
        )
    }
}

/// `count.lua`: the coalesced member count update of a channel with quiet notices.
struct CountCall: ScriptCall {
    static let script = LuaScript.count
    var channel: ChannelKeys
    /// The count event up to its text.
    var eventPrefix: [UInt8]

    var keys: [[UInt8]] { [channel.members, channel.presence] }

    func addArguments(to args: inout RedisArgs) {
        args.add(channel.topic)
        args.add(eventPrefix)
    }

    enum Update: Equatable {
        case published(count: Int)
        /// Nothing changed since the last update.
        case unchanged
        /// Due, but the last went out less than a second ago: ask again.
        case tooSoon
    }

    static func decode(_ reply: RedisValue) -> Result<Update, StoreFailure> {
        guard reply.isArray else { return .failure(unexpected("count")) }
        if reply[1].isInteger { return .success(.published(count: Int(reply[1].integer))) }
        return .success(reply[2].integer == 1 ? .tooSoon : .unchanged)
    }
}
