import ChatCore

/// Presence: member pages (`presence` op) and the count updates of channels with quiet
/// joins and leaves.
extension ChannelHub {
    /// `presence` op: who is in a channel. A password-protected channel's members are
    /// shown to its members only.
    /// One page of MEMBER_LIST_LIMIT names at most (read with HSCAN, sorted within the
    /// page: never the whole member list), and the cursor of the next.
    func presence(_ conn: Connection, _ name: String, cursor: String?, ref: Ref?) {
        // One at a time per connection: a page of a big channel is work in Redis and here.
        guard !conn.presencePending else {
            return fail(
                conn, .rateLimited, "one presence at a time: wait for the answer to the last one", channel: name,
                ref: ref)
        }
        conn.presencePending = true
        let pageSize = max(settings.memberListLimit, 1)
        store.memberPage(
            ChannelKeys(prefix: settings.redisPrefix, tag: name), cursor: cursor ?? "0", pageSize: pageSize
        ) { [unowned self] result in
            conn.presencePending = false
            guard conn.isOpenChat else { return }
            // A member is one whose join went through (not one still proving its password).
            let isMember = self.membership(conn, name)?.join.isMember ?? false
            switch result {
            case .failure:
                self.fail(conn, .unavailable, "chat storage is unavailable, try again shortly", channel: name, ref: ref)
            case .success(let info) where info.protected && !isMember:
                self.fail(
                    conn, .forbidden, "channel \(name) is password-protected: join it to see its members",
                    channel: name, ref: ref)
            case .success(let page):
                let names = page.trimmed(to: pageSize)
                conn.sendEvent(
                    ServerEvents.presence(channel: name, count: page.count, members: names, cursor: page.next, ref: ref)
                )
            }
        }
    }

    /// Once a second: channels that saw quiet joins or leaves get a count update.
    func publishCounts() {
        guard store.isAvailable else { return }
        for channel in channels.values where channel.quietSince {
            channel.quietSince = false
            store.publishCount(channel.keys, eventPrefix: ServerEvents.countEventPrefix(channel: channel.name)) {
                channel.quietSince = true  // due but too soon: ask again next second
            }
        }
    }
}
