import EventIO

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Command line of chat-bench (see `chat-bench --help`).
struct BenchOptions {
    enum Mode: String { case pubsub, idle }
    enum PublishKind { case none, websocket, http }

    var mode = Mode.pubsub
    var subscribers = 100
    var channels = 1
    /// `{i}` = subscriber index, `{ch}` = its channel name.
    var url = "ws://127.0.0.1:8080/ws?nickname=s{i}"
    /// Text message sent after the upgrade to subscribe (our protocol); empty for none.
    var join = ""
    /// A subscriber is ready when a message containing this arrives; empty = on upgrade.
    var ready = ""
    var publish = PublishKind.none
    var publishURL = ""
    /// `{ch}`, `{payload}` (our protocol's send op).
    var publishTemplate = #"{"op":"send","channel":"{ch}","message":"{payload}"}"#
    var rate = 100.0
    var duration = 10.0
    var payload = 64
    var drain = 2.0
    var settle = 1.0
    var hold = 3.0
    var channelPrefix = "bench"
    var serverPIDs: [Int32] = []
    /// Subscribers read through io_uring (one system call per loop turn) or with read().
    var ringReads = true
    /// First source address for client sockets; consecutive addresses after it are
    /// used every `perSource` connections (127.0.0.x), past the ephemeral port range.
    var sourceBase: (UInt8, UInt8, UInt8, UInt8) = (127, 0, 0, 2)
    var perSource = 20_000
    /// Connections per process before the tool splits into several processes.
    var perProcess = 0
    var connectConcurrency = 1_000
    var timeout = 120.0
    /// Set on the shard processes the tool starts itself.
    var shard: (index: Int, count: Int)?

    static let help = """
        Usage: chat-bench pubsub|idle [options]

        Opens N WebSocket subscribers over C channels (subscriber i is in channel i % C),
        waits until all are ready, then (pubsub) publishes at a fixed rate with a send
        timestamp in every payload and reports one JSON line: deliveries, losses,
        duplicates, latency percentiles, server CPU per delivery and the tool's own CPU;
        or (idle) holds the connections and reports the server's RSS per connection.

          --subscribers N        subscribers (default 100)
          --channels C           channels (default 1); channel k is named <prefix><k>
          --channel-prefix P     default "bench"
          --url TEMPLATE         subscriber URL; {i} index, {ch} channel (ws://host:port/path, numeric host)
          --join TEXT            text message to send after the upgrade; {ch} expands (our protocol)
          --ready TEXT           ready when a message containing TEXT arrives (default: ready on upgrade)
          --publish ws|http      publish over WebSocket (our protocol) or by HTTP POST
          --publish-url URL      ws://...: the publisher's connection (it joins every channel with --join);
                                 http://host:port/path/{ch}: POST the payload there (Nchan)
          --publish-template T   WebSocket publish op; {ch}, {payload}
          --rate R               messages per second in total (default 100)
          --duration S           seconds of publishing (default 10)
          --payload BYTES        message size (default 64, at least 32)
          --drain S              seconds to wait for deliveries after the last publish (default 2)
          --settle S             seconds between "all ready" and the first publish (default 1)
          --hold S               idle mode: seconds to hold before measuring (default 3)
          --server-pids P,P      server processes (their children count too) for CPU and RSS
          --reads ring|read      subscribers read through io_uring, one system call per loop turn
                                 (default; read() where the kernel forbids it), or one read() per socket;
                                 the JSON line's "reads" and "ring_reads" say what happened
          --source-base A.B.C.D  first client source address (default 127.0.0.2)
          --per-source N         connections per source address (default 20000)
          --per-process N        connections per process before splitting (default: descriptor limit - 200)
          --timeout S            seconds allowed to connect everything (default 120)

        Output (one JSON line): mode, subscribers, channels, processes, reads, ring_reads,
        connected and ready (subscribers that got that far), then for pubsub: rate, duration_s,
        payload_bytes, published (messages sent), publish_acknowledged (HTTP 2xx answers),
        expected (deliveries due: each published message times its channel's subscribers),
        delivered, duplicates, lost (expected - delivered), delivered_ratio, deliveries_per_s
        (delivered / duration_s), latency_ms {p50,p90,p99,p999,max} (publisher's send to a
        subscriber's read, monotonic clock), publisher_echoes (a WebSocket publisher's own
        messages coming back to it), publish_late (messages sent 2 ms or more after they were
        due: the publisher could not keep the rate), server_cpu_s and server_cpu_us_per_delivery
        (user+system time of --server-pids and their children over the measured interval, per
        delivery to subscribers and echoes); for idle: server_rss_kib, server_rss_baseline_kib,
        server_kib_per_connection; then measured_s, tool_cpu_cores (this tool's CPU: near 1.0
        means the tool limits the result), failures (connections that failed), first_error,
        and "error" when the run could not be measured.

        Exit status: 0 when every subscriber became ready and the run was measured (losses and
        failures after that are numbers in the report, not errors), 1 when not (the JSON line
        says why in "error" or first_error), 2 for a bad command line.
        """

