import ChatCore
import Glibc
import XCTest

@testable import ChatServer

/// The worker's connection table: ids, swap-removal by `tableIndex`, and the
/// accept-order queue of connections still in their HTTP phase.
final class ConnectionTableTests: XCTestCase {
    private var host: SocketTestHost!
    private var peers: [SocketPeer] = []

    override func setUp() { host = SocketTestHost() }

    override func tearDown() {
        for p in peers { p.close() }
        peers = []
        host = nil
    }

    private func connection() -> Connection {
        let p = host.makePeer()
        peers.append(p)
        return p.conn
    }

    /// Every connection's `tableIndex` is its place in `all`.
    private func assertIndexed(_ table: ConnectionTable, file: StaticString = #filePath, line: UInt = #line) {
        for (i, conn) in table.all.enumerated() {
            XCTAssertEqual(conn.tableIndex, i, "connection \(conn.id)", file: file, line: line)
        }
        XCTAssertEqual(table.count, table.all.count, file: file, line: line)
    }

    func testIDsCountUpFromOne() {
        var table = ConnectionTable()
        XCTAssertEqual(table.nextID(), 1)
        XCTAssertEqual(table.nextID(), 2)
        XCTAssertEqual(table.nextID(), 3)
    }

    func testAddAppendsAndIndexes() {
        var table = ConnectionTable()
        let conns = (0..<3).map { _ in connection() }
        for c in conns { table.add(c) }
        XCTAssertEqual(table.count, 3)
        XCTAssertEqual(table.all.map(\.id), conns.map(\.id))
        assertIndexed(table)
    }

    func testRemovalSwapsTheLastInAndKeepsTheIndexes() {
        var table = ConnectionTable()
        let conns = (0..<4).map { _ in connection() }
        for c in conns { table.add(c) }
        table.remove(conns[1])  // the middle: the last one takes its place
        XCTAssertEqual(table.all.map(\.id), [conns[0], conns[3], conns[2]].map(\.id))
        assertIndexed(table)
        table.remove(conns[2])  // the last one: nothing moves
        XCTAssertEqual(table.all.map(\.id), [conns[0], conns[3]].map(\.id))
        assertIndexed(table)
        table.remove(conns[0])  // the first
        XCTAssertEqual(table.all.map(\.id), [conns[3]].map(\.id))
        assertIndexed(table)
        table.remove(conns[3])
        XCTAssertEqual(table.count, 0)
        let again = connection()
        table.add(again)  // the table works on after going empty
        XCTAssertEqual(again.tableIndex, 0)
        assertIndexed(table)
    }

    func testAWholeChurnKeepsEveryIndex() {
        var table = ConnectionTable()
        var live: [Connection] = []
        // A fixed, deterministic mix of adds and removes from every position.
        for step in 0..<40 {
            if step % 3 == 2, !live.isEmpty {
                let victim = live.remove(at: (step * 7) % live.count)
                table.remove(victim)
            } else {
                let c = connection()
                table.add(c)
                live.append(c)
            }
            assertIndexed(table)
            XCTAssertEqual(Set(table.all.map(\.id)), Set(live.map(\.id)))
        }
    }

    func testTheOldestConnectionStillInItsHTTPPhaseComesFirst() {
        var table = ConnectionTable()
        let a = connection()
        let b = connection()
        let c = connection()
        let d = connection()
        for conn in [a, b, c, d] { table.add(conn) }
        // a upgrades, c is dropped (closed, not yet reaped): neither is handshaking any more.
        a.upgrade(accept: "x", endpoint: .multi, maxMessageSize: 1_024, countsWebSocket: false)
        c.abort(.clientGone, nil)
        XCTAssertEqual(c.phase, .closed)
        XCTAssertTrue(host.reaped.contains { $0 === c })
        XCTAssertTrue(table.popOldestHandshaking() === b)
        XCTAssertTrue(table.popOldestHandshaking() === d)
        XCTAssertNil(table.popOldestHandshaking())
        XCTAssertEqual(table.count, 4, "the queue is not the table")
        assertIndexed(table)
    }

    func testPruningDropsOnlyTheFrontThatLeftTheHTTPPhase() {
        var table = ConnectionTable()
        let a = connection()
        let b = connection()
        let c = connection()
        for conn in [a, b, c] { table.add(conn) }
        a.upgrade(accept: "x", endpoint: .echo, maxMessageSize: 1_024, countsWebSocket: false)
        c.upgrade(accept: "x", endpoint: .echo, maxMessageSize: 1_024, countsWebSocket: false)
        table.pruneHandshaking()
        XCTAssertTrue(table.popOldestHandshaking() === b, "b still in its HTTP phase stops the pruning")
        XCTAssertNil(table.popOldestHandshaking(), "c upgraded: skipped")
        XCTAssertEqual(table.count, 3)
    }

    func testARemovedConnectionIsNotHandedOutAsHandshaking() {
        var table = ConnectionTable()
        let a = connection()
        let b = connection()
        table.add(a)
        table.add(b)
        a.abort(.clientGone, nil)  // closed: the teardown takes it out of the table
        table.remove(a)
        XCTAssertEqual(b.tableIndex, 0)
        XCTAssertTrue(table.popOldestHandshaking() === b)
        XCTAssertNil(table.popOldestHandshaking())
    }
}
