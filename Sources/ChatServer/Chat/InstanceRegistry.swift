import ChatCore
import EventIO

/// Presence without ghosts. Every instance keeps a liveness key in Redis with a TTL
/// (INSTANCE_TTL), refreshed three times per TTL, and lists each of its members in a
/// set of its own (ChatStore adds a member's entry before its join script runs and
/// removes it after its leave: the set holds every member Redis has, and at worst a
/// few that a leave will find gone). An instance that
/// dies without leaving (SIGKILL, a lost host) stops refreshing; after the TTL, any
/// live instance finds its key gone, takes a lock, and runs the leave script for
/// each of its members — the same script a leave runs, so counts, member lists and
/// leave notices come out as if they had left. Detection plus cleanup take at most
/// TTL + TTL/3 plus the cleanup itself (about 20 s by default).
///
/// An instance with a configured INSTANCE_ID registers as `<id>.<random>`, so a
/// restart never confuses its members with its previous life's. A previous life is
/// cleaned up like any other instance, once its liveness key is gone: two processes
/// with one INSTANCE_ID may overlap (start the new, then stop the old), and taking a
/// live one for dead would remove its members over and over.
final class InstanceRegistry {
    unowned(unsafe) let hub: ChannelHub
    private let store: ChatStore
    let id: String
    private let ttlMillis: Int
    private let logger: Logger
    private var lastRefresh: UInt64 = 0
    private var lastSweep: UInt64 = 0
    /// No sweeping until a whole TTL after Redis became ready: after an outage longer
    /// than the TTL every liveness key is gone, and the peers need time to come back.
    private var sweepAfter: UInt64 = 0
    private var registered = false
    /// The dead instance being cleaned up by this one, if any.
    private var reaping: String?
    /// Taken for dead while stalled: write the members back again once the cleanup stopped.
    private var restoreAfterCleanup = false
    /// Members of dead instances removed by this instance (for /metrics).
    private(set) var reapedMembers: UInt64 = 0
    static let batch = 200

    init(hub: ChannelHub, store: ChatStore, id: String, ttlMillis: Int, logger: Logger) {
        self.hub = hub
        self.store = store
        self.id = id
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
        if reaping == nil, now >= sweepAfter, now - lastSweep >= interval {
            lastSweep = now
            sweep()
        }
        store.repairDirectory()
    }

    /// Redis is (again) reachable: refresh and look for the dead at once.
    func redisReady() {
        let now = Platform.monotonicMillis()
        lastRefresh = 0
        lastSweep = 0
        reaping = nil
        sweepAfter = now + UInt64(ttlMillis)
        tick(now: now)
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
        store.command(words("GETDEL", g.reaped(id))) { [unowned self] result in
            guard case .success(let reply) = result, reply.isString else { return }
            // Taken for dead (a stall longer than the TTL) and cleaned up, at least in part.
            self.logger.warn(
                "this instance was taken for dead and its members removed; writing them back", [("redis_id", self.id)])
            self.hub.restoreMembers()
            self.restoreAfterCleanup = true
        }
        if restoreAfterCleanup {
            // Leaves the cleaner sent before it saw this instance alive may land after the
            // write-back: once its lock is gone (it stopped), write the members back again.
            store.command(words("EXISTS", g.reaper(id))) { [unowned self] result in
                guard case .success(let reply) = result, reply.integer == 0, self.restoreAfterCleanup else { return }
                self.restoreAfterCleanup = false
                self.hub.restoreMembers()
            }
        }
        store.command(words("SADD", g.instances, id)) { [unowned self] result in
            guard case .success(let reply) = result else { return }
            if reply.integer == 1 && self.registered {
                // We were registered and are not any more: Redis lost its data (or we were
                // cleaned up completely). Write our members back.
                self.logger.warn(
                    "this instance was missing from redis; writing its members back", [("redis_id", self.id)])
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
                    if let dead = others.first(where: { alive[$0] == false }) { self.claim(dead) }
                }
            }
        }
    }

    /// In one atomic step (claim.lua): unless the instance is alive again, take the
    /// cleanup lock and mark it reaped — so that if it was only stalled, its next
    /// refresh finds the mark and writes its members back. It stays registered until
    /// its cleanup completes, so if this instance dies mid-way, another resumes once
    /// the lock expires.
    private func claim(_ dead: String) {
        reaping = dead
        store.claimCleanup(of: dead) { [unowned self] claimed in
            guard claimed else {
                self.reaping = nil  // alive again, or someone else is on it
                return
            }
            self.logger.warn("instance gone: removing its members", [("dead_instance", dead)])
            self.reapBatch(dead, removed: 0)
        }
    }

    /// Leaves for a batch of the dead instance's members; then the next batch, until none is left.
    private func reapBatch(_ dead: String, removed: Int) {
        let g = store.global
        var aliveAgain = false
        store.command(words("EXISTS", g.alive(dead))) { result in
            if case .success(let r) = result, r.integer == 1 { aliveAgain = true }
        }
        store.command(words("SRANDMEMBER", g.memberships(dead), Self.batch)) { [unowned self] result in
            if aliveAgain {
                // It was only stalled: it refreshes, finds itself unregistered and writes
                // its members back.
                self.logger.warn("instance came back during its cleanup; stopping", [("dead_instance", dead)])
                return self.abandon(dead)
            }
            guard case .success(let reply) = result else { return self.abandon(dead) }
            let entries = (0..<reply.count).compactMap { MemberEntry(reply[$0].text) }
            if reply.count > 0 && entries.isEmpty {
                // Unreadable entries: drop them so the cleanup can finish.
                for k in 0..<reply.count {
                    self.store.command(self.words("SREM", g.memberships(dead), Array(reply[k].bytes))) { _ in }
                }
            }
            if reply.count == 0 {
                // Unregistered only if it did not come back meanwhile.
                self.store.finishCleanup(of: dead)
                self.logger.info(
                    "dead instance cleaned up", [("dead_instance", dead), ("members_removed", String(removed))])
                self.reaping = nil
                self.lastSweep = 0  // look for another one at the next tick
                return
            }
            var left = entries.count
            var failed = false
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

    /// Stops a cleanup (Redis failed, or the instance is alive): the instance is still
    /// registered, so a later sweep resumes if it is really dead.
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
