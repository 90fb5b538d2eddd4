import ChatCore
import EventIO

/// The HTTP API's history read.
extension Worker {
    /// `GET /api/channels/NAME/history?since=ID|before=ID&limit=N` (default: the latest 100).
    func history(_ conn: Connection, _ request: HTTPRequest, _ name: String) {
        guard let limit = limit(request, default: 100, max: 1_000) else {
            return apiError(conn, 400, "bad_request", "limit must be from 1 to 1000")
        }
        let since = request.queryValue("since"), before = request.queryValue("before")
        if since != nil && before != nil { return apiError(conn, 400, "bad_request", "give since or before, not both") }
        let sinceID = since.flatMap { StreamID($0) }, beforeID = before.flatMap { StreamID($0) }
        if (since != nil && sinceID == nil) || (before != nil && beforeID == nil)
            || sinceID == StreamID(milliseconds: .max, sequence: .max) || beforeID == StreamID(milliseconds: 0, sequence: 0) {
            return apiError(conn, 400, "bad_request", "since and before must be message ids like 1700000000000-0 (before above 0-0)")
        }
        let keyed = hasAPIKey(request), address = AddressBuckets.key(conn.clientAddress)
        switch hub.historyReads.admitRequest(from: address) {
        case .busy?:
            return apiError(conn, 503, "busy", "too many history reads at once, try again shortly", headers: [("Retry-After", "1")])
        case .perAddress?:
            return apiError(conn, 429, "too_many_requests", "at most \(HistoryReads.perAddress) history requests at once from one address",
                            headers: [("Retry-After", "1")])
        case nil:
            break
        }
        // Bounded in bytes as well as in count (OUTPUT_BUFFER_LIMIT), inside Redis: the
        // events next to `since` (or to `before`, or the latest) that fit; `truncated`
        // says there are more, to be read from the last (first) id given.
        hub.store.history(ChannelKeys(prefix: config.redisPrefix, tag: name), since: sinceID?.description, before: beforeID?.description,
                          limit: limit, budget: config.outputBufferLimit, keyed: keyed) { [unowned self] result in
            self.hub.historyReads.requestFinished(from: address)
            self.hub.scheduleReplays()
            switch result {
            case .failure: self.unavailable(conn)
            case .success(.forbidden):
                self.apiError(conn, 403, "forbidden", "channel \(name) is password-protected: its history is shown with the API key only")
            case .success(.events(let events, _, let cut)):
                var list: [UInt8] = [UInt8(ascii: "[")]
                for (k, event) in events.enumerated() {
                    if k > 0 { list.append(UInt8(ascii: ",")) }
                    list.append(contentsOf: event)
                }
                list.append(UInt8(ascii: "]"))
                self.apiJSON(conn) { o in
                    o.field("channel", name)
                    o.rawField("messages", list)
                    o.field("truncated", cut)
                }
            }
        }
    }
}
