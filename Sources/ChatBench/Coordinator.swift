import EventIO
import Glibc

/// Runs a benchmark: the subscribers (in this process, or split over shard processes
/// when one process's descriptor limit is not enough), the publisher, the timing,
/// and the report.
final class Coordinator {
    let options: BenchOptions
    let loop = EventLoop(preciseTimers: true)
    private var local: Subscribers?
    private var shards: [ShardProcess] = []
    private var publisher: Publisher?
    private var serverPIDs: [Int32] = []
    private var baselineRSS = 0
    private var readyShards = 0
    private var publisherReady = false
    private var subscribersReady = false
    private var timers: [LoopEvent] = []
    private var measureStart: (wall: UInt64, server: Double, tool: Double) = (0, 0, 0)
    private var measureEnd: (wall: UInt64, server: Double, tool: Double) = (0, 0, 0)
    private var reports: [ShardReport] = []
    /// Latest `progress` of each shard: connected, ready, failures.
    private var progress: [Int: (Int, Int, Int)] = [:]
    private var result: [String: String] = [:]
    private var reportedShards: Set<Int> = []
    private var finished = false
    private(set) var exitCode: Int32 = 0

    init(options: BenchOptions) { self.options = options }

    func run() {
        serverPIDs = ProcStats.withChildren(options.serverPIDs)
        baselineRSS = ProcStats.rssKiB(serverPIDs)
        let limit = Platform.raiseDescriptorLimit()
        let perProcess = options.perProcess > 0 ? options.perProcess : max(100, limit - 200)
        let count = options.subscribers <= perProcess ? 1 : (options.subscribers + perProcess - 1) / perProcess
        if count == 1 {
            let subs = Subscribers(options: options, loop: loop, indices: Array(0..<options.subscribers))
            subs.onAllReady = { [unowned self] in
                self.subscribersReady = true
                self.maybeStart()
            }
            subs.onSettledWithFailures = { [unowned self] in self.settledWithFailures(subs.failures) }
            local = subs
            subs.start()
        } else {
            for k in 0..<count {
                let shard = ShardProcess(index: k, count: count, loop: loop) { [unowned self] line, shard in
                    self.shardSaid(line, shard)
                }
                if let error = shard.spawn() { return finish(error: error) }
                shards.append(shard)
            }
        }
        if options.mode == .pubsub {
            let p = Publisher(options: options, loop: loop)
            p.onReady = { [unowned self] in
                self.publisherReady = true
                self.maybeStart()
            }
            publisher = p
            p.start()
        } else {
            publisherReady = true
        }
        after(options.timeout) { [unowned self] in
            guard self.measureStart.wall == 0 else { return }
            let who = self.subscribersReady ? "the publisher was not" : "not every subscriber was"
            self.finish(error: "\(who) ready after \(self.options.timeout) s")
        }
        loop.run()
    }

    private func after(_ seconds: Double, _ action: @escaping () -> Void) {
        let t = LoopEvent(loop, .timer(repeating: false), action)
        timers.append(t)
        t.schedule(milliseconds: Int(seconds * 1000))
    }

    private func shardSaid(_ line: String, _ shard: ShardProcess) {
        if line.hasPrefix("ready") {
            readyShards += 1
            if readyShards == shards.count {
                subscribersReady = true
                maybeStart()
            }
        } else if line == "exited" {
            if !reportedShards.contains(shard.index) {
                finish(error: "subscriber process \(shard.index) exited before it reported")
            }
        } else if line.hasPrefix("report ") {
            reportedShards.insert(shard.index)
            if let r = ShardReport(line) { reports.append(r) }
            if reports.count == shards.count { report() }
        } else if line.hasPrefix("progress ") {
            let p = line.split(separator: " ", maxSplits: 4)
            if p.count >= 4, let c = Int(p[1]), let r = Int(p[2]), let f = Int(p[3]) {
                progress[shard.index] = (c, r, f)
                if p.count == 5, result["first_error"] == nil, f > 0 { result["first_error"] = String(p[4]) }
                let ready = progress.values.reduce(0) { $0 + $1.1 }
                let failed = progress.values.reduce(0) { $0 + $1.2 }
                if progress.count == shards.count, ready + failed >= options.subscribers { settledWithFailures(failed) }
            }
        } else if line.hasPrefix("failed ") {
            result["first_error"] = String(line.dropFirst(7))
        }
    }

