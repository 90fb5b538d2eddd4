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
    public mutating func take(now: UInt64) -> Bool { take(1, now: now) }

    /// Takes `cost` tokens if there are that many (a cost above the capacity is taken
    /// from a full bucket, which then owes the rest: one big message still goes, and
    /// the next waits for the refill).
    public mutating func take(_ cost: Double, now: UInt64) -> Bool {
        refill(now: now)
        guard tokens >= min(cost, capacity) else { return false }
        tokens -= cost
        return true
    }

    /// Whether the bucket has refilled completely (its owner is idle).
    public func isFull(now: UInt64) -> Bool {
        var copy = self
        copy.refill(now: now)
        return copy.tokens >= capacity
    }

    private mutating func refill(now: UInt64) {
        if now > updated {
            tokens = min(capacity, tokens + Double(now - updated) * rate / 1000)
            updated = now
        }
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
    /// Bytes of chat messages as stored (`bytesPerSecond`, in bursts of eight times
    /// that); nil: not limited.
    private var bytes: TokenBucket?
    public static let byteBurstSeconds = 8.0

    public init(rate: Double, burst: Double, bytesPerSecond: Double = 0, now: UInt64) {
        messages = TokenBucket(rate: rate, capacity: burst, now: now)
        patience = TokenBucket(rate: rate / 4, capacity: burst, now: now)
        if bytesPerSecond > 0 {
            bytes = TokenBucket(rate: bytesPerSecond, capacity: bytesPerSecond * Self.byteBurstSeconds, now: now)
        }
    }

    /// Whether a message of `size` bytes (as stored) may go now.
    public mutating func admitBytes(_ size: Int, now: UInt64) -> Bool {
        guard bytes != nil else { return true }
        return bytes!.take(Double(size), now: now)
    }

    public mutating func check(now: UInt64) -> Verdict {
        if messages.take(now: now) { return .allow }
        return patience.take(now: now) ? .refuse : .flooding
    }
}
