import ChatCore

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

/// One member as the instance's membership set records it, for cleaning up after
/// the instance if it dies.
struct MemberEntry: Equatable {
    let field: String
    let channel: String
    let nickname: String

    var encoded: String { "\(field)\n\(channel)\n\(nickname)" }

    init(field: String, channel: String, nickname: String) {
        self.field = field
        self.channel = channel
        self.nickname = nickname
    }

    init?(_ text: String) {
        let parts = text.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        field = String(parts[0])
        channel = String(parts[1])
        nickname = String(parts[2])
    }
}

extension ChatStore {
    /// What a join asks for besides joining.
    struct JoinRequest {
        var field: String
        var nickname: String
        var folded: String
        /// The membership entry (`MemberEntry.encoded`) for this instance's set.
        var entry: String
        var channel: String
        /// The stored password hash the caller verified the client's password against.
        var verifiedHash = ""
        /// '' none, '?' given but not hashed, else the new hash.
        var newPassword = ""
        /// The joiner's address's wrong-password counter, and how many a minute it allows.
        var passwordFailures: [UInt8] = []
        var passwordFailureLimit = 0
        var replay: Replay = .none
        var replayLimit = 0
        /// Bytes of replayed events at most (read in pages inside Redis).
        var replayBudget = 0
        /// The password hash this instance knows the channel by (fail closed).
        var knownHash = ""
        /// The join may create the channel (counted against the address's allowance).
        var mayCreate = false
        var listLimit = 0
    }

    enum Replay: Equatable {
        case none
        case since(String)
        case last(Int)
    }

    enum JoinOutcome {
        case joined(Joined)
        case verify(hash: String)
        case claim
        case nicknameTaken
        /// Too many wrong passwords for the channel from this address, on any instance.
        case passwordLimited(waitMillis: Int)
        /// The channel does not exist: the caller counts its creation and asks again.
        case new

        var isJoined: Bool {
            if case .joined = self { return true }
            return false
        }
    }

    struct Joined {
        var appended: Appended
        var protected: Bool
        var members: [String]?
        /// (id, body) in order; bodies lack `{"id":…,"ts":…,`.
        var replay: [(id: String, body: [UInt8])]
        var truncated: Bool
        var oldest: String
    }

    /// A member joins (see join.lua). Its entry goes into this instance's membership
    /// set first (pipelined in front of the script: a member Redis has is always one
    /// the cleanup after a dead instance finds), and out again if the join is refused;
    /// a join lists the channel in the directory.
    func join(
        _ keys: ChannelKeys, _ j: JoinRequest, bodyPrefix: [UInt8],
        _ done: @escaping (Result<JoinOutcome, StoreFailure>) -> Void
    ) {
        guard link.isReady else { return done(.failure(.unavailable(sent: false))) }
        let memberships = global.memberships(instance)
        command(Array("SADD".utf8), memberships, Array(j.entry.utf8))
        run(JoinCall(channel: keys, limits: streamLimits, bodyPrefix: bodyPrefix, noticeLimit: noticeLimit, request: j))
        { [unowned self] result in
            if case .success(.joined(let joined)) = result {
                self.list(j.channel, count: joined.appended.count ?? 0, protected: joined.protected)
            } else if case .unavailable = result.failure {
                // The set is this instance's: a stale entry costs the cleanup one leave that finds nothing.
            } else {
                self.command(Array("SREM".utf8), memberships, Array(j.entry.utf8))
            }
            done(result)
        }
    }

    /// A member leaves (`ofDeadInstance`: removed by the cleanup after a dead
    /// instance). On success `id` is empty when the member was not in the hash
    /// (nothing published): a removal that finds nothing is how failed or uncertain
    /// updates are safely redone. Whatever Redis answered, the entry leaves the
    /// instance's membership set, and the directory gets the new count.
    func leave(
        _ keys: ChannelKeys, _ entry: MemberEntry, folded: String, instance: String, ofDeadInstance: Bool = false,
        _ done: @escaping (Result<Appended, StoreFailure>) -> Void
    ) {
        let call = LeaveCall(
            channel: keys, limits: streamLimits,
            bodyPrefix: ServerEvents.presenceBodyPrefix(
                joined: false, channel: entry.channel, nickname: entry.nickname),
            field: entry.field, noticeLimit: noticeLimit, folded: folded)
        run(call) { [unowned self] result in
            if case .success(let left) = result {
                self.command(Array("SREM".utf8), self.global.memberships(instance), Array(entry.encoded.utf8))
                self.list(entry.channel, count: left.appended.count ?? 0, protected: left.protected, updateOnly: true)
            }
            done(result.map(\.appended))
        }
    }