    /// Before measuring, every subscriber is ready or failed and some failed: report
    /// now rather than at the timeout (failed connections are not retried).
    private func settledWithFailures(_ failed: Int) {
        guard failed > 0, measureStart.wall == 0 else { return }
        finish(error: "\(failed) of \(options.subscribers) subscribers failed before all were ready")
    }

    private func maybeStart() {
        guard subscribersReady, publisherReady, measureStart.wall == 0 else { return }
        after(options.settle) { [unowned self] in
            self.measureStart = (
                ProcStats.monotonicNanos(), ProcStats.cpuSeconds(self.serverPIDs), ProcStats.ownCPUSeconds()
            )
            for s in self.shards { s.send("start") }
            self.local?.measuring = true
            switch self.options.mode {
            case .pubsub:
                self.publisher?.run(seconds: self.options.duration) {
                    self.after(self.options.drain) { self.stopMeasuring() }
                }
            case .idle:
                self.after(self.options.hold) { self.stopMeasuring() }
            }
        }
    }

    private func stopMeasuring() {
        measureEnd = (ProcStats.monotonicNanos(), ProcStats.cpuSeconds(serverPIDs), ProcStats.ownCPUSeconds())
        local?.measuring = false
        if shards.isEmpty { report() } else { for s in shards { s.send("report") } }
    }

    private func report() {
        guard !finished else { return }
        finished = true
        var r = ShardReport()
        if let l = local {
            r = ShardReport(l, cpu: measureEnd.tool - measureStart.tool)
        } else {
            for x in reports { r.merge(x) }
        }
        let wall = Double(measureEnd.wall - measureStart.wall) / 1e9
        let toolCPU = (measureEnd.tool - measureStart.tool) + (local == nil ? r.cpu : 0)
        var fields: [(String, String)] = [
            ("mode", q(options.mode.rawValue)), ("subscribers", "\(options.subscribers)"),
            ("channels", "\(options.channels)"),
            ("processes", "\(max(1, shards.count) + (shards.isEmpty ? 0 : 1))"),
            ("reads", q(r.ringReads > 0 ? "ring" : "read")), ("ring_reads", "\(r.ringReads)"),
            ("connected", "\(r.connected)"), ("ready", "\(r.ready)"),
        ]
        if options.mode == .pubsub, let p = publisher {
            let subscribers = options.subscribers
            let channels = options.channels
            var expected: UInt64 = 0
            for j in 0..<p.published {
                let c = Int(j % UInt64(channels))
                expected += UInt64(subscribers / channels + (c < subscribers % channels ? 1 : 0))
            }
            let serverCPU = measureEnd.server - measureStart.server
            let deliveries = r.delivered + p.echoes
            fields += [
                ("rate", "\(options.rate)"), ("duration_s", "\(options.duration)"),
                ("payload_bytes", "\(options.payload)"),
                ("published", "\(p.published)"), ("publish_acknowledged", "\(p.acknowledged)"),
                ("expected", "\(expected)"), ("delivered", "\(r.delivered)"), ("duplicates", "\(r.duplicates)"),
                ("lost", "\(expected > r.delivered ? expected - r.delivered : 0)"),
                ("delivered_ratio", fmt(expected > 0 ? Double(r.delivered) / Double(expected) : 0, 5)),
                ("deliveries_per_s", fmt(Double(r.delivered) / options.duration, 0)),
                (
                    "latency_ms",
                    "{\"p50\":\(ms(r.histogram.percentile(0.5))),\"p90\":\(ms(r.histogram.percentile(0.9))),"
                        + "\"p99\":\(ms(r.histogram.percentile(0.99))),\"p999\":\(ms(r.histogram.percentile(0.999))),"
                        + "\"max\":\(ms(r.histogram.maximum))}"
                ),
                ("publisher_echoes", "\(p.echoes)"), ("publish_late", "\(p.late)"),
                ("server_cpu_s", fmt(serverCPU, 3)),
                ("server_cpu_us_per_delivery", fmt(deliveries > 0 ? serverCPU / Double(deliveries) * 1e6 : 0, 3)),
            ]
            if p.failures > 0 { result["first_error"] = result["first_error"] ?? p.firstError }
        } else {
            let rss = ProcStats.rssKiB(serverPIDs)
            fields += [
                ("server_rss_kib", "\(rss)"), ("server_rss_baseline_kib", "\(baselineRSS)"),
                ("server_kib_per_connection", fmt(r.ready > 0 ? Double(rss - baselineRSS) / Double(r.ready) : 0, 2)),
            ]
        }
        fields += [
            ("measured_s", fmt(wall, 2)), ("tool_cpu_cores", fmt(wall > 0 ? toolCPU / wall : 0, 3)),
            ("failures", "\(r.failures + (publisher?.failures ?? 0))"),
        ]
        if let e = result["first_error"] ?? (r.firstError.isEmpty ? nil : r.firstError) {
            fields.append(("first_error", q(e)))
        }
        // A server process that went away makes the CPU and memory figures meaningless.
        let gone = ProcStats.firstGone(serverPIDs)
        if let gone { fields.append(("error", q("server process \(gone) went away during the run"))) }
        FileOutput.standardOutput("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}\n")
        exitCode = r.ready == options.subscribers && gone == nil ? 0 : 1
        shutdown()
    }

