import ChatCore
import EventIO

/// The composition root of a worker process: builds its parts (the loop, the Redis
/// links and store, the runtime, the chat hub, the instance registry, the password
/// hasher, the HTTP API) and wires them: Redis events to the hub, the hub's and the runtime's work
/// into the end-of-turn phases. No logic of its own.
enum WorkerAssembly {
    static func build(config: Config, logger: Logger) -> Worker {
        let loop = EventLoop()
        let endpoint = RedisEndpoint(
            host: config.redisHost, port: config.redisPort, password: config.redisPassword, database: config.redisDB)
        // Loading the script on every (re)connect means EVALSHA finds it even after Redis
        // restarts; NOSCRIPT (a SCRIPT FLUSH on a live server) is still handled.
        let commands = RedisLink(
            role: "commands", endpoint: endpoint, selectsDatabase: true,
            setup: LuaScript.loadCommands, loop: loop, logger: logger)
        let subscriber = RedisLink(
            role: "subscriber", endpoint: endpoint, selectsDatabase: false, loop: loop, logger: logger)
        let worker = Worker(config: config, logger: logger, loop: loop, commands: commands, subscriber: subscriber)

        let store = ChatStore(
            link: commands, prefix: config.redisPrefix, historySize: config.historySize,
            maxAgeMillis: config.historyMaxAgeMillis,
            noticeLimit: config.presenceNoticeLimit == 0 ? Int(Int32.max) : config.presenceNoticeLimit)
        store.instance = worker.redisID
        store.channelTTLMillis = config.channelTTLMillis
        store.protectedTTLMillis = config.protectedChannelTTLMillis
        let hasher = PasswordHasher(loop: loop)
        let settings = ChatSettings(config: config, connectionLimit: worker.connectionLimit)
        let hub = ChannelHub(
            settings: settings, runtime: worker,
            store: store, subscriber: subscriber, stats: worker.stats, logger: logger, hasher: hasher,
            nicknameFolding: worker.nicknameFolding, instanceID: worker.instanceID, redisID: worker.redisID)
        let registry = InstanceRegistry(
            hub: hub, store: store, id: worker.redisID, ttlMillis: config.instanceTTLMillis, logger: logger)
        let api = APIHandlers(
            store: store, hub: hub, hasher: hasher, settings: settings,
            routing: APIRouting(apiKey: config.apiKey, rateLimit: config.apiRateLimit),
            buckets: AddressBuckets(rate: config.apiRateLimit, capacity: max(1, 2 * config.apiRateLimit)),
            protocolLimits: worker.protocolLimits, stats: worker.stats)
        worker.attach(hub: hub, registry: registry, hasher: hasher, api: api)

        // The end of each loop turn, in the scheduler's order.
        let turn = worker.turn
        turn.turnStarted = { [unowned worker] in worker.turnStarted() }
        turn.replays = { [unowned hub] in hub.startReplays() }
        turn.channelBatches = { [unowned hub] in hub.flushBatches() }
        turn.redisRelieved = { [unowned hub] in hub.redisRelieved() }
        turn.tearDown = { [unowned worker] conn in worker.remove(conn) }
        turn.turnEnded = { [unowned worker] in worker.turnEnded() }

        // Redis events.
        subscriber.onReady = { [unowned hub] in hub.subscriberReady() }
        commands.onReady = { [unowned hub, unowned registry] in
            hub.commandsReady()
            registry.redisReady()
        }
        subscriber.onDown = { [unowned hub] in hub.subscriberDown() }
        commands.onRelieved = { [unowned turn] in turn.relieve() }
        return worker
    }
}
