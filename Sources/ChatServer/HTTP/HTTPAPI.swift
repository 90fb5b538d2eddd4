import ChatCore
import EventIO

/// The HTTP API (docs/PROTOCOL.md, "HTTP API"): reads of channels, members and
/// history for anyone (a password-protected channel's members and history need the
/// API key), and writes for an application backend with `Authorization: Bearer
/// API_KEY` (publish, broadcast, channel passwords). Answers and errors are JSON:
/// `{"error": code, "message": text}` with the fitting status. What a request asks
/// for is `APIRouting`'s decision; each operation has a handler of its own. Built by the
/// composition root; the worker's router hands it the API's requests.
final class APIHandlers {
    /// The chat's Redis commands (its link's congestion refuses requests).
    let store: ChatStore
    /// The hub's history-read slots and replays, and the passwords of channels it has
    /// members in (kept at once when the API changes one).
    unowned let hub: ChannelHub
    /// Channel password hashing, on a thread of its own.
    let hasher: PasswordHasher
    /// REDIS_PREFIX and OUTPUT_BUFFER_LIMIT (a history read's budget).
    let settings: ChatSettings
    /// The API's routing and authorization (API_KEY, API_RATE_LIMIT).
    let routing: APIRouting
    /// HTTP API requests per client address (API_RATE_LIMIT).
    private var buckets: AddressBuckets
    /// MAX_MESSAGE_LENGTH and MAX_MESSAGE_BYTES for published messages.
    let protocolLimits: ProtocolLimits
    /// Counts what the API publishes.
    let stats: WorkerStats

    init(
        store: ChatStore, hub: ChannelHub, hasher: PasswordHasher, settings: ChatSettings, routing: APIRouting,
        buckets: AddressBuckets, protocolLimits: ProtocolLimits, stats: WorkerStats
    ) {
        self.store = store
        self.hub = hub
        self.hasher = hasher
        self.settings = settings
        self.routing = routing
        self.buckets = buckets
        self.protocolLimits = protocolLimits
        self.stats = stats
    }

    /// A request `HTTPRouting` sent to the API: answered on `conn`.
    func handle(_ conn: Connection, _ request: HTTPRequest, body: [UInt8]) {
        let decision = routing.route(
            request, congested: store.link.isCongested, buckets: &buckets,
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
