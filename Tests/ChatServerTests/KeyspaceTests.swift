import ChatCore
import XCTest

@testable import ChatServer

final class KeyspaceTests: XCTestCase {
    let keyspace = Keyspace(prefix: "chat")

    func testChannelKeysCarryTheChannelsTag() {
        let keys = keyspace.channel("general")
        XCTAssertEqual(String(decoding: keys.stream, as: UTF8.self), "chat:{general}:stream")
        XCTAssertEqual(String(decoding: keys.members, as: UTF8.self), "chat:{general}:members")
        XCTAssertEqual(String(decoding: keys.presence, as: UTF8.self), "chat:{general}:presence")
        XCTAssertEqual(String(decoding: keys.nicknames, as: UTF8.self), "chat:{general}:nicknames")
        XCTAssertEqual(String(decoding: keys.meta, as: UTF8.self), "chat:{general}:meta")
        XCTAssertEqual(String(decoding: keys.topic, as: UTF8.self), "chat:{general}:pub")
        XCTAssertEqual(
            String(decoding: keys.passwordFailures("10.0.0.1"), as: UTF8.self), "chat:{general}:pwfails:10.0.0.1")
        for key in [
            keys.stream, keys.members, keys.presence, keys.nicknames, keys.meta, keys.topic,
            keys.passwordFailures("::1"),
        ] {
            XCTAssertEqual(Array(Keyspace.hashTag(key)), Array("general".utf8))
        }
    }

    func testTopicsRoundTripForNamesWithEveryAllowedCharacter() {
        // Channel names: letters (any script), digits, `_ - .` (Names.channel).
        for name in [
            "general", "a", "A-b_c.d", "0.9", "ÄÖü", "日本語", "канал", "x_-.-_x", String(repeating: "z", count: 64),
            "éé.1",
        ] {
            let keys = keyspace.channel(name)
            XCTAssertEqual(keyspace.channelName(topic: keys.topic), name)
            XCTAssertEqual(String(decoding: Keyspace.hashTag(keys.stream), as: UTF8.self), name)
        }
    }

    func testTheGlobalTagIsNoChannelName() {
        let global = keyspace.global
        XCTAssertEqual(String(decoding: global.topic, as: UTF8.self), "chat:{*}:pub")
        XCTAssertEqual(keyspace.channelName(topic: global.topic), "*")
        XCTAssertEqual(global.topic, ChannelKeys.global(prefix: "chat").topic)
        guard case .failure = Names.channel("*") else { return XCTFail("* must not be a channel name") }
    }

    func testOtherTopicsAreNotChannels() {
        XCTAssertNil(keyspace.channelName(topic: Array("chat:{}:pub".utf8)))
        XCTAssertNil(keyspace.channelName(topic: Array("chat:{general}:stream".utf8)))
        XCTAssertNil(keyspace.channelName(topic: Array("other:{general}:pub".utf8)))
        XCTAssertNil(keyspace.channelName(topic: Array("chat:{".utf8)))
        XCTAssertNil(keyspace.channelName(topic: []))
        XCTAssertNil(Keyspace(prefix: "app1").channelName(topic: keyspace.channel("general").topic))
        XCTAssertEqual(keyspace.channelName(topic: keyspace.heartbeat("i1")), nil)
    }

    func testKeysThatAreNotAChannels() {
        XCTAssertEqual(String(decoding: keyspace.channels, as: UTF8.self), "chat:channels")
        XCTAssertEqual(String(decoding: keyspace.protectedChannels, as: UTF8.self), "chat:channels:protected")
        XCTAssertEqual(String(decoding: keyspace.instances, as: UTF8.self), "chat:instances")
        XCTAssertEqual(String(decoding: keyspace.alive("i1"), as: UTF8.self), "chat:instance:i1:alive")
        XCTAssertEqual(String(decoding: keyspace.memberships("i1"), as: UTF8.self), "chat:instance:i1:members")
        XCTAssertEqual(String(decoding: keyspace.reaper("i1"), as: UTF8.self), "chat:instance:i1:reaper")
        XCTAssertEqual(String(decoding: keyspace.reaped("i1"), as: UTF8.self), "chat:instance:i1:reaped")
        XCTAssertEqual(String(decoding: keyspace.heartbeat("i1"), as: UTF8.self), "chat:{*}:heartbeat:i1")
    }

    func testHashTagFollowsRedisClusterRules() {
        XCTAssertEqual(Array(Keyspace.hashTag(Array("plain".utf8))), Array("plain".utf8))
        XCTAssertEqual(
            Array(Keyspace.hashTag(Array("a{}b".utf8))), Array("a{}b".utf8), "an empty tag hashes the whole key")
        XCTAssertEqual(Array(Keyspace.hashTag(Array("a{x}{y}".utf8))), Array("x".utf8))
        XCTAssertEqual(Array(Keyspace.hashTag(Array("a{x".utf8))), Array("a{x".utf8))
    }

    func testMemberEntryRoundTrip() {
        let entry = MemberEntry(field: "inst.ab:12:3", channel: "日本語", nickname: "Zoë")
        XCTAssertEqual(MemberEntry(entry.encoded), entry)
        XCTAssertNil(MemberEntry("no newline"))
    }
}
