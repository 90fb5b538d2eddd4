import EventIO
import Glibc

/// A child process running part of the subscribers (`chat-bench ... --shard k/K`),
/// talking to the coordinator in lines: it says `ready` and `report ...` on its
/// standard output; it is told `start` and `report` on its standard input.
final class ShardProcess {
    let index: Int
    let count: Int
    private let loop: EventLoop
    private var pid: pid_t = 0
    private var toChild: Int32 = -1
    private var fromChild: Int32 = -1
    private var watcher: FDWatcher?
    private var input: [UInt8] = []
    private let onLine: (String, ShardProcess) -> Void

    init(index: Int, count: Int, loop: EventLoop, onLine: @escaping (String, ShardProcess) -> Void) {
        self.index = index
        self.count = count
        self.loop = loop
        self.onLine = onLine
    }

    func spawn() -> String? {
        var inPipe: [Int32] = [0, 0]
        var outPipe: [Int32] = [0, 0]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0 else { return "pipe: \(Platform.errorText(errno))" }
        // Close-on-exec everywhere: a shard must not inherit the pipes of the others
        // (it would hold their stdin open and none would see the coordinator leave).
        // dup2 in the child gives it plain descriptors 0 and 1.
        for fd in inPipe + outPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        for fd in [inPipe[0], inPipe[1], outPipe[0], outPipe[1]] { posix_spawn_file_actions_addclose(&actions, fd) }
        let args =
            [CommandLine.arguments[0]] + Array(CommandLine.arguments.dropFirst()) + ["--shard", "\(index)/\(count)"]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let rc = posix_spawn(&pid, "/proc/self/exe", &actions, nil, &argv, environ)
        close(inPipe[0])
        close(outPipe[1])
        guard rc == 0 else { return "spawn: \(Platform.errorText(rc))" }
        toChild = inPipe[1]
        fromChild = outPipe[0]
        watcher = FDWatcher(loop, fd: fromChild, read: true, write: false) { [unowned self] _, _ in self.readable() }
        watcher?.start()
        return nil
    }

    private func readable() {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = chunk.withUnsafeMutableBytes { read(fromChild, $0.baseAddress, $0.count) }
        guard n > 0 else {
            watcher?.stop()
            onLine("exited", self)  // end of its output: the shard is gone
            return
        }
        input.append(contentsOf: chunk[0..<n])
        while let nl = input.firstIndex(of: 10) {
            let line = String(decoding: input[..<nl], as: UTF8.self)
            input.removeFirst(nl + 1)
            onLine(line, self)
        }
    }

    func send(_ line: String) {
        var bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeMutableBytes { write(toChild, $0.baseAddress, $0.count) }
    }

    func stop() {
        watcher?.stop()
        if toChild >= 0 { close(toChild) }
        toChild = -1
        if pid > 0 {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            pid = 0
        }
    }
}

/// The child side: runs its share of the subscribers and answers the coordinator.
final class ShardRunner {
    let options: BenchOptions
    let loop = EventLoop(preciseTimers: true)
    private var subscribers: Subscribers!
    private var stdinWatcher: FDWatcher?
    private var input: [UInt8] = []
    private var cpuAtStart = 0.0
    private var progress: LoopEvent?

    init(options: BenchOptions) { self.options = options }

    func run() {
        _ = Platform.raiseDescriptorLimit()
        let (k, n) = options.shard!
        subscribers = Subscribers(
            options: options, loop: loop, indices: Array(stride(from: k, to: options.subscribers, by: n)))
        subscribers.onAllReady = { FileOutput.standardOutput("ready\n") }
        stdinWatcher = FDWatcher(loop, fd: 0, read: true, write: false) { [unowned self] _, _ in self.command() }
        stdinWatcher?.start()
        // Until everything is ready, the coordinator hears how far this shard got.
        progress = LoopEvent(loop, .timer(repeating: true)) { [unowned self] in
            let s = self.subscribers!
            FileOutput.standardOutput("progress \(s.connected) \(s.ready) \(s.failures) \(s.firstError)\n")
            if s.ready == s.indices.count { self.progress?.cancel() }
        }
        progress?.schedule(milliseconds: 2_000)
        subscribers.start()
        loop.run()
    }

    private func command() {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
        guard n > 0 else {  // the coordinator is gone
            subscribers.closeAll()
            loop.stop()
            return
        }
        input.append(contentsOf: chunk[0..<n])
        while let nl = input.firstIndex(of: 10) {
            let line = String(decoding: input[..<nl], as: UTF8.self)
            input.removeFirst(nl + 1)
            switch line {
            case "start":
                cpuAtStart = ProcStats.ownCPUSeconds()
                subscribers.measuring = true
            case "report":
                subscribers.measuring = false
                if !subscribers.firstError.isEmpty { FileOutput.standardOutput("failed \(subscribers.firstError)\n") }
                FileOutput.standardOutput(
                    ShardReport(subscribers, cpu: ProcStats.ownCPUSeconds() - cpuAtStart).line + "\n")
            default: break
            }
        }
    }
}
