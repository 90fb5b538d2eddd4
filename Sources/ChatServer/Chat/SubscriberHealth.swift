import ChatCore

/// Health of the Redis connections: a stalled link is reset, and the subscriber
/// connection is checked with a heartbeat through Redis — once a second this instance
/// publishes on its own heartbeat topic and expects the message back within
/// REDIS_TIMEOUT.
struct SubscriberHealth {
    /// `<prefix>:{*}:heartbeat:<instance>`.
    let topic: [UInt8]
    /// The subscriber connection confirmed the heartbeat topic.
    private(set) var subscribed = false
    /// When the heartbeat in flight was published (0: none in flight).
    private var sentAt: UInt64 = 0

    init(topic: [UInt8]) {
        self.topic = topic
    }

    func isHeartbeat(_ topic: UnsafeRawBufferPointer) -> Bool {
        self.topic.withUnsafeBytes { $0.elementsEqual(topic) }
    }

    /// The heartbeat came back.
    mutating func heard() { sentAt = 0 }

    /// The subscriber connection confirmed the heartbeat topic.
    mutating func confirmed() { subscribed = true }

    /// The subscriber connection is (again) ready: the topic is being subscribed.
    mutating func restarted() { sentAt = 0 }

    /// The subscriber connection was lost.
    mutating func lost() {
        subscribed = false
        sentAt = 0
    }

    /// Once a second: a Redis connection that is waiting for something (a command's
    /// reply, the heartbeat) and has heard nothing at all for `timeoutMillis` is
    /// stalled and is reset (it reconnects; meanwhile the server answers
    /// `unavailable` and /healthz 503) instead of hanging every op. A connection that
    /// is behind but still receiving is left alone: resetting it would only lose more.
    mutating func check(
        now: UInt64, timeoutMillis: UInt64, commands: RedisLink, subscriber: RedisLink, storeAvailable: Bool
    ) {
        for link in [commands, subscriber] { link.expireConnect(now: now, timeoutMillis: timeoutMillis) }
        for link in [commands, subscriber]
        where link.oldestWait(now: now) > timeoutMillis && link.silence(now: now) > timeoutMillis {
            link.reset("no reply for over \(timeoutMillis) ms")
        }
        guard storeAvailable, subscriber.isReady, subscribed else { return }
        if sentAt != 0 {
            if now - sentAt > timeoutMillis, subscriber.silence(now: now) > timeoutMillis {
                subscriber.reset("heartbeat not delivered within \(timeoutMillis) ms")
            }
            return
        }
        var args = RedisArgs()
        args.add("PUBLISH")
        args.add(topic)
        args.add("1")
        if commands.send(args, { _ in }) { sentAt = now }
    }
}
