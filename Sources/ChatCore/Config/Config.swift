/// Every setting of the server, with its default. The table in `ConfigKeys` maps
/// each to its `.env`/environment key and command-line flag, documents it, and
/// generates `--help` and `.env.example` (a test keeps that file in step).
public struct Config: Equatable, Sendable {
    // Listening.
    public var host = "0.0.0.0"
    /// Worker processes; 0 = one per CPU.
    public var workers = 1
    public var workerPorts = 0
    public var port = 8080
    // Redis.
    public var redisHost = "127.0.0.1"
    public var redisPort = 6379
    public var redisPassword = ""
    public var redisDB = 0
    public var redisPrefix = "chat"
    // Logs.
    public var appDebug = false
    public var logToFile = false
    public var logFilePath = "logs/chat-server.log"
    public var logErrorFilePath = "logs/chat-server-error.log"
    // Endpoints.
    public var echoEnabled = false
    public var allowBroadcast = false
    /// Folder of the web client's files, served at /; empty = none.
    public var webRoot = "web"
    // Limits.
    public var maxMessageSize = 65_536
    public var echoMaxMessageSize = 16 * 1_048_576
    public var maxMessageLength = 2_000
    public var maxMessageBytes = 8_192
    public var maxChannelsPerConnection = 50
    public var maxHeaderBytes = 8_192
    public var outputBufferLimit = 1_048_576
    public var maxConnections = 0
    public var maxConnectionsPerAddress = 100
    public var maxHandshakesPerAddress = 64
    /// Fan-out writes through io_uring where the kernel allows it.
    public var ioUring = true
    public var rateLimit = 20.0
    public var rateBurst = 40
    public var rateLimitBytes = 8_192
    public var allowedOrigins = OriginPolicy("")!
    public var trustedProxies = ProxyPolicy("")!
    // Timeouts, in milliseconds.
    public var handshakeTimeoutMillis = 10_000
    public var shutdownTimeoutMillis = 5_000
    public var pingIntervalMillis = 30_000
    public var pongTimeoutMillis = 10_000
    public var redisTimeoutMillis = 5_000
    // Presence.
    public var presenceNoticeLimit = 100
    public var memberListLimit = 1_000
    /// Seconds an instance's liveness key lives without a refresh; after it, any other
    /// instance removes the dead one's members (with leave notices).
    public var instanceTTLMillis = 15_000
    // History.
    public var historySize = 1_000
    public var historyMaxAgeMillis = 0
    public var channelTTLMillis = 86_400_000
    public var protectedChannelTTLMillis = 2_592_000_000
    public var channelCreateRate = 60
    public var replayLimit = 500
    public var historyReads = 16
    // Channel passwords and the HTTP API.
    public var passwordAttempts = 10
    public var apiRateLimit = 10.0
    public var apiKey = ""
    // Name of this process (logs, /healthz, welcome); towards Redis it gets a random
    // suffix on every start (Worker.redisID). Empty means a random name per start.
    public var instanceID = ""

    public init() {}
}

/// One configuration key: its name in `.env` and the environment, its flag, its
/// default (as text), a one-line description, and how a value is checked and applied.
public struct ConfigKey: Sendable {
    public let name: String
    public let defaultValue: String
    public let help: String
    public let isBool: Bool
    let apply: @Sendable (inout Config, String) -> String?

    /// `--redis-host` for `REDIS_HOST`.
    public var flag: String { "--" + name.lowercased().replacing("_", with: "-") }
}

