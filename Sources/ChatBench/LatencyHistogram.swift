/// Latencies in microseconds in log-linear buckets (about 0.2% wide above 1 ms, exact
/// below), mergeable across processes. Percentiles are reported as bucket upper bounds.
struct LatencyHistogram {
    private(set) var counts: [UInt64] = []
    private(set) var total: UInt64 = 0
    private(set) var maximum: UInt64 = 0

    static func index(_ v: UInt64) -> Int {
        if v < 1024 { return Int(v) }
        let e = 63 - v.leadingZeroBitCount - 9
        return 1024 + (e - 1) * 512 + Int((v >> UInt64(e)) - 512)
    }

    static func upperBound(_ index: Int) -> UInt64 {
        if index < 1024 { return UInt64(index) }
        let k = index - 1024
        let e = UInt64(k / 512 + 1)
        let sub = UInt64(k % 512 + 512)
        return (sub << e) + (1 << e) - 1
    }

    mutating func record(_ micros: UInt64) {
        let i = Self.index(micros)
        if i >= counts.count { counts.append(contentsOf: repeatElement(0, count: i + 1 - counts.count)) }
        counts[i] += 1
        total += 1
        if micros > maximum { maximum = micros }
    }

    mutating func merge(_ other: LatencyHistogram) {
        if other.counts.count > counts.count {
            counts.append(contentsOf: repeatElement(0, count: other.counts.count - counts.count))
        }
        for (i, c) in other.counts.enumerated() where c > 0 { counts[i] += c }
        total += other.total
        maximum = max(maximum, other.maximum)
    }

    /// Value below which `fraction` of the samples lie (microseconds).
    func percentile(_ fraction: Double) -> UInt64 {
        guard total > 0 else { return 0 }
        let rank = UInt64((Double(total) * fraction).rounded(.up))
        var seen: UInt64 = 0
        for (i, c) in counts.enumerated() where c > 0 {
            seen += c
            if seen >= max(rank, 1) { return min(Self.upperBound(i), maximum) }
        }
        return maximum
    }

    /// `i:count,i:count,...` for the pipe between processes.
    var sparse: String {
        counts.enumerated().filter { $0.element > 0 }.map { "\($0.offset):\($0.element)" }.joined(separator: ",")
    }

    init() {}

    init(sparse: String, maximum: UInt64) {
        for pair in sparse.split(separator: ",") {
            let parts = pair.split(separator: ":")
            guard parts.count == 2, let i = Int(parts[0]), let c = UInt64(parts[1]) else { continue }
            if i >= counts.count { counts.append(contentsOf: repeatElement(0, count: i + 1 - counts.count)) }
            counts[i] += c
            total += c
        }
        self.maximum = maximum
    }
}
