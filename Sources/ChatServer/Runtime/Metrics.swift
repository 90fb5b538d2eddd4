import ChatCore

extension Worker {
    /// `/metrics` in the Prometheus text format. Names are prefixed `chat_`;
    /// counters count since this process started.
    func metricsText() -> String {
        var w = PrometheusWriter()
        w.gauge("chat_connections", "TCP connections open now (any phase).", Double(connections.count))
        w.gauge("chat_websocket_connections", "WebSocket connections open now.", Double(openWebSockets))
        w.gauge(
            "chat_connection_limit", "Open WebSocket connections allowed (MAX_CONNECTIONS).", Double(connectionLimit))
        w.counter("chat_connections_opened_total", "TCP connections accepted.", stats.connectionsOpened)
        w.counter(
            "chat_connections_refused_total",
            "Sockets closed at accept: the socket limit with no connection in its HTTP phase to make room, "
                + "or MAX_HANDSHAKES_PER_ADDRESS.",
            stats.acceptsRefused)
        w.counters(
            "chat_connections_closed_total", "Connections closed, by reason.", label: "reason",
            CloseReason.allCases.map { ($0.rawValue, stats.closes[$0] ?? 0) })
        w.counter("chat_websocket_upgrades_total", "WebSocket handshakes completed.", stats.upgrades)
        w.counter(
            "chat_upgrades_refused_total", "Upgrades refused by the origin policy or the connection limit.",
            stats.upgradesRefused)
        w.counter("chat_http_errors_total", "Malformed or oversized HTTP requests.", stats.httpErrors)
        w.counter("chat_messages_received_total", "WebSocket messages received from clients.", stats.messagesIn)
        w.counter("chat_messages_published_total", "Messages and broadcasts sent to Redis.", stats.published)
        w.counter("chat_redis_messages_total", "Events received from Redis Pub/Sub.", stats.messagesFromRedis)
        w.counter(
            "chat_deliveries_total", "Events appended to a client's output (one per recipient).", stats.deliveries)
        w.counter("chat_events_sent_total", "Replies and errors sent to single clients.", stats.eventsOut)
        w.counter(
            "chat_slow_consumer_disconnects_total", "Clients disconnected for not reading their messages.",
            stats.slowConsumers)
        w.counter("chat_rate_limited_total", "Client messages refused by the rate limit.", stats.rateLimited)
        w.counter("chat_pings_sent_total", "Heartbeat pings sent to silent clients.", stats.pings)
        w.counter("chat_bytes_received_total", "Bytes read from clients.", stats.bytesIn)
        w.counter("chat_bytes_sent_total", "Bytes written to clients.", stats.bytesOut)
        w.gauge(
            "chat_io_uring", "1 when fan-out writes go through io_uring (IO_URING and the kernel allow it).",
            sendRing != nil ? 1 : 0)
        w.counter(
            "chat_io_uring_sends_total", "Fan-out sends made through io_uring (any result, errors included).",
            stats.ringSends)
        w.counter(
            "chat_io_uring_submits_total",
            "io_uring submissions that made them (one io_uring_enter each, unless the kernel takes part of one).",
            stats.ringSubmits)
        w.counter(
            "chat_partial_writes_total",
            "Fan-out sends a socket took only part of (the rest waits in that client's output buffer).",
            stats.partialWrites)
        w.gauge("chat_channels", "Channels with members on this instance.", Double(hub.channels.count))
        w.gauge("chat_redis_up", "1 when both Redis connections are ready.", isRedisReady ? 1 : 0)
        w.counter(
            "chat_redis_reconnects_total", "Redis reconnections after a lost connection.",
            UInt64(commands.reconnects + subscriber.reconnects))
        w.histogram("chat_redis_command_seconds", "Round trip of the chat's Redis commands.", hub.store.latency)
        w.gauge("chat_redis_in_flight", "Commands sent to Redis and not answered yet.", Double(commands.inFlight))
        w.counter(
            "chat_redis_congestions_total",
            "Times the commands in flight reached the backpressure bound (client reads paused until half of it).",
            commands.congestions)
        w.gauge(
            "chat_history_reads",
            "History reads running in Redis (joins with a replay, HTTP history requests); HISTORY_READS at most.",
            Double(hub.historyReads.running))
        w.counter(
            "chat_passwords_restored_total",
            "Protected channels whose password this instance wrote back after Redis lost their settings.",
            UInt64(hub.passwordsRestored))
        w.gauge(
            "chat_leaves_waiting", "Leaves waiting for Redis to take them (never dropped).", Double(hub.leaves.count))
        w.counter(
            "chat_dead_instance_members_removed_total", "Members of crashed instances removed by this instance.",
            registry.reapedMembers)
        w.gauge("chat_password_jobs", "Channel password hashes and checks waiting or running.", Double(hasher.pending))
        return w.text
    }
}
