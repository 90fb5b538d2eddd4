import ChatCore
import EventIO
import Glibc
import XCTest

@testable import ChatServer

/// A `ConnectionHost` for real connections on a socketpair: it records what the
/// connections ask of it and does nothing else.
final class SocketTestHost: ConnectionHost {
    let loop = EventLoop()
    let logger = Logger(debug: false)
    let stats = WorkerStats()
    let connectionSettings = ConnectionStateMachine.Settings(
        handshakeTimeoutMillis: 60_000, pingIntervalMillis: 0, pongTimeoutMillis: 60_000, outputLimit: 1 << 20)
    let httpLimits = HTTPLimits()
    let protocolLimits = ProtocolLimits()
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4_096, alignment: 16)
    let nicknameFolding = NicknameFolding(skeleton: { $0 })
    var isRedisCongested: Bool { false }
    var messageRate: Double { 0 }
    var dirty: [Connection] = []
    var reaped: [Connection] = []
    private var lastID: UInt64 = 0

    deinit { readBuffer.deallocate() }

    func makeRateLimiter(now: UInt64) -> MessageRateLimiter? { nil }
    func markDirty(_ conn: Connection) { dirty.append(conn) }
    func hold(_ conn: Connection) {}
    func reap(_ conn: Connection) { reaped.append(conn) }
    func webSocketOpened() {}
    func webSocketClosed() {}
    func releaseHandshake(peerAddress: String) {}
    func releaseWebSocket(clientAddress: String) {}
    func route(_ conn: Connection, _ request: HTTPRequest, body: [UInt8]) {}
    func chat(_ request: Result<ClientRequest, ChatError>, from conn: Connection) {}
    func leaveAll(_ conn: Connection) {}

    /// A connection on one end of a fresh socketpair; the test reads the other end.
    func makePeer(_ type: Int32 = Int32(SOCK_STREAM.rawValue)) -> SocketPeer {
        var fds: [Int32] = [-1, -1]
        precondition(socketpair(AF_UNIX, type, 0, &fds) == 0, "socketpair: errno \(errno)")
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        // A safety net, not a timing assertion: a missing byte fails the test instead of hanging it.
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fds[1], SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        lastID += 1
        let conn = Connection(id: lastID, fd: fds[0], peerAddress: "test", host: self, countsHandshake: false)
        return SocketPeer(conn: conn, fd: fds[1], packets: type == Int32(SOCK_SEQPACKET.rawValue))
    }
}

/// The test's end of a connection's socket: reads what the connection wrote.
final class SocketPeer {
    let conn: Connection
    let fd: Int32
    /// SOCK_SEQPACKET: each read is one write of the connection's.
    let packets: Bool
    private var pending: [UInt8] = []

    init(conn: Connection, fd: Int32, packets: Bool) {
        self.conn = conn
        self.fd = fd
        self.packets = packets
    }

    /// Upgrades to WebSocket on `endpoint` and reads the 101 answer off the socket.
    func open(_ endpoint: Endpoint = .multi) {
        if case .seed(let channel) = endpoint { conn.envelopeChannel = channel }
        conn.upgrade(accept: "x", endpoint: endpoint, maxMessageSize: 65_536, countsWebSocket: false)
        conn.flush()
        let end = Array("\r\n\r\n".utf8)
        for _ in 0..<100 {
            if let r = pending.firstRange(of: end) {
                pending.removeSubrange(..<r.upperBound)
                return
            }
            guard readOnce() else { break }
        }
        XCTFail("no 101 answer")
    }

