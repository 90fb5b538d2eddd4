/// `claim.lua`: the cleanup after a dead instance taken, unless it is alive again.
struct ClaimCall: ScriptCall {
    static let script = LuaScript.claim
    var keyspace: Keyspace
    var dead: String
    /// The cleaning instance.
    var by: String

    var keys: [[UInt8]] { [keyspace.alive(dead), keyspace.reaper(dead), keyspace.reaped(dead)] }
    func addArguments(to args: inout RedisArgs) { args.add(by) }

    /// 1 claimed, 0 not.
    static func decode(_ reply: RedisValue) -> Result<Bool, StoreFailure> {
        guard reply.isInteger else { return .failure(unexpected("claim")) }
        return .success(reply.integer == 1)
    }
}

/// `finish.lua`: a dead instance unregistered once its members are gone (unless it
/// came back), and its cleanup lock released.
struct FinishCall: ScriptCall {
    static let script = LuaScript.finish
    var keyspace: Keyspace
    var dead: String

    var keys: [[UInt8]] {
        [
            keyspace.alive(dead), keyspace.instances, keyspace.memberships(dead), keyspace.reaped(dead),
            keyspace.reaper(dead),
        ]
    }
    func addArguments(to args: inout RedisArgs) { args.add(dead) }
    static func decode(_ reply: RedisValue) -> Result<Void, StoreFailure> { .success(()) }
}

/// The keys that are not a channel's: the channel directories and the instance
/// registry. They are written here, by plain commands next to the per-channel
/// scripts (never inside them), so that every script's keys share one hash slot.
extension ChatStore {
    /// Lists a channel in the directory that matches its settings with its member
    /// count (and out of the other), or out of both when it has no members: after
    /// every join, leave, restore and password change, from the script's reply. The
    /// directories hold channels with members only, so they stay as big as the
    /// channels in use. Replies of two instances can reach Redis in the other order
    /// than their scripts ran: a leave only updates an entry that is there
    /// (`updateOnly`, ZADD XX), so the reply of a leave that left members behind
    /// cannot bring back the entry the last leave removed; `repairDirectory` fixes the
    /// counts such crossings leave stale.
    func list(_ channel: String, count: Int, protected: Bool, updateOnly: Bool = false) {
        for words in Self.listing(channel, count: count, protected: protected, updateOnly: updateOnly, in: global) {
            command(words) { _ in }
        }
    }

    /// The commands of `list` (each one command's words).
    static func listing(
        _ channel: String, count: Int, protected: Bool, updateOnly: Bool, in keyspace: Keyspace
    )
        -> [[[UInt8]]]
    {
        let name = Array(channel.utf8)
        let (listed, other) =
            protected
            ? (keyspace.protectedChannels, keyspace.channels) : (keyspace.channels, keyspace.protectedChannels)
        let out = [Array("ZREM".utf8), other, name]
        if count == 0 { return [out, [Array("ZREM".utf8), listed, name]] }
        let add =
            updateOnly
            ? [Array("ZADD".utf8), listed, Array("XX".utf8), Array(String(count).utf8), name]
            : [Array("ZADD".utf8), listed, Array(String(count).utf8), name]
        return [out, add]
    }

    /// Checks a few random directory entries against their channels (member count,
    /// password) and corrects them: a stale count, an entry of a channel nobody is in,
    /// a channel listed in the wrong directory. It never lists a channel that is not
    /// listed (its reads may be older than a leave's removal). Called once a second;
    /// `sample` entries of each directory a call.
    func repairDirectory(sample: Int = 10) {
        guard link.canSend else { return }
        for (directory, isProtected) in [(global.channels, false), (global.protectedChannels, true)] {
            command([Array("ZRANDMEMBER".utf8), directory, Array(String(sample).utf8)]) { [unowned self] result in
                guard case .success(let reply) = result else { return }
                for item in reply.items {
                    let name = item.text
                    let keys = self.global.channel(name)
                    var count = 0
                    self.command([Array("HLEN".utf8), keys.members]) { result in
                        if case .success(let r) = result { count = Int(r.integer) }
                    }
                    self.command([Array("HEXISTS".utf8), keys.meta, Array("pw".utf8)]) { [unowned self] result in
                        guard case .success(let r) = result else { return }
                        let protected = r.integer == 1
                        // In the wrong directory: moved (the one place this adds an entry).
                        self.list(name, count: count, protected: protected, updateOnly: protected == isProtected)
                    }
                }
            }
        }
    }

    /// Unless the dead-looking instance is alive again, takes its cleanup (claim.lua).
    func claimCleanup(of dead: String, _ done: @escaping (Bool) -> Void) {
        run(ClaimCall(keyspace: global, dead: dead, by: instance)) { result in
            if case .success(true) = result { done(true) } else { done(false) }
        }
    }

    /// Ends the cleanup after a dead instance whose members are all removed (finish.lua).
    func finishCleanup(of dead: String) {
        run(FinishCall(keyspace: global, dead: dead)) { _ in }
    }
}