public enum ConfigKeys {
    public static let all: [ConfigKey] = [
        text("HOST", "0.0.0.0", "Address to listen on (0.0.0.0 = all IPv4 interfaces, :: = all IPv6).") {
            $0.host = $1
        },
        int("PORT", 8080, 1...65_535, "TCP port for HTTP and WebSocket clients.") { $0.port = $1 },
        int(
            "WORKERS", 1, 0...1_024,
            "Worker processes sharing the port (each an independent instance to Redis); 0 = one per CPU."
        ) { $0.workers = $1 },
        int(
            "WORKER_PORTS", 0, 0...65_535,
            """
            With WORKERS: worker n (from 0) also listens on WORKER_PORTS + n, alone, so that each worker's /metrics \
            and /healthz can be scraped; 0 = off.
            """
        ) { $0.workerPorts = $1 },
        text("REDIS_HOST", "127.0.0.1", "Redis server host name or address.") { $0.redisHost = $1 },
        int("REDIS_PORT", 6379, 1...65_535, "Redis server port.") { $0.redisPort = $1 },
        text("REDIS_PASSWORD", "", "Redis password (AUTH); empty = no AUTH.", allowEmpty: true) {
            $0.redisPassword = $1
        },
        int("REDIS_DB", 0, 0...1_000_000, "Redis database number (SELECT) for keys and streams.") { $0.redisDB = $1 },
        text("REDIS_PREFIX", "chat", "Prefix of every Redis key and Pub/Sub topic, so deployments can share a Redis.") {
            $0.redisPrefix = $1
        },
        bool("APP_DEBUG", false, "Log debug lines too.") { $0.appDebug = $1 },
        bool("LOG_TO_FILE", false, "Also write logs to LOG_FILE_PATH (errors also to LOG_ERROR_FILE_PATH).") {
            $0.logToFile = $1
        },
        text("LOG_FILE_PATH", "logs/chat-server.log", "Log file when LOG_TO_FILE is on; parent folders are created.") {
            $0.logFilePath = $1
        },
        text("LOG_ERROR_FILE_PATH", "logs/chat-server-error.log", "Error log file when LOG_TO_FILE is on.") {
            $0.logErrorFilePath = $1
        },
        text(
            "WEB_ROOT", "web",
            """
            Folder of the web client (served at /, read at start and on SIGHUP; relative to the working directory); \
            empty = no web client.
            """,
            allowEmpty: true
        ) { $0.webRoot = $1 },
        bool(
            "ECHO_ENABLED", false,
            """
            Serve the /echo WebSocket endpoint, for conformance suites (off by default: each /echo connection may \
            hold up to ECHO_MAX_MESSAGE_SIZE twice).
            """
        ) { $0.echoEnabled = $1 },
        bool(
            "ALLOW_BROADCAST", false,
            """
            Let any client broadcast to everyone with the broadcast op (off: one anonymous client would reach every \
            connection; the HTTP API's broadcast, with API_KEY, always works).
            """
        ) { $0.allowBroadcast = $1 },
        int(
            "MAX_MESSAGE_SIZE", 65_536, 125...67_108_864,
            "Largest WebSocket message on chat endpoints, in bytes (1009 past it)."
        ) { $0.maxMessageSize = $1 },
        int("ECHO_MAX_MESSAGE_SIZE", 16_777_216, 125...268_435_456, "Largest WebSocket message on /echo, in bytes.") {
            $0.echoMaxMessageSize = $1
        },
        int("MAX_MESSAGE_LENGTH", 2_000, 1...1_000_000, "Longest chat message, in characters (Unicode scalars).") {
            $0.maxMessageLength = $1
        },
        int(
            "MAX_MESSAGE_BYTES", 8_192, 16...16_777_216,
            "Largest chat message as stored (UTF-8, JSON-escaped: a control character counts six bytes), in bytes."
        ) { $0.maxMessageBytes = $1 },
        int("MAX_CHANNELS_PER_CONNECTION", 50, 1...10_000, "Channels one connection may be in at once.") {
            $0.maxChannelsPerConnection = $1
        },
        int("MAX_HEADER_BYTES", 8_192, 1_024...1_048_576, "Largest HTTP request head, in bytes (431 past it).") {
            $0.maxHeaderBytes = $1
        },
        int(
            "OUTPUT_BUFFER_LIMIT", 1_048_576, 4_096...1_073_741_824,
            "Bytes waiting to be sent to one client before it is disconnected as too slow."
        ) { $0.outputBufferLimit = $1 },
        int(
            "MAX_CONNECTIONS", 0, 0...10_000_000,
            """
            Open WebSocket connections per process; past it upgrades get 503. 0 = the descriptor limit minus a reserve.
            """
        ) { $0.maxConnections = $1 },
        int(
            "MAX_CONNECTIONS_PER_ADDRESS", 100, 0...10_000_000,
            """
            Open WebSocket connections per client address (IPv6: per /64; behind TRUSTED_PROXIES the forwarded \
            address) on each process; past it upgrades get 429. Raise it for many clients behind one NAT. 0 = no limit.
            """
        ) { $0.maxConnectionsPerAddress = $1 },
        int(
            "MAX_HANDSHAKES_PER_ADDRESS", 64, 0...10_000_000,
            """
            Connections per client address still in their HTTP phase (request not complete) on each process; more are \
            closed at accept. Trusted proxies are exempt. 0 = no limit.
            """
        ) { $0.maxHandshakesPerAddress = $1 },
        bool(
            "IO_URING", true,
            """
            Write a channel's messages to its members with io_uring, one system call for many sends, where the kernel \
            allows it (otherwise, or when false: one send() per member).
            """
        ) { $0.ioUring = $1 },
        number(
            "RATE_LIMIT", 20,
            """
            Chat messages (ops) per second per connection; over it: rate_limited errors, then a close for flooding. 0 \
            = no limit.
            """
        ) { $0.rateLimit = $1 },
        int("RATE_BURST", 40, 1...1_000_000, "Messages a connection may send in a burst above RATE_LIMIT.") {
            $0.rateBurst = $1
        },
        int(
            "RATE_LIMIT_BYTES", 8_192, 0...1_073_741_824,
            """
            Bytes of chat messages (as stored) per second per connection, in bursts of eight times that; over it: \
            rate_limited. 0 = no limit (RATE_LIMIT 0 lifts it too).
            """
        ) { $0.rateLimitBytes = $1 },
        ConfigKey(
            name: "ALLOWED_ORIGINS", defaultValue: "",
            help:
                """
                Comma-separated browser origins allowed to connect (https://chat.example.com, https://*.example.com); \
                empty = any.
                """,
            isBool: false
        ) { config, value in
            guard let policy = OriginPolicy(value) else {
                return "must be a comma-separated list of http(s)://host[:port] origins, *.domain wildcards or *"
            }
            config.allowedOrigins = policy
            return nil
        },
        ConfigKey(
            name: "TRUSTED_PROXIES", defaultValue: "",
            help:
                """
                Comma-separated addresses or CIDR ranges of reverse proxies (10.0.0.0/8, ::1) whose X-Forwarded-For \
                names the client, for the limits per client address; empty = none (the TCP peer is the client).
                """,
            isBool: false
        ) { config, value in
            guard let policy = ProxyPolicy(value) else {
                return "must be a comma-separated list of IP addresses or CIDR ranges"
            }
            config.trustedProxies = policy
            return nil
        },
        seconds(
            "PING_INTERVAL", 30, "Seconds of silence after which the server pings a client; 0 = never.", allowZero: true
        ) { $0.pingIntervalMillis = $1 },
        seconds("PONG_TIMEOUT", 10, "Seconds a pinged client has to answer before it is disconnected.") {
            $0.pongTimeoutMillis = $1
        },
        seconds(
            "REDIS_TIMEOUT", 5,
            """
            Seconds without an answer from Redis (a command, a subscription, or the heartbeat on the subscriber) \
            before reconnecting.
            """
        ) { $0.redisTimeoutMillis = $1 },
        seconds(
            "HANDSHAKE_TIMEOUT", 10, "Seconds a new connection has to send its HTTP request (slow clients are dropped)."
        ) { $0.handshakeTimeoutMillis = $1 },
        seconds("SHUTDOWN_TIMEOUT", 5, "Seconds SIGTERM waits for clients to close and Redis writes to finish.") {
            $0.shutdownTimeoutMillis = $1
        },
        int(
            "PRESENCE_NOTICE_LIMIT", 100, 0...100_000_000,
            """
            Channels with more members get no per-user join/leave notices, but a member count update at most once a \
            second. 0 = always send notices.
            """
        ) { $0.presenceNoticeLimit = $1 },
        int(
            "MEMBER_LIST_LIMIT", 1_000, 0...1_000_000,
            """
            joined replies list the members of channels up to this size (larger ones: use the presence op or the HTTP \
            API).
            """
        ) { $0.memberListLimit = $1 },
        seconds(
            "INSTANCE_TTL", 15,
            """
            Seconds after an instance stops refreshing its liveness key (a crash) before the others remove its members.
            """
        ) { $0.instanceTTLMillis = max($1, 1_000) },
        int(
            "HISTORY_SIZE", 1_000, 1...20_000_000,
            """
            Messages kept per channel in its Redis Stream (approximate trim), with up to 4 join/leave notices stored \
            after each (churn never pushes messages out).
            """
        ) { $0.historySize = $1 },
        int(
            "HISTORY_MAX_AGE", 0, 0...315_360_000,
            """
            Seconds a message is kept in history at most (trimmed when the channel gets its next event); 0 = no age \
            limit.
            """
        ) { $0.historyMaxAgeMillis = $1 * 1_000 },
        int(
            "CHANNEL_TTL", 86_400, 0...315_360_000,
            """
            Seconds a channel's keys (history, settings, indexes) stay in Redis after its last member left and its \
            last event; activity and members keep them; 0 = forever.
            """
        ) { $0.channelTTLMillis = $1 * 1_000 },
        int(
            "PROTECTED_CHANNEL_TTL", 2_592_000, 0...315_360_000,
            """
            Seconds a protected channel's settings (its password) stay after that, never less than CHANNEL_TTL; 0 = \
            forever.
            """
        ) { $0.protectedChannelTTLMillis = $1 * 1_000 },
        int(
            "CHANNEL_CREATE_RATE", 60, 0...1_000_000,
            """
            New channels one client address may create a minute on each process (in bursts of as many; each lives in \
            Redis for CHANNEL_TTL); over it: rate_limited. 0 = no limit.
            """
        ) { $0.channelCreateRate = $1 },
        int(
            "REPLAY_LIMIT", 500, 1...100_000,
            """
            Messages replayed at most on a join with since or history (older ones: history_truncated, and the HTTP \
            history API).
            """
        ) { $0.replayLimit = $1 },
        int(
            "HISTORY_READS", 16, 1...10_000,
            """
            History reads running in Redis at once per process (joins with since or history, HTTP history requests); \
            more joins wait their turn (one at a time per connection), more HTTP requests get 503 (and over 2 at once \
            from one address, 429).
            """
        ) { $0.historyReads = $1 },
        int(
            "PASSWORD_ATTEMPTS", 10, 1...1_000_000,
            """
            Channel password attempts per minute per client address on each process, and wrong passwords per minute \
            per channel and address across all instances (over it: rate_limited).
            """
        ) { $0.passwordAttempts = $1 },
        number(
            "API_RATE_LIMIT", 10,
            """
            HTTP API requests per second per client address, in bursts of twice that (over it: 429); requests with \
            the API key are not limited. 0 = no limit.
            """
        ) { $0.apiRateLimit = $1 },
        text(
            "API_KEY", "",
            """
            Bearer token for the HTTP API's writes (publish, broadcast, channel passwords); empty = those endpoints \
            are off.
            """,
            allowEmpty: true
        ) { $0.apiKey = $1 },
        text(
            "INSTANCE_ID", "",
            """
            Name of this process in logs, /healthz and welcome (worker n of WORKERS: <INSTANCE_ID>-<n>); towards \
            Redis it is <INSTANCE_ID>.<random>, with a new random suffix on every start; empty = a random name per \
            start, used for both.
            """,
            allowEmpty: true
        ) { $0.instanceID = $1 },
    ]

