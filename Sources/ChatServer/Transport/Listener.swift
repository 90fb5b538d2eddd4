import CLibevent
import EventIO
import Glibc

/// The worker's listening socket. SO_REUSEPORT lets several worker processes bind
/// the same port; the kernel spreads new connections across them.
final class Listener {
    private(set) var fd: Int32
    private var event: OpaquePointer?
    private var onAccept: ((Int32) -> Void)?
    /// Accepting pauses briefly when the process is out of descriptors, instead of
    /// spinning on a listening socket that stays readable.
    private var resumeTimer: LoopEvent?
    private let loop: EventLoop
    private let logger: Logger

    struct BindError: Error, CustomStringConvertible { let description: String }

    init(loop: EventLoop, host: String, port: Int, logger: Logger) throws {
        self.loop = loop
        self.logger = logger
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let info = result else {
            throw BindError(description: "cannot resolve HOST \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(
            info.pointee.ai_family,
            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BindError(description: "socket: \(Platform.errorText(errno))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let text = Platform.errorText(errno)
            close(fd)
            throw BindError(description: "cannot listen on \(host):\(port): \(text)")
        }
        guard listen(fd, 4096) == 0 else {
            let text = Platform.errorText(errno)
            close(fd)
            throw BindError(description: "listen on \(host):\(port): \(text)")
        }
        self.fd = fd
    }

    deinit {
        if let event { event_free(event) }
        if fd >= 0 { close(fd) }
    }

    /// Starts accepting; `onAccept` gets each new non-blocking socket.
    func start(_ onAccept: @escaping (Int32) -> Void) {
        self.onAccept = onAccept
        event = event_new(
            loop.base, fd, Int16(EV_READ | EV_PERSIST),
            { _, _, arg in
                Unmanaged<Listener>.fromOpaque(arg!).takeUnretainedValue().acceptAll()
            }, Unmanaged.passUnretained(self).toOpaque())
        event_add(event, nil)
        resumeTimer = LoopEvent(loop, .timer(repeating: false)) { [unowned self] in
            if let event = self.event { event_add(event, nil) }
        }
    }

    /// Stops accepting and closes the socket, so that the kernel sends new
    /// connections to the other workers sharing the port (or refuses them).
    func stop() {
        guard fd >= 0 else { return }
        if let event { event_del(event) }
        resumeTimer?.cancel()
        close(fd)
        fd = -1
    }

    private func acceptAll() {
        // Bounded per turn so that a connection storm cannot starve established clients.
        for _ in 0..<256 {
            let client = accept(fd, nil, nil)
            if client < 0 {
                let e = errno
                if e == EAGAIN || e == EWOULDBLOCK || e == EINTR || e == ECONNABORTED { return }
                if e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM {
                    // Clients can provoke this at will (connect until the limit): limited like their other lines.
                    logger.limited(
                        "accept_paused", .error, "accept paused: out of descriptors or memory",
                        [("error", Platform.errorText(e))])
                    if let event { event_del(event) }
                    resumeTimer?.schedule(milliseconds: 100)
                    return
                }
                logger.limited("accept_failed", .warn, "accept failed", [("error", Platform.errorText(e))])
                return
            }
            let flags = fcntl(client, F_GETFL)
            _ = fcntl(client, F_SETFL, flags | O_NONBLOCK)
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            var one: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            onAccept?(client)
        }
    }
}
