/// A token bucket per client address, for limits that must hold across a client's
/// connections (HTTP API requests, password attempts): `rate` per second in bursts of
/// `capacity`. Bounded: at `maxEntries` addresses the idle ones (buckets that have
/// refilled, so forgetting them changes nothing) are dropped, and if that is not
/// enough, all are. IPv6 addresses count by their /64 prefix, which one subscriber
/// usually holds whole.
public struct AddressBuckets: Sendable {
    public let rate: Double
    public let capacity: Double
    public let maxEntries: Int
    private var buckets: [String: TokenBucket] = [:]

    public init(rate: Double, capacity: Double, maxEntries: Int = 100_000) {
        self.rate = rate
        self.capacity = capacity
        self.maxEntries = max(maxEntries, 1)
    }

    public var count: Int { buckets.count }

    /// Takes `cost` tokens for `address` if it has them.
    public mutating func take(_ address: String, cost: Double = 1, now: UInt64) -> Bool {
        let key = Self.key(address)
        if buckets[key] == nil, buckets.count >= maxEntries { evictIdle(now: now) }
        var bucket = buckets[key] ?? TokenBucket(rate: rate, capacity: capacity, now: now)
        let allowed = bucket.take(cost, now: now)
        buckets[key] = bucket
        return allowed
    }

    private mutating func evictIdle(now: UInt64) {
        buckets = buckets.filter { !$0.value.isFull(now: now) }
        if buckets.count * 2 >= maxEntries { buckets.removeAll(keepingCapacity: true) }
    }

    /// The address an allowance is counted for: IPv4 as is, IPv6 by its first four
    /// groups (the /64).
    public static func key(_ address: String) -> String {
        guard address.contains(":") else { return address }
        if address.contains("."), let v4 = address.split(separator: ":").last { return String(v4) }  // ::ffff:1.2.3.4
        var groups = address.split(separator: ":", omittingEmptySubsequences: false)
        if let gap = groups.firstIndex(of: "") {  // expand "::"
            let missing = 8 - groups.filter { !$0.isEmpty }.count
            groups.removeAll { $0.isEmpty }
            groups.insert(contentsOf: Array(repeating: "0", count: missing), at: min(gap, groups.count))
        }
        return groups.prefix(4).joined(separator: ":") + "::/64"
    }
}
