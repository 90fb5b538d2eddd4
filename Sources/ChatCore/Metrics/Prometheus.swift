/// Writes the Prometheus text exposition format (version 0.0.4).
public struct PrometheusWriter {
    public private(set) var text = ""

    public init() {}

    public mutating func counter(_ name: String, _ help: String, _ value: UInt64, labels: [(String, String)] = []) {
        header(name, help, "counter")
        sample(name, labels, String(value))
    }

    /// A counter family with one sample per label value (e.g. closes by reason).
    public mutating func counters(_ name: String, _ help: String, label: String, _ values: [(String, UInt64)]) {
        header(name, help, "counter")
        for (value, count) in values { sample(name, [(label, value)], String(count)) }
    }

    public mutating func gauge(_ name: String, _ help: String, _ value: Double) {
        header(name, help, "gauge")
        sample(name, [], Self.format(value))
    }

    public mutating func histogram(_ name: String, _ help: String, _ h: Histogram) {
        header(name, help, "histogram")
        var cumulative: UInt64 = 0
        for (bound, count) in zip(h.bounds, h.counts) {
            cumulative += count
            sample(name + "_bucket", [("le", Self.format(bound))], String(cumulative))
        }
        sample(name + "_bucket", [("le", "+Inf")], String(h.count))
        sample(name + "_sum", [], Self.format(h.sum))
        sample(name + "_count", [], String(h.count))
    }

    private mutating func header(_ name: String, _ help: String, _ type: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    private mutating func sample(_ name: String, _ labels: [(String, String)], _ value: String) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " " + value + "\n"
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }

    static func format(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }
}

/// A fixed-bucket histogram (non-cumulative counts per bucket, plus sum and count).
public struct Histogram: Sendable {
    public let bounds: [Double]
    public private(set) var counts: [UInt64]
    public private(set) var sum: Double = 0
    public private(set) var count: UInt64 = 0

    public init(bounds: [Double]) {
        self.bounds = bounds
        self.counts = Array(repeating: 0, count: bounds.count)
    }

    public mutating func observe(_ value: Double) {
        sum += value
        count += 1
        if let i = bounds.firstIndex(where: { value <= $0 }) { counts[i] += 1 }
    }

    /// Seconds, from 100 µs to 2.5 s: Redis round trips on a LAN are well under a millisecond.
    public static func latencySeconds() -> Histogram {
        Histogram(bounds: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5])
    }
}
