import ChatCore

/// Subscriptions: a channel's topic is subscribed while this worker needs it, and the
/// global and heartbeat topics always; what the subscriber connection pushes is
/// dispatched here.
extension ChannelHub {
    // MARK: Subscriptions

    func subscribe(_ channel: LocalChannel) {
        guard channel.subscription == .none, subscriber.isReady else { return }
        channel.subscription = .pending
        sendSubscription("SUBSCRIBE", channel.keys.topic)
    }

    /// Drops the subscription of a channel nobody here needs any more.
    func release(_ channel: LocalChannel) {
        guard channel.isUnused else { return }
        switch channel.subscription {
        case .active:
            channel.subscription = .leaving
            sendSubscription("UNSUBSCRIBE", channel.keys.topic)
        case .none:
            channels.removeValue(forKey: channel.name)
        case .pending, .leaving:
            break  // decided when Redis confirms
        }
    }

    func sendSubscription(_ command: String, _ topic: [UInt8]) {
        subscriptionArgs.reset()
        subscriptionArgs.add(command)
        subscriptionArgs.add(topic)
        subscriber.sendSubscription(subscriptionArgs)
    }

    /// The subscriber connection is (again) ready: subscribe everything needed.
    func subscriberReady() {
        sendSubscription("SUBSCRIBE", globalKeys.topic)
        sendSubscription("SUBSCRIBE", health.topic)
        health.restarted()
        for channel in Array(channels.values) {
            channel.subscription = .none
            if channel.isUnused { channels.removeValue(forKey: channel.name) } else { subscribe(channel) }
        }
    }

    /// The subscriber connection was lost: subscriptions are gone, and joins
    /// waiting for one fail now rather than hang. Members stay members; their
    /// channels are subscribed again when Redis returns.
    func subscriberDown() {
        globalSubscribed = false
        health.lost()
        for channel in Array(channels.values) {
            channel.subscription = .none
            // Their notice may never arrive now; they are members all the same.
            channel.activate(upTo: StreamID(milliseconds: .max, sequence: .max))
            let waiting = channel.waiting
            channel.waiting = []
            for m in waiting { step(m, .storageLost) }
            if channel.isUnused { channels.removeValue(forKey: channel.name) }
        }
    }

    /// Once a second (Worker): the Redis connections' health (`SubscriberHealth`).
    func checkRedis(now: UInt64, timeoutMillis: UInt64) {
        health.check(
            now: now, timeoutMillis: timeoutMillis, commands: store.link, subscriber: subscriber,
            storeAvailable: store.isAvailable)
    }

    /// What the subscriber connection pushes: messages, and subscription confirmations.
    func onPush(_ reply: RedisReply) {
        guard reply.count >= 3 else { return }
        let kind = reply[0]
        let topic = reply[1].bytes
        if kind.equals("message") {
            if health.isHeartbeat(topic) {
                health.heard()
                return
            }
            deliver(topic: topic, payload: reply[2].bytes)
        } else if kind.equals("subscribe") {
            if isGlobal(topic) {
                globalSubscribed = true
                return
            }
            if health.isHeartbeat(topic) {
                health.confirmed()
                return
            }
            guard let name = channelName(topic), let channel = channels[name] else { return }
            channel.subscription = .active
            startWaiting(channel)
            release(channel)
        } else if kind.equals("unsubscribe") {
            guard let name = channelName(topic), let channel = channels[name] else { return }
            channel.subscription = .none
            if channel.isUnused { channels.removeValue(forKey: channel.name) } else { subscribe(channel) }
        }
    }

    func isGlobal(_ topic: UnsafeRawBufferPointer) -> Bool {
        globalKeys.topic.withUnsafeBytes { $0.elementsEqual(topic) }
    }

    /// `general` from `<prefix>:{general}:pub`.
    func channelName(_ topic: UnsafeRawBufferPointer) -> String? { store.keyspace.channelName(topic: topic) }
}
