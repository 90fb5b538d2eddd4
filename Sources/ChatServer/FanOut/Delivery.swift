import ChatCore
import EventIO

/// Delivery: every published event is framed once and added to its channel's batch
/// for this loop turn (broadcasts to everyone's); at the end of the turn each batch
/// goes to its recipients, one write each (docs/ARCHITECTURE.md, "The message path").
/// The hub hands it what the subscriber connection delivers (`ChannelHub.deliver`).
final class Delivery {
    /// The end of the turn, the send ring and the connection table (per message and
    /// per flush; never per member).
    unowned(unsafe) let runtime: any ChatRuntime
    /// Scratch buffer reused for every message: one frame encoding per message.
    private var frame: [UInt8] = []
    /// Channels with a batch this turn, and the batch of broadcasts to everyone.
    private var batchedChannels: [LocalChannel] = []
    private var globalBatch = FrameBatch()
    /// `/chat/join` connections by seed channel: they get broadcasts in the seed
    /// envelope, made once per group (empty: nobody here needs it, nothing is made).
    private var seedGroups: [String: SeedGroup] = [:]
    /// The send ring's side of the fan-out.
    private let ringFanOut: RingFanOut

    init(runtime: any ChatRuntime, stats: WorkerStats) {
        self.runtime = runtime
        ringFanOut = RingFanOut(runtime: runtime, stats: stats)
    }

    /// A broadcast to everyone: framed once into this turn's global batch.
    func broadcast(_ payload: UnsafeRawBufferPointer) {
        // One order for everyone: what channels got before this broadcast goes out first.
        if !batchedChannels.isEmpty { flushChannelBatches() }
        FrameEncoder.appendHeader(opcode: Opcode.text, length: payload.count, to: &globalBatch.bytes)
        globalBatch.bytes.append(contentsOf: payload)
        globalBatch.events += 1
        if !seedGroups.isEmpty { batchForSeedGroups(payload) }
        runtime.scheduleEndOfTurn()
    }

    /// Frames a channel's event once and adds it to the channel's batch for this turn
    /// (nil: no channel of that name here); while joins are in progress, the event's id
    /// also moves the seam and activates the joiners waiting for it (JoinSeam.swift).
    func deliver(_ payload: UnsafeRawBufferPointer, to channel: LocalChannel?) {
        if globalBatch.events > 0 { flushGlobalBatch() }  // and broadcasts before what follows them
        guard let channel else { return }
        frame.removeAll(keepingCapacity: true)
        FrameEncoder.appendHeader(opcode: Opcode.text, length: payload.count, to: &frame)
        frame.append(contentsOf: payload)
        frame.withUnsafeBytes { f in
            let quiet = QuietNotice.isQuiet(payload)
            let id = channel.tracksIDs || quiet ? StreamID.leading(payload) : nil
            if quiet {
                // The marker of a join or leave in a big channel: it starts its joiner's
                // delivery; the others get the coalesced count update.
                channel.quietSince = true
                if let id {
                    channel.activate(upTo: id)
                    channel.record(id, frame: f, quiet: true)
                }
                return
            }
            if let id { channel.activate(upTo: id) }
            if !channel.members.isEmpty {
                channel.batch.bytes.append(contentsOf: f)
                channel.batch.events += 1
                queueBatch(channel)
            }
            // Seed members get the event in the seed envelope: made here once for all
            // of them, only in a channel that has some.
            var seed: [UInt8]?
            if !channel.seedMembers.isEmpty {
                let start = channel.seedBatch.bytes.count
                if !SeedEnvelope.appendFrame(event: payload, channel: channel.name, to: &channel.seedBatch.bytes) {
                    channel.seedBatch.bytes.append(contentsOf: f)  // not an object (not expected): as it is
                }
                channel.seedBatch.events += 1
                queueBatch(channel)
                if id != nil, channel.joinsInFlight > 0 { seed = Array(channel.seedBatch.bytes[start...]) }
            }
            if let id { channel.record(id, frame: f, seed: seed, quiet: false) }
        }
    }

    @inline(__always)
    private func queueBatch(_ channel: LocalChannel) {
        guard !channel.batchQueued else { return }
        channel.batchQueued = true
        batchedChannels.append(channel)
        runtime.scheduleEndOfTurn()
    }

