import CLibevent
import Glibc
import Testing

@testable import EventIO

/// The loop's clock. chat-bench paces its publisher with a 1 ms timer; libevent reads
/// CLOCK_MONOTONIC_COARSE unless told otherwise, and that clock moves in scheduler ticks
/// (4 ms on a 250 Hz kernel), so the timer fired every 4 ms and the "fixed rate" went out
/// in bursts of four. These read the loop's own notion of now, inside a callback, a
/// busy-waited 300 µs apart: no assertion depends on how fast the machine is.
@Suite struct EventLoopTests {
    static let gapMicros = 300

    /// Steps between successive readings of the loop's cached time, in µs.
    func loopClockSteps(preciseTimers: Bool, samples: Int = 12) -> [Int] {
        let loop = EventLoop(preciseTimers: preciseTimers)
        var steps: [Int] = []
        var reader: LoopEvent?
        reader = LoopEvent(loop, .deferred) {
            var last = -1
            for _ in 0..<samples {
                event_base_update_cache_time(loop.base)
                var tv = timeval()
                event_base_gettimeofday_cached(loop.base, &tv)
                let micros = tv.tv_sec * 1_000_000 + tv.tv_usec
                if last >= 0 { steps.append(micros - last) }
                last = micros
                Self.spin(micros: Self.gapMicros)
            }
        }
        reader?.trigger()
        loop.run()
        reader = nil
        return steps
    }

    static func spin(micros: Int) {
        var start = timespec()
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        repeat {
            clock_gettime(CLOCK_MONOTONIC, &now)
        } while (now.tv_sec - start.tv_sec) * 1_000_000 + (now.tv_nsec - start.tv_nsec) / 1_000 < micros
    }

    static var coarseResolutionMicros: Int {
        var res = timespec()
        clock_getres(CLOCK_MONOTONIC_COARSE, &res)
        return res.tv_sec * 1_000_000 + res.tv_nsec / 1_000
    }

    @Test func preciseLoopClockSeesEveryGap() {
        let steps = loopClockSteps(preciseTimers: true)
        #expect(steps.count == 11)
        // Every 300 µs wait shows up as (at least) 300 µs on the loop's clock: a coarse
        // clock would show most of them as 0 and the rest as whole ticks.
        #expect(steps.allSatisfy { $0 >= Self.gapMicros - 1 }, "steps \(steps)")
    }

    /// Why the flag exists (the server keeps the default: its timers are in seconds).
    /// Only where the coarse clock is coarser than the gap (a 1,000 Hz kernel's is 1 ms).
    @Test(.enabled(if: EventLoopTests.coarseResolutionMicros > 2 * EventLoopTests.gapMicros))
    func defaultLoopClockMovesInTicks() {
        let steps = loopClockSteps(preciseTimers: false)
        #expect(steps.contains(0), "steps \(steps)")
    }
}
