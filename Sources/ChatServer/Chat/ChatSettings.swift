import ChatCore

/// The settings the chat reads (ChannelHub and its parts), taken from the `Config`
/// once when the worker is built, so that the chat does not reach the whole
/// configuration or the worker for them.
struct ChatSettings {
    /// REDIS_PREFIX: every key and topic starts with it.
    var redisPrefix: String
    /// MAX_CHANNELS_PER_CONNECTION.
    var maxChannelsPerConnection: Int
    /// HISTORY_READS: history reads running at once (joins' replays and the API).
    var historyReads: Int
    /// REPLAY_LIMIT: the most history events a join replays.
    var replayLimit: Int
    /// OUTPUT_BUFFER_LIMIT (a join's replay gets half of it).
    var outputBufferLimit: Int
    /// CHANNEL_CREATE_RATE a minute per client address (0: no limit).
    var channelCreateRate: Int
    /// PASSWORD_ATTEMPTS a minute per client address.
    var passwordAttempts: Int
    /// MEMBER_LIST_LIMIT: names in a join's member list and in a presence page.
    var memberListLimit: Int
    /// ALLOW_BROADCAST: clients may broadcast to everyone.
    var allowBroadcast: Bool
    /// RATE_LIMIT_BYTES (for the refusal's text).
    var rateLimitBytes: Int
    /// The bound of the leave queue: every membership the worker's connections can hold.
    var leaveQueueCapacity: Int

    init(config: Config, connectionLimit: Int) {
        redisPrefix = config.redisPrefix
        maxChannelsPerConnection = config.maxChannelsPerConnection
        historyReads = config.historyReads
        replayLimit = config.replayLimit
        outputBufferLimit = config.outputBufferLimit
        channelCreateRate = config.channelCreateRate
        passwordAttempts = config.passwordAttempts
        memberListLimit = config.memberListLimit
        allowBroadcast = config.allowBroadcast
        rateLimitBytes = config.rateLimitBytes
        leaveQueueCapacity = connectionLimit * config.maxChannelsPerConnection
    }
}
