import EventIO

/// The end of each loop turn (Redis's `beforeSleep`, libevent's deferred event): the
/// one place where output is written and closed connections are torn down, so that
/// nothing is written from inside a callback and no callback further up the stack
/// touches a freed buffer. Its phases run in this order:
///
/// 1. `flushConnections`: each dirty connection's own output (replies, errors), one
///    write each; a flush can make another connection dirty, which is flushed too.
/// 2. `replays`: history replays whose turn has come (joins; see `HistoryReads`).
/// 3. `channelBatches`: each channel's batch of this turn, one write per member.
/// 4. `relief`: when Redis was relieved, held connections read again.
/// 5. `reaping`: connections closed during the turn leave the table and free their socket.
/// 6. `turnEnded`: what checks the turn's outcome (shutdown progress).
///
/// The composition root plugs the chat's and the runtime's work into the hooks.
final class TurnScheduler {
    private var event: LoopEvent!
    private var scheduled = false
    /// Connections with output for this turn's flush.
    private var dirty: [Connection] = []
    /// Chat connections not read while the Redis command link is congested.
    private var held: [Connection] = []
    private var relieved = false
    /// Connections closed during this turn.
    private var doomed: [Connection] = []

    /// Phase 0: the turn's counters start over (evictions).
    var turnStarted: () -> Void = {}
    /// Phase 2.
    var replays: () -> Void = {}
    /// Phase 3.
    var channelBatches: () -> Void = {}
    /// Phase 4, after the held connections were released.
    var redisRelieved: () -> Void = {}
    /// Phase 5, for each closed connection: out of the table, socket freed.
    var tearDown: (Connection) -> Void = { _ in }
    /// Phase 6.
    var turnEnded: () -> Void = {}

    init(loop: EventLoop) {
        event = LoopEvent(loop, .deferred) { [unowned self] in self.run() }
    }

    /// Runs the phases at the end of this turn (once, however often it is asked).
    func schedule() {
        guard !scheduled else { return }
        scheduled = true
        event.trigger()
    }

    /// Runs the phases at the end of this turn even if already asked (shutdown).
    func trigger() {
        event.trigger()
    }

    /// `conn` has output for this turn's flush (it keeps its own `isDirty` mark).
    func markDirty(_ conn: Connection) {
        dirty.append(conn)
        schedule()
    }

    /// A chat connection whose reading waits for Redis to be relieved.
    func hold(_ conn: Connection) { held.append(conn) }

    /// Redis is relieved: held connections read again at the end of the turn.
    func relieve() {
        relieved = true
        schedule()
    }

    /// Schedules a closed connection's teardown for the end of this turn.
    func reap(_ conn: Connection) {
        doomed.append(conn)
        schedule()
    }

    private func run() {
        scheduled = false
        turnStarted()
        var i = 0
        while i < dirty.count {  // a flush can make another connection dirty (never this list shrinks)
            let conn = dirty[i]
            conn.isDirty = false
            conn.flush()
            i += 1
        }
        dirty.removeAll(keepingCapacity: dirty.count < 4_096)
        replays()
        channelBatches()
        if relieved {
            relieved = false
            let waiting = held
            held = []
            for conn in waiting { conn.release() }
            redisRelieved()
        }
        for conn in doomed { tearDown(conn) }
        doomed.removeAll()
        turnEnded()
    }
}
