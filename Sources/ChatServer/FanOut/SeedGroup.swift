/// The open `/chat/join` connections of this worker whose seed channel has one name.
/// A broadcast has no channel of its own, and a seed client reads it in an envelope
/// that names its seed channel: so it is put in the envelope once per group, not once
/// per connection, and handed to the group like a channel's batch
/// (`Delivery.flushGlobalBatch`).
final class SeedGroup {
    let channel: String
    /// Unretained, like `LocalChannel.targets`: the worker's connection table keeps them
    /// alive, and a connection leaves its group as soon as it stops being open
    /// (`ChannelHub.disconnect`, `Delivery.removeSeedConnection`). Swap-removed by `Connection.seedGroupIndex`.
    var targets: ContiguousArray<Unmanaged<Connection>> = []
    /// This turn's broadcasts in the envelope, framed.
    var batch = FrameBatch()

    init(channel: String) {
        self.channel = channel
    }
}