    static func parse(_ args: [String]) -> Result<BenchOptions, BenchError> {
        var o = BenchOptions()
        var i = 0
        func value() -> String? {
            i += 1
            return i < args.count ? args[i] : nil
        }
        guard let first = args.first, let mode = Mode(rawValue: first) else {
            return .failure(BenchError("first argument: pubsub or idle (see --help)"))
        }
        o.mode = mode
        i = 1
        while i < args.count {
            let a = args[i]
            guard let v = value() else {
                return .failure(BenchError("\(a): a value is missing, or it is not an option (see --help)"))
            }
            switch a {
            case "--subscribers":
                guard let n = Int(v), n >= 0 else { return .failure(BenchError("bad \(a)")) }
                o.subscribers = n
            case "--channels":
                guard let n = Int(v), n >= 1 else { return .failure(BenchError("bad \(a)")) }
                o.channels = n
            case "--channel-prefix": o.channelPrefix = v
            case "--url":
                guard Endpoint(o.expand(v, index: 0, channel: 0)) != nil else {
                    return .failure(
                        BenchError(
                            """
                            --url: ws://A.B.C.D:PORT/path with a numeric IPv4 host (the tool spreads source addresses \
                            over 127.0.0.x), got \(v)
                            """
                        ))
                }
                o.url = v
            case "--join": o.join = v
            case "--ready": o.ready = v
            case "--publish":
                switch v {
                case "ws": o.publish = .websocket
                case "http": o.publish = .http
                default: return .failure(BenchError("--publish: ws or http"))
                }
            case "--publish-url": o.publishURL = v
            case "--publish-template": o.publishTemplate = v
            case "--rate":
                guard let r = Double(v), r > 0, r <= 1_000_000 else {
                    return .failure(BenchError("--rate: a number of messages per second, above 0 and at most 1000000"))
                }
                o.rate = r
            case "--duration":
                guard let d = Double(v), d > 0, d <= 86_400 else {
                    return .failure(BenchError("--duration: seconds, above 0 and at most 86400"))
                }
                o.duration = d
            case "--payload":
                guard let n = Int(v), n >= 32 else { return .failure(BenchError("bad \(a)")) }
                o.payload = n
            case "--drain":
                guard let d = Double(v), d >= 0, d <= 86_400 else { return .failure(BenchError("bad \(a)")) }
                o.drain = d
            case "--settle":
                guard let d = Double(v), d >= 0, d <= 86_400 else { return .failure(BenchError("bad \(a)")) }
                o.settle = d
            case "--hold":
                guard let d = Double(v), d >= 0, d <= 86_400 else { return .failure(BenchError("bad \(a)")) }
                o.hold = d
            case "--timeout":
                guard let d = Double(v), d > 0, d <= 86_400 else { return .failure(BenchError("bad \(a)")) }
                o.timeout = d
            case "--server-pids":
                let pids = v.split(separator: ",").map { Int32($0) }
                guard !pids.isEmpty, pids.allSatisfy({ ($0 ?? 0) > 0 }) else {
                    return .failure(BenchError("--server-pids: process ids separated by commas, got \(v)"))
                }
                o.serverPIDs = pids.compactMap { $0 }
            case "--reads":
                switch v {
                case "ring": o.ringReads = true
                case "read": o.ringReads = false
                default: return .failure(BenchError("--reads: ring or read"))
                }
            case "--source-base":
                let p = v.split(separator: ".").compactMap { UInt8($0) }
                guard p.count == 4 else { return .failure(BenchError("bad \(a)")) }
                o.sourceBase = (p[0], p[1], p[2], p[3])
            case "--per-source":
                guard let n = Int(v), n > 0 else { return .failure(BenchError("bad \(a)")) }
                o.perSource = n
            case "--per-process":
                guard let n = Int(v), n > 0 else { return .failure(BenchError("bad \(a)")) }
                o.perProcess = n
            case "--shard":
                let p = v.split(separator: "/").compactMap { Int($0) }
                guard p.count == 2, p[1] >= 1, p[0] >= 0, p[0] < p[1] else { return .failure(BenchError("bad \(a)")) }
                o.shard = (p[0], p[1])
            default: return .failure(BenchError("unknown option \(a) (see --help)"))
            }
            i += 1
        }
        if o.mode == .pubsub && o.publish == .none {
            return .failure(BenchError("pubsub needs --publish ws|http and --publish-url"))
        }
        if o.mode == .pubsub, o.publish == .websocket || o.publish == .http,
            Endpoint(o.expand(o.publishURL, index: 0, channel: 0)) == nil
        {
            return .failure(
                BenchError(
                    """
                    --publish-url: ws://A.B.C.D:PORT/path or http://A.B.C.D:PORT/path with a numeric IPv4 host, got \
                    \(o.publishURL)
                    """
                ))
        }
        if o.perSource > 45_000 {
            return .failure(BenchError("--per-source: at most 45000 (source ports 20000-64999)"))
        }
        return .success(o)
    }

    func channelName(_ k: Int) -> String { "\(channelPrefix)\(k)" }

    func expand(_ template: String, index: Int? = nil, channel: Int? = nil) -> String {
        var s = template
        if let index { s = s.replacing("{i}", with: String(index)) }
        if let channel { s = s.replacing("{ch}", with: channelName(channel)) }
        return s
    }
}

/// `ws://127.0.0.1:8080/path` or `http://...`: numeric IPv4 host, port, path.
struct Endpoint {
    var address: (UInt8, UInt8, UInt8, UInt8)
    var port: UInt16
    var path: String

    init?(_ url: String) {
        var rest = Substring(url)
        for scheme in ["ws://", "http://"] where rest.hasPrefix(scheme) { rest = rest.dropFirst(scheme.count) }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let hostPort = rest[..<slash]
        path = slash < rest.endIndex ? String(rest[slash...]) : "/"
        let hp = hostPort.split(separator: ":")
        guard hp.count == 2, let port = UInt16(hp[1]) else { return nil }
        let octets = hp[0].split(separator: ".").compactMap { UInt8($0) }
        guard octets.count == 4 else { return nil }
        address = (octets[0], octets[1], octets[2], octets[3])
        self.port = port
    }
}
