import EventIO
import Glibc

/// One line per event: `2026-01-02T03:04:05.678Z INFO  message key=value ...`,
/// to standard output, and when LOG_TO_FILE is on also to the log file (errors
/// also to the error file). Debug lines only with APP_DEBUG. Writes are unbuffered
/// `write(2)` calls of one whole line, so lines from several workers never mix.
final class Logger {
    enum Level: Int, Comparable {
        case debug, info, warn, error
        var label: String { ["DEBUG", "INFO ", "WARN ", "ERROR"][rawValue] }
        static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    let minimum: Level
    private var fileFD: Int32 = -1
    private var errorFD: Int32 = -1
    /// Prepended to every message (the instance id), so lines of several
    /// processes can be told apart.
    var tag = ""

    init(debug: Bool) {
        minimum = debug ? .debug : .info
    }

    /// Opens the log files (creating their folders). Returns an error text on failure.
    private var paths: (log: String, error: String)?

    /// Closes and opens the log files again (SIGHUP, after a log rotation).
    func reopenFiles() {
        guard let paths else { return }
        if fileFD >= 0 { close(fileFD) }
        if errorFD >= 0 { close(errorFD) }
        fileFD = -1
        errorFD = -1
        if let problem = openFiles(logPath: paths.log, errorPath: paths.error) {
            write(.error, "cannot reopen the log files", [("error", problem)])
        } else {
            info("log files reopened")
        }
    }

    func openFiles(logPath: String, errorPath: String) -> String? {
        paths = (logPath, errorPath)
        for path in [logPath, errorPath] {
            if let problem = Platform.makeParentDirectories(of: path) {
                return "cannot create the folder of \(path): \(problem)"
            }
        }
        fileFD = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        if fileFD < 0 { return "cannot open \(logPath): \(Platform.errorText(errno))" }
        errorFD = open(errorPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        if errorFD < 0 { return "cannot open \(errorPath): \(Platform.errorText(errno))" }
        return nil
    }

    func debug(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [(String, String)] = []) {
        guard minimum <= .debug else { return }
        write(.debug, message(), fields())
    }

    /// Per key: at most `limitedBurst` lines per `limitedWindowMillis`; the rest are
    /// counted and reported in one line when the next window opens, so that a flood
    /// of one kind of event cannot fill the disk.
    static let limitedBurst = 5
    static let limitedWindowMillis: UInt64 = 10_000
    private var windows: [String: (start: UInt64, lines: Int, suppressed: Int)] = [:]

    func limited(_ key: String, _ level: Level, _ message: String, _ fields: [(String, String)] = []) {
        guard level >= minimum else { return }
        let now = Platform.monotonicMillis()
        var w = windows[key] ?? (now, 0, 0)
        if now - w.start >= Self.limitedWindowMillis {
            if w.suppressed > 0 {
                write(level, "similar lines suppressed", [("key", key), ("count", String(w.suppressed))])
            }
            w = (now, 0, 0)
        }
        if w.lines < Self.limitedBurst {
            w.lines += 1
            write(level, message, fields)
        } else {
            w.suppressed += 1
        }
        windows[key] = w
    }

    func info(_ message: String, _ fields: [(String, String)] = []) { write(.info, message, fields) }
    func warn(_ message: String, _ fields: [(String, String)] = []) { write(.warn, message, fields) }
    func error(_ message: String, _ fields: [(String, String)] = []) { write(.error, message, fields) }

    private func write(_ level: Level, _ message: String, _ fields: [(String, String)]) {
        guard level >= minimum else { return }
        var line = Logger.timestamp() + " " + level.label + " " + message
        if !tag.isEmpty { line += " instance=" + tag }
        for (key, value) in fields {
            line += " " + key + "=" + Logger.quoteIfNeeded(value)
        }
        line += "\n"
        var bytes = Array(line.utf8)
        emit(1, &bytes)
        if fileFD >= 0 { emit(fileFD, &bytes) }
        if level >= .error, errorFD >= 0 { emit(errorFD, &bytes) }
    }

    private func emit(_ fd: Int32, _ bytes: inout [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }

    static func quoteIfNeeded(_ value: String) -> String {
        let needsQuotes =
            value.isEmpty || value.utf8.contains { $0 <= 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "=") }
        guard needsQuotes else { return value }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// UTC time with milliseconds, ISO 8601.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ n: Int32, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + "\(pad(Int32(ts.tv_nsec / 1_000_000), 3))Z"
    }
}
