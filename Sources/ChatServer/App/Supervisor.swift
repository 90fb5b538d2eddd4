import CLibevent
import ChatCore
import EventIO
import Glibc

/// `WORKERS=N`: runs N worker processes and keeps them running. Each worker is a
/// fresh process (this binary again, with CHAT_WORKER_INDEX set), not a fork of a
/// running Swift runtime; each binds the same port with SO_REUSEPORT, so the
/// kernel spreads connections, and each is an independent instance to Redis. A
/// process per worker also gives each its own descriptor limit.
///
/// The supervisor restarts a worker that dies (with a growing delay if it keeps
/// dying quickly), forwards SIGTERM/SIGINT (graceful drain) and SIGHUP (reopen log
/// files), and exits once every worker has.
final class Supervisor {
    static let indexVariable = "CHAT_WORKER_INDEX"
    static let supervisorVariable = "CHAT_SUPERVISOR_PID"
    /// The supervisor's .env text for its workers: "1" and the text, or "0" for none.
    static let envFileVariable = "CHAT_ENV_FILE"

    private let config: Config
    private let logger: Logger
    private let loop = EventLoop()
    private var workers: [pid_t?]
    private var startedAt: [UInt64]
    private var restartDelay: [Int]
    private var signals: [LoopEvent] = []
    private var restarts: [LoopEvent] = []
    private var stopping = false
    private var killTimer: LoopEvent?
    private(set) var exitCode: Int32 = 0
    private let envFileText: String?

    init(config: Config, logger: Logger, count: Int, envFileText: String?) {
        self.config = config
        self.logger = logger
        self.envFileText = envFileText
        workers = Array(repeating: nil, count: count)
        startedAt = Array(repeating: 0, count: count)
        restartDelay = Array(repeating: 0, count: count)
    }

    /// Runs until every worker has exited after a stop signal.
    func run() {
        for number in [SIGTERM, SIGINT] {
            signals.append(LoopEvent(loop, .signal(number)) { [unowned self] in self.stop(number) })
        }
        signals.append(
            LoopEvent(loop, .signal(SIGHUP)) { [unowned self] in
                self.logger.reopenFiles()
                self.forward(SIGHUP)
            })
        signals.append(LoopEvent(loop, .signal(SIGCHLD)) { [unowned self] in self.reap() })
        restarts = (0..<workers.count).map { i in
            LoopEvent(loop, .timer(repeating: false)) { [unowned self] in self.spawn(i) }
        }
        logger.info("supervisor starting workers", [("workers", String(workers.count)), ("port", String(config.port))])
        for i in workers.indices { spawn(i) }
        loop.run()
    }

    private func spawn(_ index: Int) {
        guard !stopping else { return }
        var env = Self.environment()
        env.removeAll {
            $0.hasPrefix(Self.indexVariable + "=") || $0.hasPrefix(Self.supervisorVariable + "=")
                || $0.hasPrefix(Self.envFileVariable + "=")
        }
        env.append("\(Self.indexVariable)=\(index)")
        env.append("\(Self.envFileVariable)=" + (envFileText.map { "1" + $0 } ?? "0"))
        env.append("\(Self.supervisorVariable)=\(getpid())")
        var argv: [UnsafeMutablePointer<CChar>?] = CommandLine.arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        // Workers get a process group of their own: a Ctrl-C at the terminal reaches
        // only the supervisor, which then stops them once, gracefully.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/proc/self/exe", nil, &attributes, &argv, &envp)
        guard rc == 0 else {
            logger.error("cannot start a worker", [("worker", String(index)), ("error", Platform.errorText(rc))])
            scheduleRestart(index)
            return
        }
        workers[index] = pid
        startedAt[index] = Platform.monotonicMillis()
        logger.info("worker started", [("worker", String(index)), ("pid", String(pid))])
    }

    private func scheduleRestart(_ index: Int) {
        let quick = Platform.monotonicMillis() - startedAt[index] < 10_000
        restartDelay[index] = quick ? min(max(restartDelay[index] * 2, 500), 30_000) : 500
        restarts[index].schedule(milliseconds: restartDelay[index])
    }

    /// SIGCHLD: collects every worker that exited; restarts it unless stopping.
    private func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0, let index = workers.firstIndex(of: pid) else { break }
            workers[index] = nil
            let exited = status & 0x7F == 0
            let code = (status >> 8) & 0xFF
            let signal = status & 0x7F
            let how = exited ? "exit code \(code)" : "signal \(signal)"
            if stopping {
                logger.info("worker stopped", [("worker", String(index)), ("pid", String(pid)), ("status", how)])
                if !(exited && code == 0), exitCode == 0 { exitCode = 1 }
            } else if exited && code == 2 {
                // A configuration error: restarting cannot help.
                logger.error("worker refused its configuration; stopping", [("worker", String(index))])
                exitCode = 2
                stop(SIGTERM)
            } else {
                logger.error(
                    "worker died, restarting", [("worker", String(index)), ("pid", String(pid)), ("status", how)])
                scheduleRestart(index)
            }
        }
        if stopping && workers.allSatisfy({ $0 == nil }) {
            logger.info("supervisor stopped")
            loop.stop()
        }
    }

    private func forward(_ signal: Int32) {
        for case let pid? in workers { kill(pid, signal) }
    }

    /// First SIGTERM/SIGINT: every worker drains (SHUTDOWN_TIMEOUT); if one is still
    /// there 2 s after that, it is killed. A second signal is passed on too, and the
    /// workers exit at once.
    private func stop(_ signal: Int32) {
        if stopping {
            forward(signal)
            return
        }
        stopping = true
        for t in restarts { t.cancel() }
        logger.info("supervisor stopping workers", [("signal", signal == SIGINT ? "SIGINT" : "SIGTERM")])
        forward(SIGTERM)
        killTimer = LoopEvent(loop, .timer(repeating: false)) { [unowned self] in
            self.logger.warn("workers still running after the shutdown timeout; killing them")
            self.forward(SIGKILL)
        }
        killTimer?.schedule(milliseconds: config.shutdownTimeoutMillis + 2_000)
        reap()
    }

    private static func environment() -> [String] {
        var result: [String] = []
        var p = environ
        while let entry = p.pointee {
            result.append(String(cString: entry))
            p += 1
        }
        return result
    }

    /// In a worker: asks for SIGTERM if the supervisor dies (and exits if it is gone already).
    static func followSupervisor() {
        _ = chat_set_process_name("chat-server")
        _ = chat_set_parent_death_signal(SIGTERM)
        // After the request, so that a supervisor dying in between is still noticed.
        if let value = getenv(supervisorVariable), let supervisor = pid_t(String(cString: value)),
            getppid() != supervisor
        {
            exit(1)
        }
    }

    /// In a worker, reads of the .env file answer with the supervisor's text (nil
    /// elsewhere: read the file).
    static var inheritedEnvFile: ((String) -> String?)? {
        guard workerIndex != nil, let value = getenv(envFileVariable) else { return nil }
        let handed = String(cString: value)
        let text: String? = handed.hasPrefix("1") ? String(handed.dropFirst()) : nil
        return { _ in text }
    }

    /// This process's worker index when it is a worker, nil for the supervisor or a
    /// single-process server.
    static var workerIndex: Int? {
        guard let value = getenv(indexVariable) else { return nil }
        return Int(String(cString: value))
    }
}
