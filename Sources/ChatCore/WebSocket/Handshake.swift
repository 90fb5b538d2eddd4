/// The server side of the opening handshake (RFC 6455 section 4.2).
public enum WebSocketHandshake {
    public static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// `Sec-WebSocket-Accept` for a client key: base64(SHA-1(key + GUID)).
    public static func acceptKey(for key: String) -> String {
        Base64.encode(SHA1.digest(Array((key + guid).utf8)))
    }

    public enum Outcome: Equatable {
        /// Not an upgrade request at all (no `Upgrade: websocket`).
        case notUpgrade
        /// Valid: answer 101 with this accept value.
        case accept(String)
        /// An upgrade request that is wrong; answer with the error and these headers.
        case reject(HTTPError, headers: [String])
    }

    /// Checks an upgrade request. The caller has already routed the path and method.
    public static func evaluate(_ request: HTTPRequest) -> Outcome {
        guard request.headerHasToken("upgrade", "websocket") else { return .notUpgrade }
        if request.method != "GET" {
            return .reject(HTTPError(405, "WebSocket upgrades use GET"), headers: ["Allow: GET"])
        }
        if request.minorVersion < 1 { return .reject(HTTPError(400, "WebSocket upgrades need HTTP/1.1"), headers: []) }
        if request.header("host") == nil { return .reject(HTTPError(400, "missing Host header"), headers: []) }
        if !request.headerHasToken("connection", "upgrade") {
            return .reject(HTTPError(400, "Connection header must include Upgrade"), headers: [])
        }
        guard request.header("sec-websocket-version")?.trimmingWhitespace() == "13" else {
            return .reject(
                HTTPError(426, "only WebSocket version 13 is supported"), headers: ["Sec-WebSocket-Version: 13"])
        }
        guard let key = request.header("sec-websocket-key")?.trimmingWhitespace(), Base64.decode(key)?.count == 16
        else {
            return .reject(HTTPError(400, "Sec-WebSocket-Key must be 16 bytes in base64"), headers: [])
        }
        return .accept(acceptKey(for: key))
    }

    /// The 101 response.
    public static func switchingProtocols(accept: String) -> [UInt8] {
        let head =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: \(accept)\r\n\r\n"
        return Array(head.utf8)
    }
}
