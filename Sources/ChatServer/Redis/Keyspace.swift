import Glibc

/// Every Redis key and Pub/Sub topic of the server, built and parsed in one place
/// (docs/ARCHITECTURE.md, "What lives in Redis", has the table).
///
/// A channel's keys are `<prefix>:{<name>}:<part>`: the hash tag `{name}` puts all of
/// them in one Redis Cluster slot, so the per-channel scripts touch one slot only.
/// Broadcast-to-everyone is the channel with the tag `*`, which no channel name can be
/// (names hold letters, digits and `_ - .` only). Keys that are not a channel's (the
/// directories, the instance registry) are written outside the per-channel scripts.
struct Keyspace {
    let prefix: String
    /// Sorted set: channel name → member count, for every public channel with members.
    let channels: [UInt8]
    /// The same for protected channels (listed with the API key only).
    let protectedChannels: [UInt8]
    /// Set of the ids of instances that registered (live or not yet cleaned up).
    let instances: [UInt8]
    /// `<prefix>:{` and `}:pub`: what a channel topic starts and ends with.
    private let topicHead: [UInt8]
    private static let topicTail: [UInt8] = Array("}:pub".utf8)
    /// The tag of broadcasts to everyone.
    static let globalTag = "*"

    init(prefix: String) {
        self.prefix = prefix
        channels = Array("\(prefix):channels".utf8)
        protectedChannels = Array("\(prefix):channels:protected".utf8)
        instances = Array("\(prefix):instances".utf8)
        topicHead = Array("\(prefix):{".utf8)
    }

    /// The keys of channel `name`.
    func channel(_ name: String) -> ChannelKeys { ChannelKeys(prefix: prefix, tag: name) }
    /// Broadcast-to-everyone's keys (its stream and topic).
    var global: ChannelKeys { ChannelKeys(prefix: prefix, tag: Self.globalTag) }

    /// String with a TTL, refreshed while the instance lives.
    func alive(_ instance: String) -> [UInt8] { Array("\(prefix):instance:\(instance):alive".utf8) }
    /// Set of `field \n channel \n nickname` for every member the instance has.
    func memberships(_ instance: String) -> [UInt8] { Array("\(prefix):instance:\(instance):members".utf8) }
    /// The lock of whoever cleans up after a dead instance.
    func reaper(_ instance: String) -> [UInt8] { Array("\(prefix):instance:\(instance):reaper".utf8) }
    /// Set when a cleanup starts: an instance that was only stalled finds it and writes its members back.
    func reaped(_ instance: String) -> [UInt8] { Array("\(prefix):instance:\(instance):reaped".utf8) }
    /// The Pub/Sub topic an instance publishes its subscriber heartbeat on.
    func heartbeat(_ instance: String) -> [UInt8] { Array("\(prefix):{\(Self.globalTag)}:heartbeat:\(instance)".utf8) }

    /// The channel a topic is for: `general` from `<prefix>:{general}:pub`; nil for any
    /// other topic (`*`, the global one, is returned as it is: compare `global.topic`).
    func channelName(topic: UnsafeRawBufferPointer) -> String? {
        let head = topicHead.count
        let tail = Self.topicTail.count
        guard topic.count > head + tail, let base = topic.baseAddress,
            topicHead.withUnsafeBytes({ memcmp(base, $0.baseAddress!, head) == 0 }),
            Self.topicTail.withUnsafeBytes({ memcmp(base + topic.count - tail, $0.baseAddress!, tail) == 0 })
        else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: topic[head..<(topic.count - tail)]), as: UTF8.self)
    }

    func channelName(topic: [UInt8]) -> String? { topic.withUnsafeBytes { channelName(topic: $0) } }

    /// The part of a key Redis Cluster hashes (its hash tag): what is between the first
    /// `{` and the first `}` after it, if that is not empty; else the whole key.
    static func hashTag(_ key: [UInt8]) -> ArraySlice<UInt8> {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        else { return key[...] }
        return key[(open + 1)..<close]
    }
}

/// Redis key names of one channel (`Keyspace.channel`). The hash tag `{name}` puts a
/// channel's stream, member hash and topic in one Redis Cluster slot.
struct ChannelKeys {
    /// Stream: the channel's events (messages, stored notices), id = message id.
    let stream: [UInt8]
    /// Hash: member field (`<instance>:<connection>:<join>`) → nickname.
    let members: [UInt8]
    /// Hash: `dirty` = 1 while a quiet join or leave waits for its count update;
    /// `at` = when the last count update went out (ms), so that all instances
    /// together send at most one a second; `notices` stored since the last message.
    let presence: [UInt8]
    /// Hash: nickname key → the member field holding it; a member holds each of its
    /// nickname's keys (`NicknameFolding.keys`: one to four).
    let nicknames: [UInt8]
    /// Hash: `created` (ms), `pw` (the password's crypt hash, if any), `opened`.
    let meta: [UInt8]
    /// Pub/Sub topic of the channel's live events.
    let topic: [UInt8]

    init(prefix: String, tag: String) {
        stream = Array("\(prefix):{\(tag)}:stream".utf8)
        members = Array("\(prefix):{\(tag)}:members".utf8)
        presence = Array("\(prefix):{\(tag)}:presence".utf8)
        nicknames = Array("\(prefix):{\(tag)}:nicknames".utf8)
        meta = Array("\(prefix):{\(tag)}:meta".utf8)
        topic = Array("\(prefix):{\(tag)}:pub".utf8)
        self.prefix = prefix
        self.tag = tag
    }

    private let prefix: String
    /// The channel's name (`*` for broadcasts).
    let tag: String

    /// Hash of the wrong passwords for this channel from one client address (`n`, and
    /// `at` the last one's time, expiring 10 minutes after), shared by every instance:
    /// in the channel's slot like its other keys.
    func passwordFailures(_ address: String) -> [UInt8] { Array("\(prefix):{\(tag)}:pwfails:\(address)".utf8) }

    /// Broadcast-to-everyone lives under the tag `*`, which no channel name can be.
    static func global(prefix: String) -> ChannelKeys { ChannelKeys(prefix: prefix, tag: Keyspace.globalTag) }
}
