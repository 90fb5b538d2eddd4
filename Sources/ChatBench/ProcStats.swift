import EventIO
import Glibc

/// CPU time (the processes' CPU-time clocks) and memory (/proc) of processes.
enum ProcStats {
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// The given processes and their direct children (worker processes of a supervisor).
    static func withChildren(_ pids: [Int32]) -> [Int32] {
        var all = pids
        for pid in pids {
            guard let text = Platform.readTextFile("/proc/\(pid)/task/\(pid)/children") else { continue }
            all += text.split(separator: " ").compactMap { Int32($0.trimmingCharacters()) }
        }
        return all
    }

    /// User + system CPU seconds of the processes: each process's CPU-time clock (to the
    /// nanosecond; /proc's counts are 10 ms ticks, too coarse for a short, light run), or
    /// /proc where that clock cannot be read.
    static func cpuSeconds(_ pids: [Int32]) -> Double {
        var total = 0.0
        for pid in pids {
            var clock = clockid_t()
            var ts = timespec()
            if clock_getcpuclockid(pid, &clock) == 0, clock_gettime(clock, &ts) == 0 {
                total += Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
                continue
            }
            guard let text = Platform.readTextFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else {
                continue
            }
            let fields = text[text.index(after: close)...].split(separator: " ")
            // After the command: state(0) ... utime(11) stime(12), counting from state.
            guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { continue }
            total += (u + s) / ticksPerSecond
        }
        return total
    }

    /// The first of the processes that is gone (or a zombie), if any.
    static func firstGone(_ pids: [Int32]) -> Int32? {
        pids.first { pid in
            guard let text = Platform.readTextFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else {
                return true
            }
            return text[text.index(after: close)...].split(separator: " ").first == "Z"
        }
    }

    /// Resident set size of the processes, in KiB.
    static func rssKiB(_ pids: [Int32]) -> Int {
        var total = 0
        for pid in pids {
            guard let text = Platform.readTextFile("/proc/\(pid)/status") else { continue }
            for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
                total += Int(line.split(separator: " ")[1]) ?? 0
            }
        }
        return total
    }

    /// CPU seconds of this process so far.
    static func ownCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
    }

    static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

extension Substring {
    func trimmingCharacters() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\n" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\n" { s.removeLast() }
        return s
    }
}
