import EventIO

/// What the chat needs of the runtime it runs in (the `Worker` is it): the end of the
/// loop turn, the send ring, the connection table for broadcasts and the per-address
/// allowances. Narrow on purpose, like `ConnectionHost`: the chat does not see the
/// worker's listeners, Redis links or other parts. Called per message, per join or
/// per turn's flush, never per member of a fan-out.
protocol ChatRuntime: AnyObject {
    /// Runs the end-of-turn phases (flushes, the channels' batches) at the end of this turn.
    func scheduleEndOfTurn()
    /// Batched fan-out sends (IO_URING); nil where the kernel does not allow io_uring.
    var sendRing: IORing? { get }
    /// The ring failed (the kernel refused a submission): back to send() for good.
    func dropSendRing(_ error: Int32)
    /// Every connection, in no particular order (broadcasts to everyone).
    var connections: ContiguousArray<Connection> { get }
    /// Whether a client may try a channel password now (PASSWORD_ATTEMPTS).
    func allowPasswordAttempt(_ conn: Connection) -> Bool
    /// Whether a client may create a channel now (CHANNEL_CREATE_RATE).
    func allowChannelCreation(_ conn: Connection) -> Bool
}
