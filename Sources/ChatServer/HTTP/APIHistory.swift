import ChatCore
import EventIO

/// The HTTP API's history read.
extension APIHandlers {
    /// `GET /api/channels/NAME/history?since=ID|before=ID&limit=N` (default: the latest 100).
    func history(_ conn: Connection, _ request: HTTPRequest, _ name: String) {
        let query: APIRequests.HistoryQuery
        switch APIRequests.history(request) {
        case .failure(let error): return apiError(conn, error)
        case .success(let q): query = q
        }
        let keyed = routing.hasKey(request)
        let address = AddressBuckets.key(conn.clientAddress)
        switch hub.historyReads.admitRequest(from: address) {
        case .busy?:
            return apiError(
                conn, 503, "busy", "too many history reads at once, try again shortly", headers: [("Retry-After", "1")])
        case .perAddress?:
            return apiError(
                conn, 429, "too_many_requests",
                "at most \(HistoryReads.perAddress) history requests at once from one address",
                headers: [("Retry-After", "1")])
        case nil:
            break
        }
        // Bounded in bytes as well as in count (OUTPUT_BUFFER_LIMIT), inside Redis: the
        // events next to `since` (or to `before`, or the latest) that fit; `truncated`
        // says there are more, to be read from the last (first) id given.
        store.history(
            ChannelKeys(prefix: settings.redisPrefix, tag: name), since: query.since?.description,
            before: query.before?.description,
            limit: query.limit, budget: settings.outputBufferLimit, keyed: keyed
        ) { [unowned self] result in
            self.hub.historyReads.requestFinished(from: address)
            self.hub.scheduleReplays()
            switch result {
            case .failure: self.unavailable(conn)
            case .success(.forbidden):
                self.apiError(
                    conn, 403, "forbidden",
                    "channel \(name) is password-protected: its history is shown with the API key only")
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
