import CLibevent

/// The worker's libevent base. One per process; nothing here is shared between threads.
public final class EventLoop {
    public let base: OpaquePointer
    public let preciseTimers: Bool

    /// `preciseTimers`: libevent otherwise reads the time from CLOCK_MONOTONIC_COARSE,
    /// which moves in scheduler ticks (4 ms on a 250 Hz kernel), so a 1 ms timer fires
    /// every 4 ms. The server's timers (seconds) do not care; a tool pacing messages does.
    public init(preciseTimers: Bool = false) {
        guard let config = event_config_new() else { fatalError("event_config_new failed") }
        defer { event_config_free(config) }
        if preciseTimers { event_config_set_flag(config, Int32(EVENT_BASE_FLAG_PRECISE_TIMER.rawValue)) }
        guard let base = event_base_new_with_config(config) else { fatalError("event_base_new failed") }
        self.base = base
        self.preciseTimers = preciseTimers
    }

    deinit { event_base_free(base) }

    /// Runs until `stop()` or until no events remain.
    public func run() { event_base_dispatch(base) }

    public func stop() { event_base_loopbreak(base) }
}

/// A libevent event that runs a Swift closure: a timer, a signal, or a "deferred"
/// event that is activated by hand to run once at the end of the current loop turn.
public final class LoopEvent {
    private var event: OpaquePointer?
    private let action: () -> Void

    public enum Kind {
        case timer(repeating: Bool)
        case signal(Int32)
        /// Activated with `trigger()`: runs after the callbacks already queued in this turn.
        case deferred
    }

    public init(_ loop: EventLoop, _ kind: Kind, _ action: @escaping () -> Void) {
        self.action = action
        let callback: event_callback_fn = { _, _, arg in
            Unmanaged<LoopEvent>.fromOpaque(arg!).takeUnretainedValue().action()
        }
        let context = Unmanaged.passUnretained(self).toOpaque()
        switch kind {
        case .timer(let repeating):
            event = event_new(loop.base, -1, repeating ? Int16(EV_PERSIST) : 0, callback, context)
        case .signal(let number):
            event = event_new(loop.base, number, Int16(EV_SIGNAL | EV_PERSIST), callback, context)
            event_add(event, nil)
        case .deferred:
            event = event_new(loop.base, -1, 0, callback, context)
        }
    }

    deinit { if let event { event_free(event) } }

    /// Starts (or restarts) a timer.
    public func schedule(milliseconds: Int) {
        var tv = timeval(tv_sec: milliseconds / 1000, tv_usec: Int((milliseconds % 1000) * 1000))
        event_add(event, &tv)
    }

    /// Queues a deferred event to run in this loop turn (no-op if already queued).
    public func trigger() { event_active(event, 0, 0) }

    public var isPending: Bool { event_pending(event, Int16(EV_TIMEOUT), nil) != 0 }

    public func cancel() { event_del(event) }
}

/// Watches one descriptor and runs a Swift closure when it becomes readable or
/// writable (for tools; the server's connections use libevent directly to stay small).
public final class FDWatcher {
    private var event: OpaquePointer?
    private let action: (_ readable: Bool, _ writable: Bool) -> Void
    public let fd: Int32

    /// `read`/`write`: which readiness to watch; persistent until `stop()`.
    public init(
        _ loop: EventLoop, fd: Int32, read: Bool, write: Bool,
        _ action: @escaping (_ readable: Bool, _ writable: Bool) -> Void
    ) {
        self.fd = fd
        self.action = action
        var flags = Int16(EV_PERSIST)
        if read { flags |= Int16(EV_READ) }
        if write { flags |= Int16(EV_WRITE) }
        event = event_new(
            loop.base, fd, flags,
            { _, what, arg in
                Unmanaged<FDWatcher>.fromOpaque(arg!).takeUnretainedValue().action(
                    what & Int16(EV_READ) != 0, what & Int16(EV_WRITE) != 0)
            }, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit { if let event { event_free(event) } }

    public func start() { event_add(event, nil) }
    public func stop() { event_del(event) }
}
