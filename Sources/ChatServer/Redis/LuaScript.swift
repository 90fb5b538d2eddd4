import ChatCore

/// A Lua script and its SHA-1, as EVALSHA names it. Every script is loaded (SCRIPT
/// LOAD) on every connect of the command link; a NOSCRIPT answer is retried as EVAL.
struct LuaScript {
    let name: String
    let source: String
    let sha: String

    init(_ name: String, _ source: String) {
        self.name = name
        self.source = source
        sha = SHA1.hex(Array(source.utf8))
    }

    /// The scripts of `Scripts/*.lua`, embedded at build time (the EmbedLua plugin
    /// writes `LuaSource`).
    static let publish = LuaScript("publish", LuaSource.publish)
    static let join = LuaScript("join", LuaSource.join)
    static let leave = LuaScript("leave", LuaSource.leave)
    static let restore = LuaScript("restore", LuaSource.restore)
    static let count = LuaScript("count", LuaSource.count)
    static let history = LuaScript("history", LuaSource.history)
    static let password = LuaScript("password", LuaSource.password)
    static let forgive = LuaScript("forgive", LuaSource.forgive)
    static let claim = LuaScript("claim", LuaSource.claim)
    static let finish = LuaScript("finish", LuaSource.finish)

    static let all = [publish, join, leave, restore, count, history, password, forgive, claim, finish]

    /// The command link's setup: every script loaded, so that EVALSHA finds it even
    /// after Redis restarted.
    static var loadCommands: [[String]] { all.map { ["SCRIPT", "LOAD", $0.source] } }
}

/// One call of a script: its keys and arguments as named fields, encoded in the
/// order the script's named locals take them, and the decoder of its reply.
protocol ScriptCall {
    associatedtype Reply
    static var script: LuaScript { get }
    /// KEYS, in order.
    var keys: [[UInt8]] { get }
    /// ARGV, in order.
    func addArguments(to args: inout RedisArgs)
    static func decode(_ reply: RedisValue) -> Result<Reply, StoreFailure>
}

extension ScriptCall {
    /// `EVALSHA sha numkeys KEYS... ARGV...`.
    func encode(into args: inout RedisArgs) {
        args.reset()
        args.add("EVALSHA")
        args.add(Self.script.sha)
        let keys = self.keys
        args.add(keys.count)
        for key in keys { args.add(key) }
        addArguments(to: &args)
    }

    /// The arguments alone, as strings (tests).
    var argumentList: [[UInt8]] {
        var args = RedisArgs()
        addArguments(to: &args)
        var out: [[UInt8]] = []
        args.withArguments(from: 0) { out.append($0) }
        return out
    }
}

func unexpected(_ what: String) -> StoreFailure { .refused("unexpected \(what) reply") }

extension RedisArgs {
    /// Calls `body` with each argument from index `start` on.
    func withArguments(from start: Int, _ body: ([UInt8]) -> Void) {
        var previous = 0
        for (k, end) in endOffsets.enumerated() {
            if k >= start { body(Array(storage[previous..<end])) }
            previous = end
        }
    }
}
