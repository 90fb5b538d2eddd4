import ChatCore
import EventIO

/// Presence without ghosts. Every instance keeps a liveness key in Redis with a TTL
/// (INSTANCE_TTL), refreshed three times per TTL, and lists each of its members in a
/// set of its own (the join and leave scripts keep that set exact). An instance that
/// dies without leaving (SIGKILL, a lost host) stops refreshing; after the TTL, any
/// live instance finds its key gone, takes a lock, and runs the leave script for
/// each of its members — the same script a leave runs, so counts, member lists and
/// leave notices come out as if they had left. Detection plus cleanup take at most
/// TTL + TTL/3 plus the cleanup itself (about 20 s by default).
///
/// An instance with a configured INSTANCE_ID registers as `<id>.<random>`, so a
/// restart never confuses its members with its previous life's; when it starts it
/// cleans up after earlier processes of the same INSTANCE_ID at once, without
/// waiting for their keys to expire (INSTANCE_ID must then be unique per process).
final class InstanceRegistry {
    unowned(unsafe) let hub: ChannelHub
    private let store: ChatStore
    let id: String
    /// Earlier lives of this instance: `<INSTANCE_ID>.`, or nil for a random id.
    private let ownPrefix: String?
    private let ttlMillis: Int
    private let logger: Logger
    private var lastRefresh: UInt64 = 0
    private var lastSweep: UInt64 = 0
    private var registered = false
    /// The dead instance being cleaned up by this one, if any.
    private var reaping: String?
    /// Members of dead instances removed by this instance (for /metrics).
    private(set) var reapedMembers: UInt64 = 0
    static let batch = 200

    init(hub: ChannelHub, store: ChatStore, id: String, ownPrefix: String?, ttlMillis: Int, logger: Logger) {
        self.hub = hub
        self.store = store
        self.id = id
        self.ownPrefix = ownPrefix
        self.ttlMillis = ttlMillis
        self.logger = logger
    }

    private var interval: UInt64 { UInt64(max(ttlMillis / 3, 300)) }

    /// Once a second (and when Redis becomes ready).
    func tick(now: UInt64) {
        guard store.isAvailable else { return }
        if now - lastRefresh >= interval {
            lastRefresh = now
            refresh()
        }
        if reaping == nil, now - lastSweep >= interval {
            lastSweep = now
            sweep()
        }
    }

    /// Redis is (again) reachable: refresh and look for the dead at once.
    func redisReady() {
        lastRefresh = 0
        lastSweep = 0
        reaping = nil
        tick(now: Platform.monotonicMillis())
    }

    private func words(_ items: Any...) -> [[UInt8]] {
        items.map { item in
            if let bytes = item as? [UInt8] { return bytes }
            return Array("\(item)".utf8)
        }
    }

    private func refresh() {
        let g = store.global
        store.command(words("SET", g.alive(id), "1", "PX", ttlMillis)) { _ in }
        store.command(words("SADD", g.instances, id)) { [unowned self] result in
            guard case .success(let reply) = result else { return }
            if reply.integer == 1 && self.registered {
                // We were in the set and are not any more: taken for dead (a stall longer
                // than the TTL) and cleaned up, or Redis lost its data. Write our members back.
                self.logger.warn("this instance was removed from redis as dead; restoring its members", [("instance", self.id)])
                self.hub.restoreMembers()
            }
            self.registered = true
        }
    }

    /// Finds one registered instance whose liveness key is gone and cleans up after it.
    private func sweep() {
        let g = store.global
        store.command(words("SMEMBERS", g.instances)) { [unowned self] result in
            guard case .success(let reply) = result else { return }
            let others = (0..<reply.count).map { reply[$0].text }.filter { $0 != self.id }
            guard !others.isEmpty else { return }
            var alive: [String: Bool] = [:]
            var answered = 0
            for other in others {
                self.store.command(self.words("EXISTS", g.alive(other))) { result in
                    if case .success(let r) = result { alive[other] = r.integer == 1 }
                    answered += 1
                    guard answered == others.count, self.reaping == nil else { return }
                    let dead = others.first { other in
                        alive[other] == false || (self.ownPrefix.map { other.hasPrefix($0) } ?? false)
                    }
                    if let dead { self.claim(dead) }
                }
            }
        }
    }

    private func claim(_ dead: String) {
        reaping = dead
        store.command(words("SET", store.global.reaper(dead), id, "NX", "PX", 60_000)) { [unowned self] result in
            guard case .success(let reply) = result, reply.isString else {
                self.reaping = nil  // someone else is on it
                return
            }
            self.logger.warn("instance gone: removing its members", [("dead_instance", dead)])
            self.reapBatch(dead, removed: 0)
        }
    }

    /// Leaves for a batch of the dead instance's members; then the next batch, until none is left.
    private func reapBatch(_ dead: String, removed: Int) {
        let g = store.global
        store.command(words("SRANDMEMBER", g.memberships(dead), Self.batch)) { [unowned self] result in
            guard case .success(let reply) = result else { return self.abandon(dead) }
            let entries = (0..<reply.count).compactMap { MemberEntry(reply[$0].text) }
            if reply.count > 0 && entries.isEmpty {
                // Unreadable entries: drop them so the cleanup can finish.
                for k in 0..<reply.count { self.store.command(self.words("SREM", g.memberships(dead), Array(reply[k].bytes))) { _ in } }
            }
            if reply.count == 0 {
                for key in [g.alive(dead), g.memberships(dead), g.reaper(dead)] { self.store.command(self.words("DEL", key)) { _ in } }
                self.store.command(self.words("SREM", g.instances, dead)) { _ in }
                self.logger.info("dead instance cleaned up", [("dead_instance", dead), ("members_removed", String(removed))])
                self.reaping = nil
                self.lastSweep = 0  // look for another one at the next tick
                return
            }
            var left = entries.count, failed = false
            if left == 0 { return self.reapBatch(dead, removed: removed) }
            for entry in entries {
                self.hub.removeDeadMember(entry, instance: dead) { ok in
                    if ok { self.reapedMembers += 1 } else { failed = true }
                    left -= 1
                    guard left == 0 else { return }
                    if failed { self.abandon(dead) } else { self.reapBatch(dead, removed: removed + entries.count) }
                }
            }
        }
    }

    private func abandon(_ dead: String) {
        reaping = nil
        store.command(words("DEL", store.global.reaper(dead))) { _ in }
    }

    /// Graceful shutdown, after every member left: this instance is gone on purpose.
    func unregister() {
        let g = store.global
        store.command(words("DEL", g.alive(id), g.memberships(id))) { _ in }
        store.command(words("SREM", g.instances, id)) { _ in }
    }
}
