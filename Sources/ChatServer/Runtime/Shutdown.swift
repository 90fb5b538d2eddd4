import ChatCore
import EventIO
import Glibc

extension Worker {
    /// SIGTERM/SIGINT: stop accepting, tell every chat client (a system notice, then
    /// close 1001), leave its channels (so other instances see the leave notices),
    /// wait for those Redis writes and for the clients to hang up, then stop, within
    /// SHUTDOWN_TIMEOUT. A second signal stops at once (exit code 1).
    func beginShutdown(signal: Int32) {
        if isShuttingDown {
            logger.warn("second signal, exiting now")
            exit(1)
        }
        isShuttingDown = true
        logger.info(
            "shutting down",
            [("signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"), ("connections", String(connections.count))])
        listener?.stop()
        ownListener?.stop()
        let notice = ServerEvents.shutdownNotice()
        for conn in connections { conn.shutdown(notice: notice) }
        logger.info(
            "shutdown: clients told, waiting for them and for redis", [("redis_in_flight", String(hub.store.inFlight))])
        shutdownDeadline = Platform.monotonicMillis() + UInt64(config.shutdownTimeoutMillis)
        shutdownPoll = LoopEvent(loop, .timer(repeating: true)) { [unowned self] in self.checkShutdownDone() }
        shutdownPoll?.schedule(milliseconds: 50)
        turn.trigger()
    }

    func checkShutdownDone() {
        var done = connections.isEmpty && hub.store.inFlight == 0
        if done && !unregistered && hub.store.isAvailable {
            // Every member has left: take this instance out of the registry, then stop.
            unregistered = true
            registry.unregister()
            done = false
        }
        guard done || Platform.monotonicMillis() >= shutdownDeadline else { return }
        if !done {
            logger.warn(
                "shutdown deadline reached",
                [("connections", String(connections.count)), ("redis_in_flight", String(hub.store.inFlight))])
        }
        logger.info("shutdown: closing redis connections")
        shutdownPoll?.cancel()
        housekeeping.cancel()
        commands.close()
        subscriber.close()
        loop.stop()
    }
}
