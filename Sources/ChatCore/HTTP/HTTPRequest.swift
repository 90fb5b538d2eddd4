/// A parsed request head. Header names are lowercased; the path and query are
/// percent-decoded (and guaranteed to be valid UTF-8).
public struct HTTPRequest: Sendable {
    public var method: String
    public var target: String
    public var path: String
    public var query: [(name: String, value: String)]
    /// 1 for HTTP/1.1, 0 for HTTP/1.0.
    public var minorVersion: Int
    public var headers: [(name: String, value: String)]

    public init(
        method: String, target: String, path: String, query: [(name: String, value: String)], minorVersion: Int,
        headers: [(name: String, value: String)]
    ) {
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.minorVersion = minorVersion
        self.headers = headers
    }

    /// First value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let key = name.lowercased()
        return headers.first { $0.name == key }?.value
    }

    /// Every value of header `name` (case-insensitive), in the order received: one
    /// per field line, so a repeated header shows as several values.
    public func headerValues(_ name: String) -> [String] {
        let key = name.lowercased()
        return headers.compactMap { $0.name == key ? $0.value : nil }
    }

    /// Whether a comma-separated header (Connection, Upgrade) lists `token`, case-insensitively.
    public func headerHasToken(_ name: String, _ token: String) -> Bool {
        let key = name.lowercased()
        let wanted = token.lowercased()
        for (n, v) in headers where n == key {
            for part in v.split(separator: ",") where part.trimmingSpaces().lowercased() == wanted { return true }
        }
        return false
    }

    /// First value of query parameter `name`.
    public func queryValue(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }
}

/// A request the server refuses; `status` is the HTTP status to answer with.
public struct HTTPError: Error, Equatable, Sendable {
    public let status: Int
    public let message: String
    public init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}

extension String {
    /// The string without leading and trailing whitespace (Unicode White_Space).
    public func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let end = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[start...end])
    }
}
