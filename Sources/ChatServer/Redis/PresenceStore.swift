import ChatCore

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
