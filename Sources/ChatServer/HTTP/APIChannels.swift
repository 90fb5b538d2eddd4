import ChatCore
import EventIO

/// The HTTP API's channel reads: the channel list and a channel's members.
extension APIHandlers {
    /// `GET /api/channels?limit=N`: channels with members, largest first; protected
    /// ones only for a caller with the API key.
    func listChannels(_ conn: Connection, _ request: HTTPRequest) {
        let limit: Int
        switch APIRequests.channelList(request) {
        case .failure(let error): return apiError(conn, error)
        case .success(let n): limit = n
        }
        let g = store.global
        let directories = routing.hasKey(request) ? [g.channels, g.protectedChannels] : [g.channels]
        var total = 0
        var listed: [(name: String, count: Int)] = []
        var answered = 0
        var failed = false
        for directory in directories {
            store.command([Array("ZCARD".utf8), directory]) { result in
                if case .success(let r) = result { total += Int(r.integer) }
            }
            store.command([
                Array("ZREVRANGE".utf8), directory, Array("0".utf8), Array(String(limit - 1).utf8),
                Array("WITHSCORES".utf8),
            ]) {
                [unowned self] result in
                answered += 1
                if case .success(let reply) = result {
                    var k = 0
                    while k + 1 < reply.count {
                        listed.append((reply[k].text, Int(reply[k + 1].text) ?? 0))
                        k += 2
                    }
                } else {
                    failed = true
                }
                guard answered == directories.count else { return }
                if failed { return self.unavailable(conn) }
                var list: [UInt8] = [UInt8(ascii: "[")]
                for (k, c) in listed.sorted(by: { $0.count > $1.count }).prefix(limit).enumerated() {
                    if k > 0 { list.append(UInt8(ascii: ",")) }
                    JSONWriter.object(&list) { o in
                        o.field("name", c.name)
                        o.field("count", c.count)
                    }
                }
                list.append(UInt8(ascii: "]"))
                self.apiJSON(conn) { o in
                    o.rawField("channels", list)
                    o.field("total", total)
                }
            }
        }
    }

    /// `GET /api/channels/NAME/members?limit=N&cursor=C`: one page of about N names
    /// (read with HSCAN and sorted within the page: never the whole list), and the
    /// cursor of the next page while there is one.
    func members(_ conn: Connection, _ request: HTTPRequest, _ name: String) {
        let query: APIRequests.MembersQuery
        switch APIRequests.members(request) {
        case .failure(let error): return apiError(conn, error)
        case .success(let q): query = q
        }
        let limit = query.limit
        let keyed = routing.hasKey(request)
        store.memberPage(ChannelKeys(prefix: settings.redisPrefix, tag: name), cursor: query.cursor, pageSize: limit) {
            [unowned self] result in
            switch result {
            case .failure: self.unavailable(conn)
            case .success(let page) where page.protected && !keyed:
                self.apiError(
                    conn, 403, "forbidden",
                    "channel \(name) is password-protected: its members are shown with the API key only")
            case .success(let page):
                let names = page.trimmed(to: limit)
                self.apiJSON(conn) { o in
                    o.field("channel", name)
                    o.field("count", page.count)
                    o.rawField("members", ServerEvents.stringArray(names))
                    o.field("protected", page.protected)
                    if let next = page.next { o.field("cursor", next) }
                }
            }
        }
    }
}
