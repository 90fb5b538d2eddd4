import ChatCore
import XCTest

@testable import ChatServer

/// The seam between replay and live (JoinSeam) and the activation list, without sockets.
final class JoinSeamTests: XCTestCase {
    private func id(_ ms: UInt64, _ seq: UInt64 = 0) -> StreamID { StreamID(milliseconds: ms, sequence: seq) }

    private func record(
        _ seam: inout JoinSeam, _ id: StreamID, _ frame: [UInt8],
        quiet: Bool = false, keep: Bool = true
    ) {
        frame.withUnsafeBytes { seam.record(id, frame: $0, quiet: quiet, keep: keep) }
    }

    func testStartFindsTheFirstEntryAtOrAfterAnID() {
        var seam = JoinSeam()
        for (k, entry) in [id(10), id(20), id(20, 1), id(30)].enumerated() { record(&seam, entry, [UInt8(k)]) }
        XCTAssertEqual(seam.count, 4)
        XCTAssertEqual(seam.start(from: id(0)), 0)
        XCTAssertEqual(seam.start(from: id(10)), 0, "the join notice itself is replayed")
        XCTAssertEqual(seam.start(from: id(11)), 1)
        XCTAssertEqual(seam.start(from: id(20, 1)), 2)
        XCTAssertEqual(seam.start(from: id(30)), 3)
        XCTAssertEqual(seam.start(from: id(31)), 4, "nothing after the newest")
        XCTAssertEqual(seam.lastSeen, id(30))
    }

    func testQuietMarkersAndUntrackedEventsOnlyMoveLastSeen() {
        var seam = JoinSeam()
        record(&seam, id(5), [1], quiet: true)
        XCTAssertEqual(seam.count, 0)
        XCTAssertEqual(seam.lastSeen, id(5))
        record(&seam, id(6), [2], keep: false)  // no join in flight: only activations look at ids
        XCTAssertEqual(seam.count, 0)
        XCTAssertEqual(seam.lastSeen, id(6))
        record(&seam, id(7), [3])
        XCTAssertEqual(seam.entries.map(\.frame), [[3]])
    }

    func testOverItsBoundTheOldestQuarterIsDroppedAndRemembered() {
        var seam = JoinSeam()
        for k in 0..<JoinSeam.frameLimit { record(&seam, id(UInt64(k) + 1), [0]) }
        XCTAssertNil(seam.dropped)
        record(&seam, id(UInt64(JoinSeam.frameLimit) + 1), [0])
        let quarter = JoinSeam.frameLimit / 4
        XCTAssertEqual(seam.count, JoinSeam.frameLimit - quarter + 1)
        XCTAssertEqual(seam.dropped, id(UInt64(quarter)), "the newest dropped: a joiner from before it missed events")
        XCTAssertEqual(seam.entries.first?.id, id(UInt64(quarter) + 1))
        seam.clear()
        XCTAssertEqual(seam.count, 0)
        XCTAssertNil(seam.dropped)
    }

    func testTheByteBoundCountsToo() {
        var seam = JoinSeam()
        let big = [UInt8](repeating: 1, count: JoinSeam.byteLimit / 2)
        record(&seam, id(1), big)
        record(&seam, id(2), big)
        XCTAssertNil(seam.dropped)
        record(&seam, id(3), [1])
        XCTAssertEqual(seam.dropped, id(1))
        XCTAssertEqual(seam.entries.map(\.id), [id(2), id(3)])
    }

    func testASeedFrameIsMadeOnceAndKept() {
        var seam = JoinSeam()
        var frame: [UInt8] = []
        let event = Array(#"{"id":"1-0","type":"message","channel":"c","nickname":"n","message":"hi"}"#.utf8)
        event.withUnsafeBytes { FrameEncoder.appendFrame(opcode: Opcode.text, payload: $0, to: &frame) }
        record(&seam, id(1), frame)
        let made = seam.seedFrame(at: 0, channel: "c")
        XCTAssertNotEqual(made, frame, "in the seed envelope")
        XCTAssertEqual(seam.entries[0].seed, made)
        XCTAssertEqual(seam.seedFrame(at: 0, channel: "c"), made)
    }

    // MARK: Activation list

    private final class Joiner {
        let name: String
        init(_ name: String) { self.name = name }
    }

    func testJoinersActivateInJoinIDOrderUpToTheArrivingEvent() {
        var list = ActivationList<Joiner>()
        let a = Joiner("a")
        let b = Joiner("b")
        let c = Joiner("c")
        list.add(a, from: id(10), notice: nil)
        list.add(c, from: id(30), notice: [3])
        list.add(b, from: id(20), notice: nil)  // out of order (not expected): put in its place
        XCTAssertNil(list.popReady(upTo: id(9)), "nothing before the first notice")
        XCTAssertTrue(list.popReady(upTo: id(25))?.member === a)
        XCTAssertTrue(list.popReady(upTo: id(25))?.member === b)
        XCTAssertNil(list.popReady(upTo: id(25)))
        let last = list.popReady(upTo: id(30))
        XCTAssertTrue(last?.member === c)
        XCTAssertEqual(last?.notice, [3], "a quiet joiner's own notice goes with it")
        XCTAssertTrue(list.isEmpty)
    }

    func testALeaverIsTakenOutOfTheList() {
        var list = ActivationList<Joiner>()
        let a = Joiner("a")
        let b = Joiner("b")
        list.add(a, from: id(1), notice: nil)
        list.add(b, from: id(2), notice: nil)
        list.remove(a)
        XCTAssertTrue(list.popReady(upTo: .init(milliseconds: .max, sequence: .max))?.member === b)
        XCTAssertTrue(list.isEmpty)
    }
}
