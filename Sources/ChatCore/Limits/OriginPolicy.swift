/// Which browser origins may open a WebSocket (`ALLOWED_ORIGINS`). Empty means any.
/// Entries are full origins (`https://chat.example.com`, `http://localhost:8080`),
/// `https://*.example.com` for any subdomain, or `*`. Requests without an Origin
/// header (non-browser clients) are allowed: the header is how browsers, and only
/// browsers, declare the page that opened the socket.
public struct OriginPolicy: Equatable, Sendable {
    private let exact: Set<String>
    private let suffixes: [(scheme: String, suffix: String)]
    private let allowAll: Bool

    public static func == (a: OriginPolicy, b: OriginPolicy) -> Bool {
        a.exact == b.exact && a.allowAll == b.allowAll
            && a.suffixes.map { $0.scheme + $0.suffix } == b.suffixes.map { $0.scheme + $0.suffix }
    }

    /// Parses a comma-separated list; returns nil with an invalid entry.
    public init?(_ list: String) {
        var exact: Set<String> = []
        var suffixes: [(String, String)] = []
        var all = false
        for raw in list.split(separator: ",") {
            let entry = String(raw.trimmingSpaces()).lowercased()
            if entry.isEmpty { continue }
            if entry == "*" {
                all = true
                continue
            }
            guard let schemeEnd = entry.range(ofPrefix: "://"), !entry.hasSuffix("/") else { return nil }
            let scheme = String(entry[..<schemeEnd.lowerBound])
            let host = String(entry[schemeEnd.upperBound...])
            guard scheme == "http" || scheme == "https", !host.isEmpty else { return nil }
            if host.hasPrefix("*.") {
                suffixes.append((scheme, String(host.dropFirst(1))))  // ".example.com"
            } else {
                exact.insert(entry)
            }
        }
        self.exact = exact
        self.suffixes = suffixes
        self.allowAll = all || (exact.isEmpty && suffixes.isEmpty)
    }

    public var allowsEverything: Bool { allowAll }

    /// Whether a request with this Origin header value (nil: none) may connect.
    public func allows(_ origin: String?) -> Bool {
        guard !allowAll, let origin else { return true }
        let o = origin.lowercased()
        if exact.contains(o) { return true }
        for (scheme, suffix) in suffixes where o.hasPrefix(scheme + "://") && o.hasSuffix(suffix) {
            return true
        }
        return false
    }
}

extension String {
    /// Range of the first occurrence of `marker` (small helper; the standard library has no `range(of:)`).
    func range(ofPrefix marker: String) -> Range<String.Index>? {
        var start = startIndex
        while start < endIndex {
            if self[start...].hasPrefix(marker) { return start..<index(start, offsetBy: marker.count) }
            start = index(after: start)
        }
        return nil
    }
}
