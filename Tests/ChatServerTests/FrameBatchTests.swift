import XCTest

@testable import ChatServer

final class FrameBatchTests: XCTestCase {
    func testTakeLeavesNothingBehind() {
        var batch = FrameBatch()
        batch.bytes = [1, 2, 3]
        batch.events = 1
        let taken = batch.take()
        XCTAssertEqual(taken.bytes, [1, 2, 3])
        XCTAssertEqual(taken.events, 1)
        XCTAssertTrue(batch.bytes.isEmpty)
        XCTAssertEqual(batch.events, 0)
    }

    func testRecycleKeepsCapacityOnlyWhenNothingWasBatchedMeanwhile() {
        var batch = FrameBatch()
        var taken = FrameBatch()
        taken.bytes = Array(repeating: 7, count: 1000)
        batch.recycle(&taken)
        XCTAssertTrue(batch.bytes.isEmpty)
        XCTAssertGreaterThanOrEqual(batch.bytes.capacity, 1000)

        var busy = FrameBatch()
        busy.bytes = [9]
        var other = FrameBatch()
        other.bytes = [1, 2]
        busy.recycle(&other)
        XCTAssertEqual(busy.bytes, [9], "a batch that got frames meanwhile keeps them")
    }

    func testRecycleDropsBuffersGrownPastTheLimit() {
        var batch = FrameBatch()
        var taken = FrameBatch()
        taken.bytes = Array(repeating: 0, count: 100)
        batch.recycle(&taken, limit: 10)
        XCTAssertEqual(batch.bytes.capacity, 0)
    }
}