    /// Writes members back (no notices): after a reconnect, in case Redis lost them.
    /// A channel this instance knows as protected (`passwordHash`) gets its password
    /// back if Redis lost the channel's settings: `restoredPassword` is then called.
    func restoreMembers(
        _ keys: ChannelKeys, channel: String, passwordHash: String, _ members: [(entry: MemberEntry, folded: String)],
        instance: String, restoredPassword: @escaping () -> Void
    ) {
        guard link.isReady, !members.isEmpty else { return }
        command([Array("SADD".utf8), global.memberships(instance)] + members.map { Array($0.entry.encoded.utf8) }) {
            _ in
        }
        let call = RestoreCall(
            channel: keys, limits: streamLimits, knownHash: passwordHash,
            members: members.map { ($0.entry.field, $0.entry.nickname, $0.folded) })
        run(call) { [unowned self] result in
            guard case .success(let restored) = result else { return }
            self.list(channel, count: restored.count, protected: restored.protected)
            if restored.restoredPassword { restoredPassword() }
        }
    }

    /// Publishes the channel's member count if a quiet join or leave changed it since
    /// the last update (whichever instance asks first does it). `later` is called when
    /// an update is due but the last went out less than a second ago, or when the
    /// script did not run: ask again.
    func publishCount(_ keys: ChannelKeys, eventPrefix: [UInt8], later: @escaping () -> Void) {
        guard link.isReady else { return later() }
        run(CountCall(channel: keys, eventPrefix: eventPrefix)) { result in
            switch result {
            case .success(.tooSoon), .failure: later()
            case .success: break
            }
        }
    }

    struct MemberPage {
        var protected: Bool
        /// Members in all.
        var count: Int
        /// One page of nicknames, in the hash's order.
        var members: [String]
        /// Where the next page starts; nil after the last.
        var next: String?

        /// The page sorted for display. HSCAN's count is a hint: a page with a next one
        /// is given whole (cutting it would lose names); the last page (a small hash
        /// comes whole in one) is cut to `limit`.
        func trimmed(to limit: Int) -> [String] {
            let sorted = Names.sortedForDisplay(members)
            return next == nil ? Array(sorted.prefix(limit)) : sorted
        }
    }

    /// Whether a channel has a password, its member count, and one page of its
    /// members' nicknames from `cursor` (HSCAN: about `pageSize` of them, never the
    /// whole hash), in three pipelined reads.
    func memberPage(
        _ keys: ChannelKeys, cursor: String, pageSize: Int, _ done: @escaping (Result<MemberPage, StoreFailure>) -> Void
    ) {
        var protected = false
        var count = 0
        command([Array("HGET".utf8), keys.meta, Array("pw".utf8)]) { result in
            if case .success(let reply) = result { protected = reply.isString && reply.bytes.count > 0 }
        }
        command([Array("HLEN".utf8), keys.members]) { result in
            if case .success(let reply) = result { count = Int(reply.integer) }
        }
        command([
            Array("HSCAN".utf8), keys.members, Array(cursor.utf8), Array("COUNT".utf8),
            Array(String(max(pageSize, 1)).utf8),
        ]) { result in
            done(
                result.flatMap { reply in
                    guard reply.count == 2 else { return .failure(.refused("unexpected HSCAN reply")) }
                    let pairs = reply[1].items
                    let next = reply[0].text
                    let names = stride(from: 1, to: pairs.count, by: 2).map { pairs[$0].text }
                    return .success(
                        MemberPage(protected: protected, count: count, members: names, next: next == "0" ? nil : next))
                })
        }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let f) = self { return f }
        return nil
    }
}