    /// One read (blocking, bounded by SO_RCVTIMEO): false on timeout or end.
    @discardableResult
    private func readOnce() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return false }
        pending.append(contentsOf: buffer[..<n])
        return true
    }

    /// The payloads of the next `count` text frames, as strings (fails on a missing one).
    /// `writing`: the connection writes what its output holds before each read, as its
    /// write event would while the loop runs (a socket that was full).
    func frames(_ count: Int, writing: Bool = false) -> [String] {
        var out: [String] = []
        for _ in 0..<(count + 1_000) {
            while out.count < count, let payload = Self.takeFrame(&pending) {
                out.append(String(decoding: payload, as: UTF8.self))
            }
            if out.count == count { return out }
            if writing { conn.flush() }
            guard readOnce() else { break }
        }
        XCTFail("expected \(count) frames, got \(out.count): \(out)")
        return out
    }

    /// The next write of the connection's (SOCK_SEQPACKET: one read is one write), as
    /// the payloads of the frames in it.
    func nextWrite() -> [String] {
        precondition(packets && pending.isEmpty)
        guard readOnce() else {
            XCTFail("no write")
            return []
        }
        var out: [String] = []
        while let payload = Self.takeFrame(&pending) { out.append(String(decoding: payload, as: UTF8.self)) }
        XCTAssertTrue(pending.isEmpty, "a write ends with a whole frame")
        pending.removeAll()
        return out
    }

    /// Whether the socket holds nothing more now (the connection wrote nothing else).
    var isDrained: Bool {
        var byte: UInt8 = 0
        return pending.isEmpty && recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) < 0 && errno == EAGAIN
    }

    /// Parses one server frame (unmasked text) off the front of `bytes`.
    private static func takeFrame(_ bytes: inout [UInt8]) -> [UInt8]? {
        guard bytes.count >= 2 else { return nil }
        XCTAssertEqual(bytes[0], 0x80 | Opcode.text, "a final text frame")
        var length = Int(bytes[1] & 0x7F)
        var header = 2
        if length == 126 {
            guard bytes.count >= 4 else { return nil }
            length = Int(bytes[2]) << 8 | Int(bytes[3])
            header = 4
        } else if length == 127 {
            guard bytes.count >= 10 else { return nil }
            length = bytes[2..<10].reduce(0) { $0 << 8 | Int($1) }
            header = 10
        }
        guard bytes.count >= header + length else { return nil }
        let payload = Array(bytes[header..<header + length])
        bytes.removeSubrange(..<(header + length))
        return payload
    }

    func close() {
        conn.destroy()
        Glibc.close(fd)
    }
}

/// A `ChatRuntime` whose connection table is the test's connections, with or without a send ring.
private final class OrderRuntime: ChatRuntime {
    var connections: ContiguousArray<Connection> = []
    var sendRing: IORing?
    var droppedRing: Int32?
    func scheduleEndOfTurn() {}
    func dropSendRing(_ error: Int32) { droppedRing = error }
    func allowPasswordAttempt(_ conn: Connection) -> Bool { true }
    func allowChannelCreation(_ conn: Connection) -> Bool { true }
}

/// The order of the fan-out (Delivery, LocalChannel.commitBatch, Connection.writeShared),
/// read off real sockets: what Redis delivers in one loop turn reaches each member in
/// Redis's order, whatever mix of channel events, broadcasts and member-list changes.
final class DeliveryOrderTests: XCTestCase {
    private var host: SocketTestHost!
    private var runtime: OrderRuntime!
    private var delivery: Delivery!
    private var peers: [SocketPeer] = []

    override func setUp() {
        host = SocketTestHost()
        runtime = OrderRuntime()
        delivery = Delivery(runtime: runtime, stats: host.stats)
    }

    override func tearDown() {
        for p in peers { p.close() }
        peers = []
        delivery = nil
        runtime = nil
        host = nil
    }

    /// An open chat connection in the runtime's table (and its seed group on `/chat/join`).
    private func peer(_ endpoint: Endpoint = .multi, type: Int32 = Int32(SOCK_STREAM.rawValue)) -> SocketPeer {
        let p = host.makePeer(type)
        p.open(endpoint)
        peers.append(p)
        runtime.connections.append(p.conn)
        if p.conn.envelopeChannel != nil { delivery.addSeedConnection(p.conn) }
        return p
    }

    private func channel(_ name: String) -> LocalChannel {
        LocalChannel(name: name, keys: ChannelKeys(prefix: "t", tag: name))
    }