    /// A broadcast in the seed envelope for each seed group: parsed and encoded once,
    /// the envelopes differing only in the channel they name.
    private func batchForSeedGroups(_ payload: UnsafeRawBufferPointer) {
        let parts = SeedEnvelope.Parts(event: payload)
        for group in seedGroups.values {
            if let parts {
                parts.appendFrame(channel: group.channel, to: &group.batch.bytes)
            } else {  // not an object (not expected): as it is
                FrameEncoder.appendHeader(opcode: Opcode.text, length: payload.count, to: &group.batch.bytes)
                group.batch.bytes.append(contentsOf: payload)
            }
            group.batch.events += 1
        }
    }

    /// End of the turn: every channel's batch to each of its members (one write each),
    /// and the broadcasts to everyone. (A broadcast arriving behind channel events, or
    /// the other way round, hands out what is batched first: Redis's order is kept.)
    func flushBatches() {
        flushChannelBatches()
        flushGlobalBatch()
    }

    private func flushChannelBatches() {
        for channel in batchedChannels {
            channel.batchQueued = false
            if channel.batch.events > 0 {
                var taken = channel.batch.take()
                fanOut(taken, to: channel.targets)  // a copy of the targets: members may leave while we write
                channel.batch.recycle(&taken)
            }
            if channel.seedBatch.events > 0 {
                var taken = channel.seedBatch.take()
                fanOut(taken, to: channel.seedTargets)
                channel.seedBatch.recycle(&taken)
            }
        }
        batchedChannels.removeAll(keepingCapacity: batchedChannels.count < 4_096)
    }

    /// One batch (shared bytes) to `targets`: through the send ring when there are
    /// several, else with a send each.
    @inline(__always)
    private func fanOut(_ batch: FrameBatch, to targets: ContiguousArray<Unmanaged<Connection>>) {
        let events = batch.events
        batch.bytes.withUnsafeBytes { b in
            if targets.count > 1, !ringFanOut.inUse, let ring = runtime.sendRing {
                ringFanOut.fanOut(b, events: events, ring: ring, to: targets)
            } else {
                for t in targets { t._withUnsafeGuaranteedRef { $0.writeShared(b, events: events) } }
            }
        }
    }

    private func flushGlobalBatch() {
        if globalBatch.events > 0 {
            var taken = globalBatch.take()
            let events = taken.events
            // Seed connections, if any, get their envelopes from their groups (below).
            let skipSeed = !seedGroups.isEmpty
            taken.bytes.withUnsafeBytes { b in
                if !ringFanOut.inUse, let ring = runtime.sendRing {
                    ringFanOut.fanOutToAll(b, events: events, ring: ring, skipSeed: skipSeed)
                } else {
                    for conn in runtime.connections where conn.isOpenChat && !(skipSeed && conn.envelopeChannel != nil)
                    {
                        conn.writeShared(b, events: events)
                    }
                }
            }
            globalBatch.recycle(&taken)
        }
        if !seedGroups.isEmpty { flushSeedGroups() }
    }

    /// Each seed group's broadcasts (in the seed envelope) to its connections.
    private func flushSeedGroups() {
        for group in seedGroups.values where group.batch.events > 0 {
            var taken = group.batch.take()
            fanOut(taken, to: group.targets)  // a copy: connections may close while we write
            group.batch.recycle(&taken, limit: 65_536)
        }
    }

    /// A `/chat/join` connection is open: it gets broadcasts with its seed group.
    func addSeedConnection(_ conn: Connection) {
        guard conn.seedGroupIndex < 0, let channel = conn.envelopeChannel else { return }
        let group =
            seedGroups[channel]
            ?? {
                let g = SeedGroup(channel: channel)
                seedGroups[channel] = g
                return g
            }()
        conn.seedGroupIndex = group.targets.count
        group.targets.append(.passUnretained(conn))
    }

    func removeSeedConnection(_ conn: Connection) {
        let i = conn.seedGroupIndex
        guard i >= 0, let channel = conn.envelopeChannel, let group = seedGroups[channel] else { return }
        conn.seedGroupIndex = -1
        let last = group.targets.removeLast()
        if i < group.targets.count {
            group.targets[i] = last
            last._withUnsafeGuaranteedRef { $0.seedGroupIndex = i }
        }
        if group.targets.isEmpty { seedGroups[channel] = nil }
    }
}