    private func finish(error: String) {
        guard !finished else { return }
        finished = true
        var r = ShardReport()
        if let l = local { r = ShardReport(l, cpu: 0) }
        for (c, ready, f) in progress.values {
            r.connected += c
            r.ready += ready
            r.failures += f
        }
        let firstError = result["first_error"] ?? (r.firstError.isEmpty ? (publisher?.firstError ?? "") : r.firstError)
        FileOutput.standardOutput(
            "{\"mode\":\(q(options.mode.rawValue)),\"error\":\(q(error)),\"connected\":\(r.connected),"
                + "\"ready\":\(r.ready),\"failures\":\(r.failures),\"first_error\":\(q(firstError))}\n"
        )
        exitCode = 1
        shutdown()
    }

    private func shutdown() {
        local?.closeAll()
        publisher?.closeAll()
        for s in shards { s.stop() }
        loop.stop()
    }

    private func q(_ s: String) -> String {
        "\"" + s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
    }
    private func fmt(_ v: Double, _ digits: Int) -> String {
        var p = 1.0
        for _ in 0..<digits { p *= 10 }
        let r = (v * p).rounded() / p
        return digits == 0 ? String(Int64(r)) : String(r)
    }
    private func ms(_ micros: UInt64) -> String { fmt(Double(micros) / 1000, 3) }
}

/// What one process of subscribers measured.
struct ShardReport {
    var connected = 0, ready = 0, failures = 0
    var delivered: UInt64 = 0, duplicates: UInt64 = 0, ringReads: UInt64 = 0
    var cpu = 0.0
    var histogram = LatencyHistogram()
    var firstError = ""

    init() {}

    init(_ s: Subscribers, cpu: Double) {
        connected = s.connected
        ready = s.ready
        failures = s.failures
        delivered = s.delivered
        duplicates = s.duplicates
        histogram = s.histogram
        ringReads = s.batchReader?.reads ?? 0
        self.cpu = cpu
        firstError = s.firstError
    }

    /// `report <connected> <ready> <failures> <delivered> <duplicates> <cpu> <max> <sparse histogram> <ring reads>`
    var line: String {
        let sparse = histogram.sparse.isEmpty ? "-" : histogram.sparse
        let counts = "\(connected) \(ready) \(failures) \(delivered) \(duplicates)"
        return "report \(counts) \(cpu) \(histogram.maximum) \(sparse) \(ringReads)"
    }

    init?(_ line: String) {
        let p = line.split(separator: " ")
        guard p.count >= 10, let c = Int(p[1]), let r = Int(p[2]), let f = Int(p[3]), let d = UInt64(p[4]),
            let u = UInt64(p[5]),
            let cpu = Double(p[6]), let mx = UInt64(p[7])
        else { return nil }
        connected = c
        ready = r
        failures = f
        delivered = d
        duplicates = u
        self.cpu = cpu
        histogram = LatencyHistogram(sparse: p[8] == "-" ? "" : String(p[8]), maximum: mx)
        ringReads = UInt64(p[9]) ?? 0
    }

    mutating func merge(_ o: ShardReport) {
        connected += o.connected
        ready += o.ready
        failures += o.failures
        delivered += o.delivered
        duplicates += o.duplicates
        cpu += o.cpu
        ringReads += o.ringReads
        histogram.merge(o.histogram)
        if firstError.isEmpty { firstError = o.firstError }
    }
}
