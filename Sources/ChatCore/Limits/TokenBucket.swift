/// A token bucket: `rate` tokens per second up to `capacity`; time is passed in
/// (monotonic milliseconds), so it is pure and testable.
public struct TokenBucket: Sendable {
    public let rate: Double
    public let capacity: Double
    private var tokens: Double
    private var updated: UInt64

    public init(rate: Double, capacity: Double, now: UInt64) {
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = now
    }

    /// Takes one token if there is one.
    public mutating func take(now: UInt64) -> Bool {
        if now > updated {
            tokens = min(capacity, tokens + Double(now - updated) * rate / 1000)
            updated = now
        }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}

/// Message rate limiting of one connection: `rate` messages per second with bursts of
/// `burst`. An over-limit message is refused (the client gets `rate_limited`); a client
/// that keeps sending over the limit is flooding: each refusal also draws on a patience
/// bucket of `burst` that refills at a quarter of the rate, and when it is empty the
/// connection is closed. Someone who overshoots briefly only sees errors; a script
/// that sends at twice the rate is cut off after about 4 × burst / rate seconds.
public struct MessageRateLimiter: Sendable {
    public enum Verdict: Hashable, Sendable { case allow, refuse, flooding }

    private var messages: TokenBucket
    private var patience: TokenBucket

    public init(rate: Double, burst: Double, now: UInt64) {
        messages = TokenBucket(rate: rate, capacity: burst, now: now)
        patience = TokenBucket(rate: rate / 4, capacity: burst, now: now)
    }

    public mutating func check(now: UInt64) -> Verdict {
        if messages.take(now: now) { return .allow }
        return patience.take(now: now) ? .refuse : .flooding
    }
}
