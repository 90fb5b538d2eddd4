import XCTest

@testable import ChatServer

/// The directory commands that follow a script's reply (outside the per-channel scripts).
final class DirectoryTests: XCTestCase {
    let keyspace = Keyspace(prefix: "chat")

    func words(_ channel: String, count: Int, protected: Bool, updateOnly: Bool = false) -> [String] {
        ChatStore.listing(channel, count: count, protected: protected, updateOnly: updateOnly, in: keyspace)
            .map { $0.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ") }
    }

    func testAChannelWithMembersIsListedInTheDirectoryOfItsSettingsOnly() {
        XCTAssertEqual(
            words("room", count: 3, protected: false),
            ["ZREM chat:channels:protected room", "ZADD chat:channels 3 room"])
        XCTAssertEqual(
            words("room", count: 3, protected: true),
            ["ZREM chat:channels room", "ZADD chat:channels:protected 3 room"])
    }

    func testAnEmptyChannelLeavesBoth() {
        XCTAssertEqual(
            words("room", count: 0, protected: false, updateOnly: true),
            ["ZREM chat:channels:protected room", "ZREM chat:channels room"])
    }

    /// A leave's reply only updates an entry that is there: if another instance's leave
    /// emptied the channel and its reply came first, the entry stays removed.
    func testALeaveOnlyUpdatesAnEntryThatIsThere() {
        XCTAssertEqual(
            words("room", count: 2, protected: false, updateOnly: true),
            ["ZREM chat:channels:protected room", "ZADD chat:channels XX 2 room"])
    }
}
