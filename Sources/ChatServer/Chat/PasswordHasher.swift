import CCrypt
import EventIO
import Glibc
import Synchronization

/// Channel password hashing off the event loop. A slow hash (yescrypt, tens of
/// milliseconds by design) would stall every client of the worker, so one thread
/// does them: jobs go in through a queue and a byte on a pipe, results come back
/// through another queue and a byte on a pipe the loop watches. The queue is
/// bounded; past it a job is refused at once (the client gets `unavailable`).
final class PasswordHasher: @unchecked Sendable {
    enum Job: Sendable {
        case hash(String)
        case verify(String, against: String)
    }

    enum Outcome: Sendable {
        case hashed(String?)
        case verified(Bool)
    }

    static let queueLimit = 256

    private struct Shared: ~Copyable {
        var jobs: [(id: UInt64, job: Job)] = []
        var results: [(id: UInt64, outcome: Outcome)] = []
    }

    private let shared = Mutex(Shared())
    private var waiting: [UInt64: (Outcome) -> Void] = [:]
    private var nextID: UInt64 = 1
    private var jobPipe: (read: Int32, write: Int32) = (-1, -1)
    private var resultPipe: (read: Int32, write: Int32) = (-1, -1)
    private var watcher: FDWatcher?
    private var started = false

    init(loop: EventLoop) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return }
        jobPipe = (fds[0], fds[1])
        guard pipe(&fds) == 0 else { return }
        resultPipe = (fds[0], fds[1])
        for fd in [jobPipe.read, jobPipe.write, resultPipe.read, resultPipe.write] {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        _ = fcntl(resultPipe.read, F_SETFL, O_NONBLOCK)
        watcher = FDWatcher(loop, fd: resultPipe.read, read: true, write: false) { [unowned self] _, _ in self.drain() }
        watcher?.start()
        var thread = pthread_t()
        let me = Unmanaged.passRetained(self).toOpaque()  // the thread lives as long as the process
        started =
            pthread_create(
                &thread, nil,
                { arg in
                    Unmanaged<PasswordHasher>.fromOpaque(arg!).takeUnretainedValue().work()
                    return nil
                }, me) == 0
        if started { pthread_detach(thread) }
    }

    /// Jobs waiting or running.
    var pending: Int { waiting.count }

    /// Runs `job` on the hashing thread; `done` runs on the loop. False (and no call)
    /// when the queue is full or the thread could not start.
    @discardableResult
    func submit(_ job: Job, _ done: @escaping (Outcome) -> Void) -> Bool {
        guard started, waiting.count < Self.queueLimit else { return false }
        let id = nextID
        nextID += 1
        waiting[id] = done
        shared.withLock { $0.jobs.append((id, job)) }
        var byte: UInt8 = 1
        _ = write(jobPipe.write, &byte, 1)
        return true
    }

    private func drain() {
        var bytes = [UInt8](repeating: 0, count: 256)
        while read(resultPipe.read, &bytes, bytes.count) > 0 {}
        let results = shared.withLock { s -> [(id: UInt64, outcome: Outcome)] in
            let r = s.results
            s.results.removeAll()
            return r
        }
        for r in results {
            if let done = waiting.removeValue(forKey: r.id) { done(r.outcome) }
        }
    }

    /// The thread: one job per byte on the job pipe.
    private func work() {
        var byte: UInt8 = 0
        var output = [CChar](repeating: 0, count: Int(CHAT_HASH_SIZE))
        while true {
            let n = read(jobPipe.read, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            guard
                let next = shared.withLock({ s -> (id: UInt64, job: Job)? in s.jobs.isEmpty ? nil : s.jobs.removeFirst()
                })
            else { continue }
            let outcome: Outcome
            switch next.job {
            case .hash(let password):
                outcome = .hashed(
                    chat_password_hash(password, &output) == 0
                        ? String(decoding: output.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
                )
            case .verify(let password, let stored):
                outcome = .verified(chat_password_verify(password, stored) == 1)
            }
            shared.withLock { $0.results.append((next.id, outcome)) }
            var one: UInt8 = 1
            _ = write(resultPipe.write, &one, 1)
        }
    }
}
