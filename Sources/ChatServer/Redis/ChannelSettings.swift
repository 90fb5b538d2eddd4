/// `password.lua`: a channel's password set (a crypt hash) or removed.
struct PasswordCall: ScriptCall {
    static let script = LuaScript.password
    var channel: ChannelKeys
    /// '' removes the password.
    var hash: String
    var ttlMillis: Int
    var protectedTTLMillis: Int

    var keys: [[UInt8]] { [channel.meta, channel.members] }

    func addArguments(to args: inout RedisArgs) {
        args.add(hash)
        args.add(ttlMillis)
        args.add(protectedTTLMillis)
    }

    struct Set: Equatable {
        var count: Int
        var protected: Bool
    }

    /// {count, protected}
    static func decode(_ reply: RedisValue) -> Result<Set, StoreFailure> {
        guard reply.count >= 2, reply[0].isInteger else { return .failure(unexpected("password")) }
        return .success(Set(count: Int(reply[0].integer), protected: reply[1].integer == 1))
    }
}

/// `forgive.lua`: one wrong password taken back from an address's counter.
struct ForgiveCall: ScriptCall {
    static let script = LuaScript.forgive
    /// `ChannelKeys.passwordFailures(address)`.
    var failures: [UInt8]

    var keys: [[UInt8]] { [failures] }
    func addArguments(to args: inout RedisArgs) {}
    static func decode(_ reply: RedisValue) -> Result<Void, StoreFailure> { .success(()) }
}

extension ChatStore {
    /// Sets a channel's password (a crypt hash) or removes it (`hash` empty): the
    /// settings and their lifetime in one step (password.lua), then the directory
    /// entry moved to the directory that matches. `done(false)`: Redis did not take it.
    func setPassword(_ keys: ChannelKeys, channel: String, hash: String, _ done: @escaping (Bool) -> Void) {
        run(
            PasswordCall(channel: keys, hash: hash, ttlMillis: channelTTLMillis, protectedTTLMillis: protectedTTLMillis)
        ) { [unowned self] result in
            guard case .success(let set) = result else { return done(false) }
            self.list(channel, count: set.count, protected: set.protected)
            done(true)
        }
    }

    /// A password check the join script counted as wrong (see join.lua) was right:
    /// taken back.
    func forgiveWrongPassword(_ key: [UInt8]) {
        run(ForgiveCall(failures: key)) { _ in }
    }
}
