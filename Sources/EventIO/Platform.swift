import Glibc

/// Small wrappers over libc for the I/O layer.
public enum Platform {
    /// Milliseconds on a clock that never jumps (for deadlines and latency).
    public static func monotonicMillis() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }

    /// Raises the soft descriptor limit to the hard one; returns the limit in force.
    public static func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur > 10_000_000 ? 10_000_000 : Int(limit.rlim_cur)
    }

    public static func monotonicMicros() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1_000
    }

    public static func errorText(_ code: Int32) -> String {
        guard let s = strerror(code) else { return "errno \(code)" }
        return String(cString: s)
    }

    /// Contents of a text file, or nil when it cannot be read.
    public static func readTextFile(_ path: String) -> String? {
        readFile(path, limit: 16 * 1_048_576).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The bytes of a file, or nil when it cannot be read or holds more than `limit`.
    public static func readFile(_ path: String, limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return nil }
            guard n > 0 else { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > limit { return nil }
        }
        return bytes
    }

    /// The entries of a folder (without `.` and `..`), each with whether it is a folder
    /// (symbolic links followed); nil when the folder cannot be read.
    public static func listDirectory(_ path: String) -> [(name: String, isDirectory: Bool)]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var entries: [(name: String, isDirectory: Bool)] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            var info = stat()
            guard stat(path + "/" + name, &info) == 0 else { continue }
            let kind = info.st_mode & S_IFMT
            guard kind == S_IFDIR || kind == S_IFREG else { continue }
            entries.append((name, kind == S_IFDIR))
        }
        return entries.sorted { $0.name < $1.name }
    }

    /// The values of the given environment variables that are set.
    public static func environment(keys: [String]) -> [String: String] {
        var env: [String: String] = [:]
        for key in keys {
            if let value = getenv(key) { env[key] = String(cString: value) }
        }
        return env
    }

    /// `mkdir -p` for the folder that holds `path`. Returns an error text on failure.
    public static func makeParentDirectories(of path: String) -> String? {
        var parts = path.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast()
        var current = path.hasPrefix("/") ? "" : "."
        for part in parts where !part.isEmpty {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST { return "\(current): \(errorText(errno))" }
        }
        return nil
    }

    /// `count` random bytes as lowercase hex (for instance ids).
    public static func randomHex(_ count: Int) -> String {
        var bytes = [UInt8](repeating: 0, count: count)
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            _ = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, count) }
            close(fd)
        } else {
            var seed = UInt64(monotonicMillis()) ^ UInt64(getpid()) << 32
            for i in 0..<count {
                seed = seed &* 6_364_136_223_846_793_005 &+ 1
                bytes[i] = UInt8(truncatingIfNeeded: seed >> 33)
            }
        }
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }

    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, 255) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The status code of `GET path` at host:port over plain HTTP/1.0 (nil when the
    /// server cannot be reached or answers garbage), each step within `timeoutSeconds`.
    public static func httpStatus(host: String, port: Int, path: String, timeoutSeconds: Int) -> Int? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: localhost\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count
        else { return nil }
        var head = [UInt8](repeating: 0, count: 64)
        var got = 0
        while got < head.count {
            let room = head.count - got
            let n = head.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, room, 0) }
            if n <= 0 { break }
            got += n
        }
        // "HTTP/1.1 200 OK"
        let line = String(decoding: head[0..<got], as: UTF8.self).split(separator: " ", maxSplits: 2)
        guard line.count >= 2, line[0].hasPrefix("HTTP/") else { return nil }
        return Int(line[1])
    }

    /// The numeric address of a socket's peer (IPv4 or IPv6), without the port.
    public static func peerAddress(_ fd: Int32) -> String? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok =
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
            } == 0
        guard ok else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.ss_family) {
        case AF_INET:
            var a = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            }
            guard inet_ntop(AF_INET, &a, &text, socklen_t(text.count)) != nil else { return nil }
        case AF_INET6:
            var a = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
            }
            guard inet_ntop(AF_INET6, &a, &text, socklen_t(text.count)) != nil else { return nil }
        default:
            return nil
        }
        let address = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // An IPv4 client of a dual-stack socket, as IPv4.
        return address.hasPrefix("::ffff:") && address.contains(".") ? String(address.dropFirst(7)) : address
    }
}
