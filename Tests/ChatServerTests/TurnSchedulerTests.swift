import EventIO
import XCTest

@testable import ChatServer

/// The end-of-turn phases run once per turn, in their documented order.
final class TurnSchedulerTests: XCTestCase {
    private func scheduler(_ loop: EventLoop, log: @escaping (String) -> Void) -> TurnScheduler {
        let turn = TurnScheduler(loop: loop)
        turn.turnStarted = { log("started") }
        turn.replays = { log("replays") }
        turn.channelBatches = { log("batches") }
        turn.redisRelieved = { log("relieved") }
        turn.turnEnded = { log("ended") }
        return turn
    }

    func testPhasesRunInOrderOncePerTurn() {
        let loop = EventLoop()
        var log: [String] = []
        let turn = scheduler(loop) { log.append($0) }
        turn.schedule()
        turn.schedule()  // asked twice, run once
        loop.run()  // runs the active event, then returns: nothing else is pending
        XCTAssertEqual(log, ["started", "replays", "batches", "ended"])
    }

    func testReliefRunsAfterTheBatchesOnlyWhenRedisWasRelieved() {
        let loop = EventLoop()
        var log: [String] = []
        let turn = scheduler(loop) { log.append($0) }
        turn.relieve()
        loop.run()
        XCTAssertEqual(log, ["started", "replays", "batches", "relieved", "ended"])
        log = []
        turn.schedule()
        loop.run()
        XCTAssertEqual(log, ["started", "replays", "batches", "ended"])
    }

    func testAPhaseCanScheduleTheNextTurn() {
        let loop = EventLoop()
        var log: [String] = []
        let turn = scheduler(loop) { log.append($0) }
        var again = true
        turn.turnEnded = { [unowned turn] in
            log.append("ended")
            if again {
                again = false
                turn.schedule()
            }
        }
        turn.schedule()
        loop.run()
        XCTAssertEqual(log, ["started", "replays", "batches", "ended", "started", "replays", "batches", "ended"])
    }
}
