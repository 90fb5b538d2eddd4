/// The web client's files, held in memory and served from there: a request can only
/// name a file that was loaded at start (no file system access per request, so no
/// path traversal). Caching: `Cache-Control: no-cache` with a strong `ETag`, so a
/// browser revalidates every load (a deploy shows at once) and gets a 304 without the
/// body when nothing changed.
public struct StaticSite: Sendable {
    public struct Asset: Sendable {
        public let body: [UInt8]
        public let contentType: String
        public let etag: String
    }

    /// URL path ("/app.js") → file; "/" is index.html.
    public private(set) var assets: [String: Asset] = [:]
    public private(set) var totalBytes = 0
    public private(set) var fileCount = 0

    /// Limits on what `add` accepts (a folder of the wrong thing must not eat memory).
    public static let maxFileBytes = 2 * 1_048_576
    public static let maxTotalBytes = 16 * 1_048_576
    public static let maxFiles = 256

    public init() {}

    public var isEmpty: Bool { assets.isEmpty }

    /// The content type of a file name by its extension; nil for types not served.
    public static func contentType(of name: String) -> String? {
        guard let dot = name.lastIndex(of: ".") else { return nil }
        switch name[name.index(after: dot)...].lowercased() {
        case "html", "htm": return "text/html; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "json": return "application/json"
        case "webmanifest": return "application/manifest+json"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "ico": return "image/x-icon"
        case "txt": return "text/plain; charset=utf-8"
        case "woff2": return "font/woff2"
        default: return nil
        }
    }

    public enum AddError: Error, Equatable { case unsupportedType, tooLarge, tooMany }

    /// Adds a file under its URL path (which must start with "/"). `index.html` of the
    /// top folder is also served at "/".
    public mutating func add(path: String, body: [UInt8]) throws(AddError) {
        guard let type = Self.contentType(of: path) else { throw .unsupportedType }
        let replaced = assets[path]
        guard body.count <= Self.maxFileBytes,
            totalBytes - (replaced?.body.count ?? 0) + body.count <= Self.maxTotalBytes
        else { throw .tooLarge }
        guard replaced != nil || fileCount < Self.maxFiles else { throw .tooMany }
        let asset = Asset(body: body, contentType: type, etag: Self.etag(body))
        assets[path] = asset
        totalBytes += body.count - (replaced?.body.count ?? 0)
        if replaced == nil { fileCount += 1 }
        if path == "/index.html" { assets["/"] = asset }
    }

    /// The response for `request`, or nil when the path is not one of the files.
    /// GET and HEAD only (405 otherwise); `If-None-Match` with the current ETag → 304.
    public func respond(to request: HTTPRequest) -> [UInt8]? {
        guard let asset = assets[request.path] else { return nil }
        guard request.method == "GET" || request.method == "HEAD" else {
            return HTTPResponse.error(HTTPError(405, "method not allowed"), headers: [("Allow", "GET, HEAD")])
        }
        var headers: [(String, String)] = [("Cache-Control", "no-cache"), ("ETag", asset.etag)]
        if asset.contentType.hasPrefix("text/html") { headers += Self.pageHeaders(host: request.header("host")) }
        if let tags = request.header("if-none-match"), Self.matches(tags, asset.etag) {
            return HTTPResponse.encode(
                status: 304, headers: headers, contentType: asset.contentType, body: [], contentLength: false)
        }
        return HTTPResponse.encode(
            status: 200, headers: headers, contentType: asset.contentType, body: asset.body,
            head: request.method == "HEAD")
    }

    /// For pages: scripts, styles, images and connections from this origin only (an
    /// injected `<img onerror>` or inline script would not run even if the page rendered
    /// one), no framing, no referrer. The WebSocket origin is also named explicitly from
    /// `Host` (Safari before 16 does not count ws:/wss: as 'self'), when it is a plain
    /// host[:port].
    public static func pageHeaders(host: String?) -> [(String, String)] {
        var connect = "'self'"
        if let host, Self.isPlainHost(host) { connect += " ws://\(host) wss://\(host)" }
        return [
            (
                "Content-Security-Policy",
                """
                default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src \(connect); \
                frame-ancestors 'none'; base-uri 'none'; form-action 'self'
                """
            ),
            ("Referrer-Policy", "no-referrer"),
            ("X-Frame-Options", "DENY"),
        ]
    }

    /// A host name, IPv4 or [IPv6] address with an optional port: nothing that could
    /// change the meaning of the policy it is written into.
    static func isPlainHost(_ host: String) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 255 else { return false }
        return host.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x2D
                || b == 0x3A || b == 0x5B || b == 0x5D
        }
    }

    /// Whether an If-None-Match value (a list of entity tags, weak or strong, or `*`)
    /// names `etag` (weak comparison, as RFC 9110 asks for If-None-Match).
    static func matches(_ header: String, _ etag: String) -> Bool {
        for part in header.split(separator: ",") {
            var tag = part.trimmingSpaces()
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
            if tag == etag[...] { return true }
        }
        return false
    }

    /// A strong ETag from the content (FNV-1a, 64 bits, and the length).
    static func etag(_ body: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in body { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        let hex = String(hash, radix: 16)
        return "\"" + String(repeating: "0", count: 16 - hex.count) + hex + "-" + String(body.count, radix: 16) + "\""
    }
}
