import ChatCore

/// Member repair: the member hashes written back after Redis comes back, and the
/// members of a dead instance removed (the registry's cleanup).
extension ChannelHub {
    /// Removes a member of a dead instance (the registry's cleanup): its leave notice
    /// goes to the channel like any other. Refused (false) if the instance is alive
    /// again when the script runs: it is writing its members back.
    func removeDeadMember(_ entry: MemberEntry, instance: String, _ done: @escaping (Bool) -> Void) {
        let keys = ChannelKeys(prefix: settings.redisPrefix, tag: entry.channel)
        store.leave(
            keys, entry, folded: nicknameFolding.folded(entry.nickname), instance: instance, ofDeadInstance: true
        ) { result in
            if case .success = result { done(true) } else { done(false) }
        }
    }

    /// Lists again, in the channel directory, up to `limit` of the channels that have
    /// members here, round robin (the registry's tick, once a second): a channel a
    /// crossing of directory updates dropped is back within a few rounds. The password
    /// hash this instance keeps for a channel (written back if Redis loses it) is
    /// brought up to date on the way: a password set, changed or removed through the
    /// API on any instance is known here within a round.
    func relistChannels(limit: Int = 50) {
        if relistQueue.isEmpty {
            relistQueue = channels.values.filter(\.hasMembers).map(\.name)
        }
        var n = 0
        while n < limit, let name = relistQueue.popLast() {
            guard let channel = channels[name], channel.hasMembers else { continue }
            store.relist(name) { [weak channel] state in
                switch state {
                case .set(let hash): channel?.passwordHash = hash
                case .removed: channel?.passwordHash = ""
                case .unknown: break  // lost with Redis's data, or never set: kept (fail closed)
                }
            }
            n += 1
        }
    }

    /// The command connection is (again) ready: redo what the hash missed. Members
    /// that are here are written again (a Redis that restarted without persistence
    /// forgot them), and removals that failed are run now; neither publishes notices
    /// twice (a removal that finds nothing publishes nothing).
    func commandsReady() {
        var restored = 0
        restoreMembers()
        for channel in channels.values where channel.hasMembers || !channel.activating.isEmpty { restored += 1 }
        let waiting = leaves.count
        drainLeaves()
        if waiting > 0 || restored > 0 {
            logger.info(
                "redis member hashes restored", [("channels", String(restored)), ("removals", String(waiting))])
        }
    }

    /// Writes every present member back into Redis (hash, nickname index, directory,
    /// this instance's membership set), without notices: after a reconnect, or when
    /// the registry finds this instance was taken for dead.
    func restoreMembers() {
        for channel in channels.values {
            let present =
                channel.members.map { ($0.entry, $0.folded) } + channel.seedMembers.map { ($0.entry, $0.folded) }
                + channel.activating.waiting.elements.map { ($0.member.entry, $0.member.folded) }
            store.restoreMembers(
                channel.keys, channel: channel.name, passwordHash: channel.passwordHash,
                present.map { (entry: $0.0, folded: $0.1) },
                instance: redisID
            ) { [unowned self] in
                self.passwordsRestored += 1
                self.logger.warn(
                    "channel password restored: redis had lost the settings of a protected channel; it stays protected",
                    [("channel", channel.name)])
            }
        }
    }
}
