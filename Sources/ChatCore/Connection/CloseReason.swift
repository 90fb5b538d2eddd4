/// Why a connection ended, for the `chat_connections_closed_total{reason}` metric
/// and the logs.
public enum CloseReason: String, CaseIterable, Sendable {
    /// The client sent a close frame.
    case clientClose = "client_close"
    /// The client went away without a close frame (EOF, reset).
    case clientGone = "client_gone"
    /// The client broke RFC 6455 (1002, 1007, 1009).
    case protocolError = "protocol_error"
    /// A plain HTTP request was answered (errors, /healthz, /metrics).
    case httpAnswered = "http_answered"
    /// Refused after the upgrade: bad nickname or channel, or Redis unavailable.
    case refused
    case handshakeTimeout = "handshake_timeout"
    /// Still in its HTTP phase when the process reached its socket limit: the oldest
    /// such connection makes room for a new one.
    case evicted
    case pongTimeout = "pong_timeout"
    case slowConsumer = "slow_consumer"
    case flooding
    case shutdown
    case ioError = "io_error"
}
