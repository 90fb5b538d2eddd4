import ChatCore
import EventIO

/// The HTTP API (docs/PROTOCOL.md, "HTTP API"): reads of channels, members and
/// history for anyone (a password-protected channel's members and history need the
/// API key), and writes for an application backend with `Authorization: Bearer
/// API_KEY` (publish, broadcast, channel passwords). Answers and errors are JSON:
/// `{"error": code, "message": text}` with the fitting status. What a request asks
/// for is `APIRouting`'s decision; each operation has a handler of its own.
extension Worker {
    func api(_ conn: Connection, _ request: HTTPRequest, body: [UInt8]) {
        let decision = apiRouting.route(
            request, congested: commands.isCongested, buckets: &apiBuckets,
            clientKey: conn.clientAddress, now: Platform.monotonicMillis())
        switch decision {
        case .failure(let error): apiError(conn, error)
        case .success(.listChannels): listChannels(conn, request)
        case .success(.members(let channel)): members(conn, request, channel)
        case .success(.history(let channel)): history(conn, request, channel)
        case .success(.setPassword(let channel)): setPassword(conn, channel, body)
        case .success(.publish): publish(conn, body, toEveryone: false)
        case .success(.broadcast): publish(conn, body, toEveryone: true)
        }
    }
}
