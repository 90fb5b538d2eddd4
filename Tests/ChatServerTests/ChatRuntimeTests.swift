import ChatCore
import EventIO
import XCTest

@testable import ChatServer

/// A `ChatRuntime` that records what the chat asks of it (no sockets, no ring).
private final class FakeRuntime: ChatRuntime {
    var turnsScheduled = 0
    var connectionReads = 0
    var passwordAttempts = true
    var creations = true
    var sendRing: IORing? { nil }
    var connections: ContiguousArray<Connection> {
        connectionReads += 1
        return []
    }

    func scheduleEndOfTurn() { turnsScheduled += 1 }
    func dropSendRing(_ error: Int32) { XCTFail("no ring to drop") }
    func allowPasswordAttempt(_ conn: Connection) -> Bool { passwordAttempts }
    func allowChannelCreation(_ conn: Connection) -> Bool { creations }
}

/// The chat's dependencies are its own: the settings it reads, and the runtime's end
/// of turn and connection table through `ChatRuntime` (a fake here).
final class ChatRuntimeTests: XCTestCase {
    func testSettingsTakeTheConfigsChatFieldsAndBoundTheLeaveQueue() {
        var config = Config()
        config.redisPrefix = "t"
        config.maxChannelsPerConnection = 7
        config.replayLimit = 42
        config.channelCreateRate = 0
        config.allowBroadcast = true
        let settings = ChatSettings(config: config, connectionLimit: 100)
        XCTAssertEqual(settings.redisPrefix, "t")
        XCTAssertEqual(settings.maxChannelsPerConnection, 7)
        XCTAssertEqual(settings.replayLimit, 42)
        XCTAssertEqual(settings.channelCreateRate, 0)
        XCTAssertTrue(settings.allowBroadcast)
        XCTAssertEqual(settings.historyReads, config.historyReads)
        XCTAssertEqual(settings.outputBufferLimit, config.outputBufferLimit)
        XCTAssertEqual(settings.passwordAttempts, config.passwordAttempts)
        XCTAssertEqual(settings.memberListLimit, config.memberListLimit)
        XCTAssertEqual(settings.rateLimitBytes, config.rateLimitBytes)
        XCTAssertEqual(settings.leaveQueueCapacity, 700)
    }

    private func withPayload(_ text: String, _ body: (UnsafeRawBufferPointer) -> Void) {
        Array(text.utf8).withUnsafeBytes(body)
    }

    func testBroadcastSchedulesTheTurnAndGoesToTheConnectionTableOnFlush() {
        let runtime = FakeRuntime()
        let stats = WorkerStats()
        let delivery = Delivery(runtime: runtime, stats: stats)
        withPayload(#"{"type":"broadcast","text":"hi"}"#) { delivery.broadcast($0) }
        XCTAssertEqual(runtime.turnsScheduled, 1)
        XCTAssertEqual(runtime.connectionReads, 0, "nothing is written before the end of the turn")
        delivery.flushBatches()
        XCTAssertEqual(runtime.connectionReads, 1)
        delivery.flushBatches()  // nothing batched: the table is not walked again
        XCTAssertEqual(runtime.connectionReads, 1)
        XCTAssertEqual(stats.deliveries, 0)
    }

    func testAChannelEventIsBatchedOnlyForAChannelWithMembers() {
        let runtime = FakeRuntime()
        let delivery = Delivery(runtime: runtime, stats: WorkerStats())
        let channel = LocalChannel(name: "a", keys: ChannelKeys(prefix: "t", tag: "a"))
        withPayload(#"{"type":"message","channel":"a","text":"hi"}"#) { payload in
            delivery.deliver(payload, to: nil)
            delivery.deliver(payload, to: channel)
        }
        XCTAssertEqual(runtime.turnsScheduled, 0)
        XCTAssertEqual(channel.batch.events, 0)
        XCTAssertFalse(channel.batchQueued)
    }

    func testTheHubCountsWhatRedisDeliversAndKeepsAnAPIPassword() {
        let loop = EventLoop()
        let logger = Logger(debug: false)
        let link = RedisLink(
            role: "commands", endpoint: RedisEndpoint(host: "127.0.0.1", port: 1, password: "", database: 0),
            selectsDatabase: false, loop: loop, logger: logger)
        let store = ChatStore(link: link, prefix: "t", historySize: 10, maxAgeMillis: 0, noticeLimit: 10)
        let runtime = FakeRuntime()
        let stats = WorkerStats()
        var config = Config()
        config.redisPrefix = "t"
        let hub = ChannelHub(
            settings: ChatSettings(config: config, connectionLimit: 10), runtime: runtime, store: store,
            subscriber: link, stats: stats, logger: logger, hasher: PasswordHasher(loop: loop),
            nicknameFolding: NicknameFolding(skeleton: { $0 }), instanceID: "i", redisID: "i.1")
        withPayload(#"{"type":"broadcast","text":"hi"}"#) { payload in
            hub.globalKeys.topic.withUnsafeBytes { topic in hub.deliver(topic: topic, payload: payload) }
        }
        XCTAssertEqual(stats.messagesFromRedis, 1)
        XCTAssertEqual(runtime.turnsScheduled, 1)
        let channel = LocalChannel(name: "a", keys: ChannelKeys(prefix: "t", tag: "a"))
        hub.channels["a"] = channel
        hub.keepPassword("hash", channel: "a")
        hub.keepPassword("other", channel: "b")  // no members here: nothing kept
        XCTAssertEqual(channel.passwordHash, "hash")
        XCTAssertNil(hub.channels["b"])
    }
}
