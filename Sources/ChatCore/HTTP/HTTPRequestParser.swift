/// Bounds on a request head. Defaults are generous for browsers (cookies included)
/// and small enough that a connection that never finishes its head costs little.
public struct HTTPLimits: Sendable {
    /// Request line plus headers, including line ends. Past it: 431.
    public var maxHeadBytes = 8192
    /// Past it: 431.
    public var maxHeaderCount = 64
    /// Past it: 414.
    public var maxRequestLineBytes = 4096

    public init(maxHeadBytes: Int = 8192, maxHeaderCount: Int = 64, maxRequestLineBytes: Int = 4096) {
        self.maxHeadBytes = maxHeadBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxRequestLineBytes = maxRequestLineBytes
    }
}

public enum HTTPParseResult {
    case needMore
    /// The head is complete; `leftover` holds bytes that followed it (for example the
    /// first WebSocket frames of an eager client).
    case complete(HTTPRequest, leftover: [UInt8])
    case failure(HTTPError)
}

/// Incremental HTTP/1.x request-head parser. Bytes accumulate until the blank line
/// that ends the head (already-scanned bytes are not scanned again), with every
/// limit checked as bytes arrive; then the head is parsed in one pass.
public struct HTTPRequestParser: Sendable {
    public let limits: HTTPLimits
    private var buffer: [UInt8] = []
    private var scanned = 0
    private var sawRequestLineEnd = false

    public init(limits: HTTPLimits = HTTPLimits()) { self.limits = limits }

    /// Bytes held so far (for memory accounting and tests).
    public var bufferedBytes: Int { buffer.count }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> HTTPParseResult {
        // Garbage fails fast: a request starts with a method token (or blank lines).
        if buffer.isEmpty, let first = bytes.first, !(HTTPSyntax.isTokenChar(first) || first == 13 || first == 10) {
            return .failure(HTTPError(400, "malformed request"))
        }
        buffer.append(contentsOf: bytes)
        var i = max(scanned, 0)
        while i < buffer.count {
            if buffer[i] == 10 {  // LF
                if !sawRequestLineEnd, !isBlankPrefix(upTo: i) { sawRequestLineEnd = true }
                // End of head: LF followed by an empty line (CRLF or LF).
                if sawRequestLineEnd {
                    if i + 1 < buffer.count, buffer[i + 1] == 10 { return finish(headEnd: i + 2) }
                    if i + 2 < buffer.count, buffer[i + 1] == 13, buffer[i + 2] == 10 { return finish(headEnd: i + 3) }
                    if i + 2 >= buffer.count { break }  // wait: the next bytes decide
                }
            }
            i += 1
        }
        scanned = i
        // Before its LF, the request line is what follows any blank lines, plus
        // perhaps its CR: neither counts against the limit.
        if !sawRequestLineEnd {
            let blank = buffer.prefix { $0 == 13 || $0 == 10 }.count
            if buffer.count - blank - (buffer.last == 13 ? 1 : 0) > limits.maxRequestLineBytes {
                return .failure(HTTPError(414, "request line too long"))
            }
        }
        if buffer.count > limits.maxHeadBytes { return .failure(HTTPError(431, "request header fields too large")) }
        return .needMore
    }

    private func isBlankPrefix(upTo index: Int) -> Bool {
        buffer[0..<index].allSatisfy { $0 == 13 || $0 == 10 }
    }

    private mutating func finish(headEnd: Int) -> HTTPParseResult {
        if headEnd > limits.maxHeadBytes { return .failure(HTTPError(431, "request header fields too large")) }
        let leftover = Array(buffer[headEnd...])
        let result = HTTPSyntax.parseHead(buffer[0..<headEnd], limits: limits)
        buffer = []
        scanned = 0
        sawRequestLineEnd = false
        switch result {
        case .success(let request): return .complete(request, leftover: leftover)
        case .failure(let error): return .failure(error)
        }
    }
}

enum HTTPSyntax {
    /// RFC 9110 tchar.
    static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default: return Array("!#$%&'*+-.^_`|~".utf8).contains(c)
        }
    }

    static func parseHead(_ head: ArraySlice<UInt8>, limits: HTTPLimits) -> Result<HTTPRequest, HTTPError> {
        // Split into lines, dropping a CR before each LF; skip leading blank lines.
        var lines: [ArraySlice<UInt8>] = []
        var start = head.startIndex
        for i in head.indices where head[i] == 10 {
            var end = i
            if end > start, head[end - 1] == 13 { end -= 1 }
            let line = head[start..<end]
            if !(lines.isEmpty && line.isEmpty) { lines.append(line) }
            start = i + 1
        }
        while let last = lines.last, last.isEmpty { lines.removeLast() }
        guard let requestLine = lines.first else { return .failure(HTTPError(400, "empty request")) }
        if requestLine.count > limits.maxRequestLineBytes { return .failure(HTTPError(414, "request line too long")) }

        let parts = requestLine.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(isTokenChar) else {
            return .failure(HTTPError(400, "malformed request line"))
        }
        let method = String(decoding: parts[0], as: UTF8.self)
        let target = parts[1]
        guard target.first == UInt8(ascii: "/"), target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(HTTPError(400, "malformed request target"))
        }
        let version = Array(parts[2])
        let minor: Int
        switch version {
        case Array("HTTP/1.1".utf8): minor = 1
        case Array("HTTP/1.0".utf8): minor = 0
        default:
            if version.count == 8, version.starts(with: Array("HTTP/".utf8)) {
                return .failure(HTTPError(505, "HTTP version not supported"))
            }
            return .failure(HTTPError(400, "malformed HTTP version"))
        }

        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            if line.first == 32 || line.first == 9 { return .failure(HTTPError(400, "obsolete header line folding")) }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                line[line.startIndex..<colon].allSatisfy(isTokenChar)
            else {
                return .failure(HTTPError(400, "malformed header line"))
            }
            var value = line[(colon + 1)...]
            while let f = value.first, f == 32 || f == 9 { value.removeFirst() }
            while let l = value.last, l == 32 || l == 9 { value.removeLast() }
            guard value.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 9 }) else {
                return .failure(HTTPError(400, "control character in a header value"))
            }
            headers.append(
                (
                    String(decoding: line[line.startIndex..<colon], as: UTF8.self).lowercased(),
                    String(decoding: value, as: UTF8.self)
                ))
            if headers.count > limits.maxHeaderCount { return .failure(HTTPError(431, "too many header fields")) }
        }

        let targetBytes = Array(target)
        let q = targetBytes.firstIndex(of: UInt8(ascii: "?"))
        guard let path = URLEncoding.decode(targetBytes[..<(q ?? targetBytes.endIndex)], plusAsSpace: false) else {
            return .failure(HTTPError(400, "malformed percent-encoding in the path"))
        }
        var query: [(name: String, value: String)] = []
        if let q {
            guard let parsed = URLEncoding.parseQuery(targetBytes[(q + 1)...]) else {
                return .failure(HTTPError(400, "malformed query string"))
            }
            query = parsed
        }
        return .success(
            HTTPRequest(
                method: method, target: String(decoding: target, as: UTF8.self), path: path, query: query,
                minorVersion: minor, headers: headers))
    }
}
