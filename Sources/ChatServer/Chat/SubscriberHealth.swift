import ChatCore

/// Health of the Redis connections: a stalled link is reset, and the subscriber
/// connection is checked with a heartbeat through Redis.
extension ChannelHub {
    /// Once a second: a Redis connection that is waiting for something (a command's
    /// reply, the heartbeat) and has heard nothing at all for `timeoutMillis` is
    /// stalled and is reset (it reconnects; meanwhile the server answers
    /// `unavailable` and /healthz 503) instead of hanging every op. A connection that
    /// is behind but still receiving is left alone: resetting it would only lose more.
    func checkRedis(now: UInt64, timeoutMillis: UInt64) {
        for link in [store.link, subscriber] { link.expireConnect(now: now, timeoutMillis: timeoutMillis) }
        for link in [store.link, subscriber] where link.oldestWait(now: now) > timeoutMillis && link.silence(now: now) > timeoutMillis {
            link.reset("no reply for over \(timeoutMillis) ms")
        }
        guard store.isAvailable, subscriber.isReady, heartbeatSubscribed else { return }
        if heartbeatSentAt != 0 {
            if now - heartbeatSentAt > timeoutMillis, subscriber.silence(now: now) > timeoutMillis {
                subscriber.reset("heartbeat not delivered within \(timeoutMillis) ms")
            }
            return
        }
        var args = RedisArgs()
        args.add("PUBLISH")
        args.add(heartbeatTopic)
        args.add("1")
        if store.link.send(args, { _ in }) { heartbeatSentAt = now }
    }
}
