/// TRUSTED_PROXIES: the reverse proxies (addresses or CIDR ranges, IPv4 and IPv6) whose
/// `X-Forwarded-For` is believed. A request whose TCP peer is one of them is counted
/// for the client the header names — the rightmost address that is not a trusted
/// proxy itself (anything left of it could be made up by the client) — in the limits
/// per address (connections, API requests, password attempts). Any other peer is the
/// client, whatever it sends. Empty: no proxy is trusted.
public struct ProxyPolicy: Equatable, Sendable {
    struct Range: Equatable, Sendable {
        let bytes: [UInt8]
        let prefix: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var left = prefix
            for k in 0..<bytes.count where left > 0 {
                let bits = min(8, left)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if address[k] & mask != bytes[k] & mask { return false }
                left -= bits
            }
            return true
        }
    }

    private let ranges: [Range]

    /// Nil when an entry is not an IP address or range.
    public init?(_ text: String) {
        var ranges: [Range] = []
        for raw in text.split(separator: ",") {
            let entry = String(raw).trimmingWhitespace()
            if entry.isEmpty { continue }
            let parts = entry.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let bytes = Self.parse(String(parts[0])) else { return nil }
            var prefix = bytes.count * 8
            if parts.count == 2 {
                guard let p = Int(parts[1]), p >= 0, p <= prefix, parts[1].allSatisfy(\.isASCII) else { return nil }
                prefix = p
            }
            ranges.append(Range(bytes: bytes, prefix: prefix))
        }
        self.ranges = ranges
    }

    public var isEmpty: Bool { ranges.isEmpty }

    public func trusts(_ address: String) -> Bool {
        guard !ranges.isEmpty, let bytes = Self.parse(address) else { return false }
        return ranges.contains { $0.contains(bytes) }
    }

    /// The client of a request from `peer` carrying `forwardedFor` (the values of its
    /// X-Forwarded-For headers, in order).
    public func clientAddress(peer: String, forwardedFor: [String]) -> String {
        guard trusts(peer) else { return peer }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { String($0).trimmingWhitespace() }
        var client = peer
        for hop in hops.reversed() {
            guard let address = Self.canonical(hop) else { break }  // garbage: stop at the last good hop
            client = address
            if !trusts(address) { break }
        }
        return client
    }

    /// One spelling per address (so that `010.0.0.1` or a port cannot make one client
    /// several): IPv4 dotted decimal, IPv6 lowercase groups; a port (`1.2.3.4:80`,
    /// `[::1]:80`) left out. Nil when it is no address.
    static func canonical(_ hop: String) -> String? {
        var text = hop
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {  // [v6] or [v6]:port
            text = String(text[text.index(after: text.startIndex)..<close])
        } else if text.contains("."), let colon = text.lastIndex(of: ":"), text.filter({ $0 == ":" }).count == 1 {
            text = String(text[..<colon])  // v4:port
        }
        guard let bytes = parse(text) else { return nil }
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            .joined(separator: ":")
    }

    /// 4 or 16 bytes, or nil.
    static func parse(_ text: String) -> [UInt8]? {
        if text.contains(":") { return parseIPv6(text) }
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for o in octets {
            guard !o.isEmpty, o.count <= 3, o.allSatisfy({ $0.isASCII && $0.isNumber }), let v = UInt8(o) else {
                return nil
            }
            bytes.append(v)
        }
        return bytes
    }

    private static func parseIPv6(_ text: String) -> [UInt8]? {
        let halves = text.split(separator: "::", omittingEmptySubsequences: false).map(String.init)
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            for g in s.split(separator: ":", omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}