    @discardableResult
    private func join(_ p: SocketPeer, _ channel: LocalChannel) -> Membership {
        let m = Membership(
            channel: channel, connection: p.conn, joinRef: nil, field: "f\(p.conn.id)", folded: "n\(p.conn.id)",
            options: JoinOptions())
        channel.addMember(m)
        p.conn.memberships[channel.name] = m
        return m
    }

    private func event(_ channel: String, _ text: String) -> String {
        #"{"type":"message","channel":"\#(channel)","nickname":"n","message":"\#(text)"}"#
    }

    private func broadcastEvent(_ text: String) -> String { #"{"type":"broadcast","message":"\#(text)"}"# }

    private func deliver(_ payload: String, to channel: LocalChannel?) {
        Array(payload.utf8).withUnsafeBytes { delivery.deliver($0, to: channel) }
    }

    private func broadcast(_ payload: String) {
        Array(payload.utf8).withUnsafeBytes { delivery.broadcast($0) }
    }

    /// The end of the loop turn as the worker runs it: the batches, then every
    /// connection's output (what a commit or a busy socket left in it).
    private func endTurn() {
        delivery.flushBatches()
        for p in peers { p.conn.flush() }
    }

    private func seed(_ payload: String, _ channel: String) -> String {
        String(decoding: SeedEnvelope.encode(event: Array(payload.utf8), channel: channel)!, as: UTF8.self)
    }

    // MARK: One channel, one turn

    func testAChannelsEventsOfOneTurnReachEachMemberInRedisOrderAsOneWrite() {
        let packet = Int32(SOCK_SEQPACKET.rawValue)
        let a = peer(type: packet)
        let b = peer(type: packet)
        let outsider = peer(type: packet)
        let c = channel("c")
        join(a, c)
        join(b, c)
        let events = (1...5).map { event("c", "e\($0)") }
        for e in events { deliver(e, to: c) }
        XCTAssertTrue(a.isDrained, "nothing is written before the end of the turn")
        endTurn()
        XCTAssertEqual(a.nextWrite(), events, "one write, in Redis's order")
        XCTAssertEqual(b.nextWrite(), events)
        XCTAssertTrue(a.isDrained)
        XCTAssertTrue(b.isDrained)
        XCTAssertTrue(outsider.isDrained, "not a member: nothing")
        XCTAssertEqual(host.stats.deliveries, 10)
    }

    func testTwoChannelsInOneTurnEachKeepTheirOrder() {
        let a = peer()
        let both = peer()
        let c = channel("c")
        let d = channel("d")
        join(a, c)
        join(both, c)
        join(both, d)
        deliver(event("c", "1"), to: c)
        deliver(event("d", "2"), to: d)
        deliver(event("c", "3"), to: c)
        deliver(event("d", "4"), to: d)
        endTurn()
        XCTAssertEqual(a.frames(2), [event("c", "1"), event("c", "3")])
        // One batch per channel, handed out channel by channel: within each channel Redis's order.
        let got = both.frames(4)
        XCTAssertEqual(got.filter { $0.contains(#""channel":"c""#) }, [event("c", "1"), event("c", "3")])
        XCTAssertEqual(got.filter { $0.contains(#""channel":"d""#) }, [event("d", "2"), event("d", "4")])
        XCTAssertTrue(a.isDrained)
        XCTAssertTrue(both.isDrained)
    }

    // MARK: Broadcasts among channel events

    func testABroadcastBetweenTwoChannelEventsKeepsItsPlace() {
        let member = peer()
        let other = peer()
        let nobody = peer()
        let c = channel("c")
        let d = channel("d")
        join(member, c)
        join(other, d)
        deliver(event("c", "1"), to: c)
        deliver(event("d", "x"), to: d)
        broadcast(broadcastEvent("b"))
        deliver(event("c", "2"), to: c)
        endTurn()
        XCTAssertEqual(member.frames(3), [event("c", "1"), broadcastEvent("b"), event("c", "2")])
        XCTAssertEqual(other.frames(2), [event("d", "x"), broadcastEvent("b")])
        XCTAssertEqual(nobody.frames(1), [broadcastEvent("b")])
        for p in [member, other, nobody] { XCTAssertTrue(p.isDrained) }
    }

    func testAChannelEventBetweenTwoBroadcastsKeepsItsPlace() {
        let member = peer()
        let nobody = peer()
        let c = channel("c")
        join(member, c)
        broadcast(broadcastEvent("1"))
        broadcast(broadcastEvent("2"))
        deliver(event("c", "3"), to: c)
        broadcast(broadcastEvent("4"))
        deliver(event("z", "no channel here"), to: nil)  // unknown channel: still a point in the order
        deliver(event("c", "5"), to: c)
        endTurn()
        XCTAssertEqual(
            member.frames(5),
            [broadcastEvent("1"), broadcastEvent("2"), event("c", "3"), broadcastEvent("4"), event("c", "5")])
        XCTAssertEqual(nobody.frames(3), [broadcastEvent("1"), broadcastEvent("2"), broadcastEvent("4")])
        XCTAssertTrue(member.isDrained)
        XCTAssertTrue(nobody.isDrained)
    }

    // MARK: Member-list changes mid-turn

    func testAMemberJoiningMidTurnGetsOnlyWhatFollowsItsJoin() {
        let early = peer()
        let joiner = peer()
        let c = channel("c")
        join(early, c)
        deliver(event("c", "1"), to: c)
        deliver(event("c", "2"), to: c)
        join(joiner, c)  // the pending batch goes to the current members first
        deliver(event("c", "3"), to: c)
        endTurn()
        XCTAssertEqual(early.frames(3), [event("c", "1"), event("c", "2"), event("c", "3")])
        XCTAssertEqual(joiner.frames(1), [event("c", "3")])
        XCTAssertTrue(early.isDrained)
        XCTAssertTrue(joiner.isDrained)
    }

    func testAMemberLeavingMidTurnGetsEverythingUpToItsLeave() {
        let stays = peer()
        let leaver = peer()
        let c = channel("c")
        join(stays, c)
        let m = join(leaver, c)
        deliver(event("c", "1"), to: c)
        deliver(event("c", "2"), to: c)
        c.removeMember(m)
        deliver(event("c", "3"), to: c)
        endTurn()
        XCTAssertEqual(stays.frames(3), [event("c", "1"), event("c", "2"), event("c", "3")])
        XCTAssertEqual(leaver.frames(2), [event("c", "1"), event("c", "2")])
        XCTAssertTrue(stays.isDrained)
        XCTAssertTrue(leaver.isDrained)
    }

    func testALeaveAndAJoinAroundABroadcastKeepTheOrder() {
        let stays = peer()
        let leaver = peer()
        let joiner = peer()
        let c = channel("c")
        join(stays, c)
        let m = join(leaver, c)
        deliver(event("c", "1"), to: c)
        c.removeMember(m)
        deliver(event("c", "2"), to: c)
        broadcast(broadcastEvent("3"))
        join(joiner, c)
        deliver(event("c", "4"), to: c)
        endTurn()
        XCTAssertEqual(stays.frames(4), [event("c", "1"), event("c", "2"), broadcastEvent("3"), event("c", "4")])
        XCTAssertEqual(leaver.frames(2), [event("c", "1"), broadcastEvent("3")])
        XCTAssertEqual(joiner.frames(2), [broadcastEvent("3"), event("c", "4")])
        for p in [stays, leaver, joiner] { XCTAssertTrue(p.isDrained) }
    }

    // MARK: Seed members

    func testSeedMembersGetTheSameOrderInTheSeedEnvelope() {
        let plain = peer()
        let seedMember = peer(.seed(channel: "c"))
        let seedElsewhere = peer(.seed(channel: "d"))
        let c = channel("c")
        join(plain, c)
        join(seedMember, c)
        XCTAssertEqual(c.seedMembers.count, 1)
        deliver(event("c", "1"), to: c)
        broadcast(broadcastEvent("2"))
        deliver(event("c", "3"), to: c)
        endTurn()
        XCTAssertEqual(plain.frames(3), [event("c", "1"), broadcastEvent("2"), event("c", "3")])
        XCTAssertEqual(
            seedMember.frames(3),
            [seed(event("c", "1"), "c"), seed(broadcastEvent("2"), "c"), seed(event("c", "3"), "c")])
        XCTAssertEqual(seedElsewhere.frames(1), [seed(broadcastEvent("2"), "d")], "the envelope names its channel")
        for p in [plain, seedMember, seedElsewhere] { XCTAssertTrue(p.isDrained) }
    }

    func testASeedMemberJoiningOrLeavingMidTurnGetsItsShareOnly() {
        let stays = peer(.seed(channel: "c"))
        let leaver = peer(.seed(channel: "c"))
        let joiner = peer(.seed(channel: "c"))
        let c = channel("c")
        join(stays, c)
        let m = join(leaver, c)
        deliver(event("c", "1"), to: c)
        c.removeMember(m)
        deliver(event("c", "2"), to: c)
        join(joiner, c)
        deliver(event("c", "3"), to: c)
        endTurn()
        XCTAssertEqual(stays.frames(3), [event("c", "1"), event("c", "2"), event("c", "3")].map { seed($0, "c") })
        XCTAssertEqual(leaver.frames(1), [seed(event("c", "1"), "c")])
        XCTAssertEqual(joiner.frames(1), [seed(event("c", "3"), "c")])
        for p in [stays, leaver, joiner] { XCTAssertTrue(p.isDrained) }
    }

    // MARK: A full socket

    func testWhatAFullSocketDidNotTakeGoesOutBeforeWhatFollows() {
        let slow = peer()
        let fast = peer()
        var size: Int32 = 4_096
        setsockopt(slow.conn.fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        let c = channel("c")
        join(slow, c)
        join(fast, c)
        let filler = String(repeating: "x", count: 1_000)
        let first = (1...40).map { event("c", "\($0) \(filler)") }
        for e in first { deliver(e, to: c) }
        endTurn()  // the slow socket takes part of the batch; the rest waits in its output
        XCTAssertGreaterThan(host.stats.partialWrites, 0, "the socket was full")
        XCTAssertGreaterThan(slow.conn.pendingOutput, 0)
        XCTAssertEqual(fast.frames(40), first)
        // The next turn, before the slow peer read anything: queued behind, not sent first.
        let second = [event("c", "41"), broadcastEvent("42"), event("c", "43")]
        deliver(second[0], to: c)
        broadcast(second[1])
        deliver(second[2], to: c)
        endTurn()
        XCTAssertEqual(fast.frames(3), second)
        XCTAssertEqual(slow.frames(43, writing: true), first + second)
        XCTAssertTrue(slow.isDrained)
        XCTAssertTrue(fast.isDrained)
    }

    // MARK: The send ring

    func testTheSendRingKeepsTheSameOrder() throws {
        var error: Int32 = 0
        guard let ring = IORing.make(entries: RingFanOut.entries, error: &error) else {
            throw XCTSkip("no io_uring here (errno \(error))")
        }
        runtime.sendRing = ring
        let stays = peer()
        let leaver = peer()
        let joiner = peer()
        let nobody = peer()
        let c = channel("c")
        join(stays, c)
        let m = join(leaver, c)
        deliver(event("c", "1"), to: c)
        c.removeMember(m)
        deliver(event("c", "2"), to: c)
        join(joiner, c)
        broadcast(broadcastEvent("3"))
        deliver(event("c", "4"), to: c)
        deliver(event("c", "5"), to: c)
        endTurn()
        XCTAssertNil(runtime.droppedRing)
        XCTAssertGreaterThan(host.stats.ringSends, 0, "the ring made the sends")
        XCTAssertEqual(
            stays.frames(5), [event("c", "1"), event("c", "2"), broadcastEvent("3"), event("c", "4"), event("c", "5")])
        XCTAssertEqual(leaver.frames(2), [event("c", "1"), broadcastEvent("3")])
        XCTAssertEqual(joiner.frames(3), [broadcastEvent("3"), event("c", "4"), event("c", "5")])
        XCTAssertEqual(nobody.frames(1), [broadcastEvent("3")])
        for p in [stays, leaver, joiner, nobody] { XCTAssertTrue(p.isDrained) }
    }
}
