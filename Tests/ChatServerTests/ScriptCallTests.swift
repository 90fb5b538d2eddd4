import ChatCore
import XCTest

@testable import ChatServer

/// The typed script calls: what they send (keys, arguments in the order the script's
/// named locals take them) and how their replies decode, without Redis
/// (Tests/integration/test_script_*.py run the scripts against a real redis-server).
final class ScriptCallTests: XCTestCase {
    let keyspace = Keyspace(prefix: "chat")
    let limits = StreamLimits(maxlen: 500, maxAgeMillis: 0, ttlMillis: 86_400_000, protectedTTLMillis: 0)

    var channel: ChannelKeys { keyspace.channel("room.1") }

    var joinRequest: ChatStore.JoinRequest {
        var j = ChatStore.JoinRequest(
            field: "i1:7:1", nickname: "ann", folded: "ann", entry: "i1:7:1\nroom.1\nann", channel: "room.1")
        j.passwordFailures = channel.passwordFailures("10.0.0.1")
        j.replay = .since("1-0")
        return j
    }

    /// One call of every script with its keys and arguments.
    var calls: [(script: LuaScript, keys: [[UInt8]], arguments: [[UInt8]])] {
        func entry<C: ScriptCall>(_ call: C) -> (LuaScript, [[UInt8]], [[UInt8]]) {
            (C.script, call.keys, call.argumentList)
        }
        return [
            entry(PublishCall(channel: channel, limits: limits, body: Array(#""type":"message""#.utf8))),
            entry(JoinCall(channel: channel, limits: limits, bodyPrefix: [], noticeLimit: 100, request: joinRequest)),
            entry(
                LeaveCall(
                    channel: channel, limits: limits, bodyPrefix: [], field: "i1:7:1", noticeLimit: 100,
                    folded: "ann")),
            entry(
                RestoreCall(
                    channel: channel, limits: limits, knownHash: "",
                    members: [("i1:7:1", "ann", "ann"), ("i1:8:2", "bob", "bob")])),
            entry(CountCall(channel: channel, eventPrefix: [])),
            entry(HistoryCall(channel: channel, direction: .latest, limit: 10, budget: 1000, keyed: false)),
            entry(PasswordCall(channel: channel, hash: "", ttlMillis: 1, protectedTTLMillis: 2)),
            entry(ForgiveCall(failures: channel.passwordFailures("10.0.0.1"))),
            entry(ClaimCall(keyspace: keyspace, dead: "i2", by: "i1")),
            entry(FinishCall(keyspace: keyspace, dead: "i2")),
        ]
    }

    static let instanceScripts: Set<String> = ["claim", "finish"]

    func testEveryScriptHasACall() {
        XCTAssertEqual(Set(calls.map(\.script.name)), Set(LuaScript.all.map(\.name)))
        XCTAssertEqual(Set(LuaScript.all.map(\.name)), Set(LuaSource.all.map(\.name)))
    }

    /// The precondition for Redis Cluster: a per-channel script's keys are in one slot.
    func testEveryPerChannelScriptsKeysCarryOneTag() {
        for call in calls where !Self.instanceScripts.contains(call.script.name) {
            XCTAssertFalse(call.keys.isEmpty, call.script.name)
            for key in call.keys {
                XCTAssertEqual(
                    String(decoding: Keyspace.hashTag(key), as: UTF8.self), "room.1",
                    "\(call.script.name): \(String(decoding: key, as: UTF8.self))")
            }
            for key in call.keys where key == keyspace.channels || key == keyspace.protectedChannels {
                XCTFail("\(call.script.name) touches a directory")
            }
        }
    }

    /// Calls send as many keys and arguments as their script names (its highest
    /// `KEYS[n]` and `ARGV[n]`); restore takes three more per member.
    func testCallsMatchTheirScriptsNamedKeysAndArguments() {
        for call in calls {
            let source = call.script.source
            XCTAssertEqual(call.keys.count, Self.highestIndex("KEYS", in: source), "\(call.script.name) keys")
            let named = Self.highestIndex("ARGV", in: source)
            if call.script.name == "restore" {
                XCTAssertEqual(call.arguments.count, named + 2 * 3, "restore: 3 then 3 per member")
            } else {
                XCTAssertEqual(call.arguments.count, named, "\(call.script.name) arguments")
            }
        }
    }

    /// Every `KEYS[n]` and `ARGV[n]` is read once, into a named local or field, in the
    /// script's opening lines.
    func testScriptsNameTheirKeysAndArguments() {
        for script in LuaScript.all {
            var seen: Set<String> = []
            for line in script.source.split(separator: "\n") {
                for word in ["KEYS[", "ARGV["] {
                    var rest = Substring(line)
                    while let r = rest.range(of: word) {
                        let digits = rest[r.upperBound...].prefix { $0.isNumber }
                        rest = rest[r.upperBound...]
                        guard !digits.isEmpty else { continue }
                        let ref = word + digits + "]"
                        XCTAssertTrue(seen.insert(ref).inserted, "\(script.name): \(ref) read twice")
                        let trimmed = line.drop { $0 == " " }
                        XCTAssertTrue(
                            trimmed.hasPrefix("local ") || trimmed.first?.isLetter == true && trimmed.contains(" = "),
                            "\(script.name): \(line)")
                    }
                }
            }
            XCTAssertTrue(
                script.source.hasPrefix("-- \(script.name): "), "\(script.name) opens with its header comment")
        }
    }

    func testNoticesPerMessageAgreesWithTheScripts() {
        XCTAssertTrue(LuaSource.publish.contains("local NOTICES_PER_MESSAGE = \(ChatStore.noticesPerMessage)\n"))
    }

    func testEncodingIsEvalshaWithNamedArgumentsInOrder() {
        var args = RedisArgs()
        let call = JoinCall(
            channel: channel, limits: limits, bodyPrefix: Array("body".utf8), noticeLimit: 100, request: joinRequest)
        call.encode(into: &args)
        var words: [String] = []
        args.withArguments(from: 0) { words.append(String(decoding: $0, as: UTF8.self)) }
        XCTAssertEqual(Array(words.prefix(3)), ["EVALSHA", LuaScript.join.sha, "6"])
        XCTAssertEqual(words[3], "chat:{room.1}:stream")
        XCTAssertEqual(words[8], "chat:{room.1}:pwfails:10.0.0.1")
        // topic, maxlen, maxAge, ttl, pttl, body, field, nickname, noticeLimit, nicknameKeys,
        // verifiedHash, newPassword, replayKind, replayFrom, replayLimit, listLimit,
        // failureLimit, replayBudget, knownHash, mayCreate
        XCTAssertEqual(
            Array(words[9...]),
            [
                "chat:{room.1}:pub", "500", "0", "86400000", "0", "body", "i1:7:1", "ann", "100", "ann",
                "", "", "s", "1-0", "0", "0", "0", "0", "", "0",
            ])
        XCTAssertEqual(LuaScript.join.sha.count, 40)
    }

    // MARK: Replies

    func testPublishReply() throws {
        let appended = try PublishCall.decode(.array([.text("5-0")])).get()
        XCTAssertEqual(appended.id, "5-0")
        XCTAssertNil(appended.count)
        XCTAssertThrowsError(try PublishCall.decode(.integer(1)).get())
    }

    func testJoinReplies() throws {
        guard case .verify(let hash) = try JoinCall.decode(.array([.text("!pw"), .text("$6$x")])).get() else {
            return XCTFail()
        }
        XCTAssertEqual(hash, "$6$x")
        guard case .passwordLimited(let wait) = try JoinCall.decode(.array([.text("!limited"), .integer(1500)])).get()
        else { return XCTFail() }
        XCTAssertEqual(wait, 1500)
        guard case .claim = try JoinCall.decode(.array([.text("!claim")])).get() else { return XCTFail() }
        guard case .new = try JoinCall.decode(.array([.text("!new")])).get() else { return XCTFail() }
        guard case .nicknameTaken = try JoinCall.decode(.array([.text("!taken")])).get() else { return XCTFail() }
        XCTAssertThrowsError(try JoinCall.decode(.array([.text("!other")])).get())

        let reply = RedisValue.array([
            .text("9-1"), .integer(3), .integer(1), .integer(1), .array([.text("ann"), .text("bob")]),
            .array([.text("7-0"), .text("a"), .text("8-0"), .text("b")]), .integer(1), .text("2-0"),
        ])
        guard case .joined(let joined) = try JoinCall.decode(reply).get() else { return XCTFail() }
        XCTAssertEqual(joined.appended.id, "9-1")
        XCTAssertEqual(joined.appended.count, 3)
        XCTAssertTrue(joined.appended.quiet)
        XCTAssertTrue(joined.protected)
        XCTAssertEqual(joined.members, ["ann", "bob"])
        XCTAssertEqual(joined.replay.map(\.id), ["7-0", "8-0"])
        XCTAssertEqual(joined.replay.map(\.body), [Array("a".utf8), Array("b".utf8)])
        XCTAssertTrue(joined.truncated)
        XCTAssertEqual(joined.oldest, "2-0")

        let overList = RedisValue.array([
            .text("9-1"), .integer(3), .integer(0), .integer(0), .null, .array([]), .integer(0), .text(""),
        ])
        guard case .joined(let big) = try JoinCall.decode(overList).get() else { return XCTFail() }
        XCTAssertNil(big.members)
        XCTAssertFalse(big.appended.quiet)
        XCTAssertThrowsError(try JoinCall.decode(.array([.text("9-1"), .integer(3)])).get())
    }

    func testLeaveReplies() throws {
        let left = try LeaveCall.decode(.array([.text("4-0"), .integer(2), .integer(0), .integer(1)])).get()
        XCTAssertEqual(left.appended.id, "4-0")
        XCTAssertEqual(left.appended.count, 2)
        XCTAssertTrue(left.protected)
        let nothing = try LeaveCall.decode(.array([.null, .integer(0), .integer(0), .integer(0)])).get()
        XCTAssertEqual(nothing.appended.id, "", "nothing removed")
        XCTAssertEqual(nothing.appended.count, 0)
        XCTAssertThrowsError(try LeaveCall.decode(.array([.text("4-0")])).get())
    }

    func testRestoreCountPasswordAndClaimReplies() throws {
        XCTAssertEqual(
            try RestoreCall.decode(.array([.null, .integer(2), .integer(1), .integer(1)])).get(),
            RestoreCall.Restored(count: 2, restoredPassword: true, protected: true))
        XCTAssertEqual(try CountCall.decode(.array([.null, .integer(7)])).get(), .published(count: 7))
        XCTAssertEqual(try CountCall.decode(.array([.null, .null])).get(), .unchanged)
        XCTAssertEqual(try CountCall.decode(.array([.null, .null, .integer(1)])).get(), .tooSoon)
        XCTAssertEqual(
            try PasswordCall.decode(.array([.integer(0), .integer(1)])).get(),
            PasswordCall.Set(count: 0, protected: true))
        XCTAssertTrue(try ClaimCall.decode(.integer(1)).get())
        XCTAssertFalse(try ClaimCall.decode(.integer(0)).get())
    }

    func testHistoryReplies() throws {
        XCTAssertEqual(try HistoryCall.decode(.array([.integer(1)])).get(), .forbidden)
        let page = try HistoryCall.decode(
            .array([.integer(0), .array([.text("1-0"), .text("x"), .text("2-0"), .text("y")]), .integer(1)])
        ).get()
        XCTAssertEqual(
            page,
            .entries(
                [.init(id: "1-0", body: Array("x".utf8)), .init(id: "2-0", body: Array("y".utf8))], protected: false,
                cut: true))
        XCTAssertEqual(
            try HistoryCall.decode(.array([.integer(1), .array([]), .integer(0)])).get(),
            .entries([], protected: true, cut: false))
        XCTAssertThrowsError(try HistoryCall.decode(.array([.integer(0), .integer(0)])).get())
    }

    static func highestIndex(_ table: String, in source: String) -> Int {
        var highest = 0
        var rest = Substring(source)
        while let r = rest.range(of: table + "[") {
            rest = rest[r.upperBound...]
            if let n = Int(rest.prefix { $0.isNumber }) { highest = max(highest, n) }
        }
        return highest
    }
}

/// The scripts write and recognize the quiet-notice format that `QuietNotice` defines.
final class QuietFormatTests: XCTestCase {
    func testScriptsUseTheQuietNoticeFormat() {
        let suffix = String(
            decoding: UnsafeRawBufferPointer(
                start: QuietNotice.suffix.utf8Start, count: QuietNotice.suffix.utf8CodeUnitCount),
            as: UTF8.self)
        // The marker, built in Lua the way QuietNotice.marker builds it.
        let marker = String(decoding: QuietNotice.marker(id: "ID"), as: UTF8.self)
        XCTAssertEqual(marker, #"{"id":"ID","quiet":true}"#)
        XCTAssertTrue(LuaSource.join.contains(#"'{"id":"' .. id .. '","quiet":true}'"#))
        // A quiet notice's body end, and how replays and the history API skip it.
        XCTAssertTrue(LuaSource.join.contains("body .. n .. ',\(suffix)'"))
        XCTAssertTrue(LuaSource.history.contains("string.sub(body, -\(suffix.utf8.count)) ~= '\(suffix)'"))
    }
}