    public static func key(named name: String) -> ConfigKey? { all.first { $0.name == name } }

    private static func text(
        _ name: String, _ def: String, _ help: String, allowEmpty: Bool = false,
        _ set: @escaping @Sendable (inout Config, String) -> Void
    ) -> ConfigKey {
        ConfigKey(name: name, defaultValue: def, help: help, isBool: false) { config, value in
            if !allowEmpty, value.isEmpty { return "must not be empty" }
            if value.unicodeScalars.contains(where: { $0.value < 0x20 }) {
                return "must not contain control characters"
            }
            set(&config, value)
            return nil
        }
    }

    private static func int(
        _ name: String, _ def: Int, _ range: ClosedRange<Int>, _ help: String,
        _ set: @escaping @Sendable (inout Config, Int) -> Void
    ) -> ConfigKey {
        ConfigKey(name: name, defaultValue: String(def), help: help, isBool: false) { config, value in
            guard let n = Int(value), range.contains(n) else {
                return "must be an integer from \(range.lowerBound) to \(range.upperBound)"
            }
            set(&config, n)
            return nil
        }
    }

    /// Seconds, decimals allowed (`0.5`), stored as milliseconds; 0.1 s to 1 hour (or 0).
    private static func seconds(
        _ name: String, _ def: Int, _ help: String, allowZero: Bool = false,
        _ set: @escaping @Sendable (inout Config, Int) -> Void
    ) -> ConfigKey {
        ConfigKey(name: name, defaultValue: String(def), help: help, isBool: false) { config, value in
            guard let s = Double(value), s.isFinite, (s >= 0.1 && s <= 3_600) || (allowZero && s == 0) else {
                return "must be a number of seconds from 0.1 to 3600\(allowZero ? " (or 0)" : "")"
            }
            set(&config, Int((s * 1000).rounded()))
            return nil
        }
    }

    /// A non-negative decimal number.
    private static func number(
        _ name: String, _ def: Int, _ help: String, _ set: @escaping @Sendable (inout Config, Double) -> Void
    ) -> ConfigKey {
        ConfigKey(name: name, defaultValue: String(def), help: help, isBool: false) { config, value in
            guard let n = Double(value), n.isFinite, n >= 0, n <= 1_000_000 else {
                return "must be a number from 0 to 1000000"
            }
            set(&config, n)
            return nil
        }
    }

    private static func bool(
        _ name: String, _ def: Bool, _ help: String, _ set: @escaping @Sendable (inout Config, Bool) -> Void
    ) -> ConfigKey {
        ConfigKey(name: name, defaultValue: String(def), help: help, isBool: true) { config, value in
            switch value.lowercased() {
            case "1", "true", "yes", "on": set(&config, true)
            case "0", "false", "no", "off": set(&config, false)
            default: return "must be true or false (also 1/0, yes/no, on/off)"
            }
            return nil
        }
    }
}
