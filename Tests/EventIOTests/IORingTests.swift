import Glibc
import Testing

@testable import EventIO

/// The io_uring ring against real sockets (Unix stream pairs): what it sends arrives,
/// what it receives is what was sent, and every result is what `send()` or `recv()`
/// would have returned.
@Suite struct IORingTests {
    /// Whether this process gets an io_uring ring at all. Where it does not (an old
    /// kernel, a seccomp profile that forbids it), the tests of the ring are reported as
    /// skipped rather than passing without having checked anything.
    static var available: Bool {
        var error: Int32 = 0
        return IORing.make(entries: 2, error: &error) != nil
    }

    /// A ring (the tests that use it run only where one is `available`).
    func makeRing(_ entries: UInt32 = 8) throws -> IORing {
        var error: Int32 = 0
        return try #require(IORing.make(entries: entries, error: &error), "no ring: errno \(error)")
    }

    /// Where there is no ring, `make` says why with one of the errnos the server logs
    /// before falling back to send(). (Runs everywhere.)
    @Test func makeGivesARingOrSaysWhyNot() {
        var error: Int32 = 0
        let ring = IORing.make(entries: 8, error: &error)
        // (ENOMEM: before Linux 5.12 ring memory counts against RLIMIT_MEMLOCK.)
        if ring == nil {
            #expect([ENOSYS, EPERM, EACCES, EOPNOTSUPP, ENOMEM].contains(error), "unexpected errno \(error)")
        }
    }

    func socketPair() -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        return (fds[0], fds[1])
    }

    func readAll(_ fd: Int32, upTo limit: Int = 1 << 22) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while out.count < limit {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return out
    }

    /// Sends results into `results[tag]`; returns the submit status.
    func submit(_ ring: IORing, into results: inout [UInt64: Int32]) -> Int32 {
        var got: [UInt64: Int32] = [:]
        let status = ring.submit { tag, result in
            #expect(got[tag] == nil, "two results for one send")
            got[tag] = result
        }
        results.merge(got) { $1 }
        return status
    }

    @Test(.enabled(if: IORingTests.available, "this kernel has no io_uring or forbids it"))
    func oneSubmissionSendsToEverySocket() throws {
        let ring = try makeRing(16)
        let pairs = (0..<10).map { _ in socketPair() }
        defer {
            for (a, b) in pairs {
                close(a)
                close(b)
            }
        }
        let payloads = (0..<10).map { k in
            [UInt8]("message \(k) ".utf8) + [UInt8](repeating: UInt8(65 + k), count: 100 * k)
        }
        for (k, (a, _)) in pairs.enumerated() {
            let queued = payloads[k].withUnsafeBytes { ring.queueSend(fd: a, $0, tag: UInt64(k)) }
            #expect(queued)
        }
        #expect(ring.queued == 10)
        var results: [UInt64: Int32] = [:]
        // The payloads stay alive (and unmoved) until submit returns.
        let status = withExtendedLifetime(payloads) { submit(ring, into: &results) }
        #expect(status == 0)
        #expect(ring.queued == 0)
        for (k, (_, b)) in pairs.enumerated() {
            #expect(results[UInt64(k)] == Int32(payloads[k].count))
            #expect(readAll(b) == payloads[k])
        }
    }

    @Test(.enabled(if: IORingTests.available, "this kernel has no io_uring or forbids it"))
    func aFullRingTakesNoMoreUntilSubmitted() throws {
        let ring = try makeRing(4)  // the kernel keeps 4 (a power of two)
        let (a, b) = socketPair()
        defer {
            close(a)
            close(b)
        }
        let byte: [UInt8] = [42]
        try byte.withUnsafeBytes { one in
            for k in 0..<4 { #expect(ring.queueSend(fd: a, one, tag: UInt64(k))) }
            #expect(!ring.queueSend(fd: a, one, tag: 4))
            var results: [UInt64: Int32] = [:]
            #expect(submit(ring, into: &results) == 0)
            #expect(results == [0: 1, 1: 1, 2: 1, 3: 1])
            #expect(ring.queueSend(fd: a, one, tag: 5))
            #expect(submit(ring, into: &results) == 0)
            #expect(results[5] == 1)
            try #require(readAll(b) == [42, 42, 42, 42, 42])
        }
    }

    @Test(.enabled(if: IORingTests.available, "this kernel has no io_uring or forbids it"))
    func resultsAreWhatSendWouldReturn() throws {
        let ring = try makeRing()
        // A socket whose peer is gone: EPIPE (and no SIGPIPE: the test process lives on).
        let (gone, peer) = socketPair()
        close(peer)
        defer { close(gone) }
        // A socket whose buffer is full: EAGAIN, not a wait.
        let (full, reader) = socketPair()
        defer {
            close(full)
            close(reader)
        }
        var small: Int32 = 4_096
        setsockopt(full, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        let filler = [UInt8](repeating: 1, count: 4_096)
        var filled = 0
        while true {
            let n = filler.withUnsafeBytes { send(full, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n <= 0 { break }
            filled += n
        }
        let payload = [UInt8](repeating: 7, count: 300)
        var results: [UInt64: Int32] = [:]
        payload.withUnsafeBytes { p in
            #expect(ring.queueSend(fd: gone, p, tag: 1))
            #expect(ring.queueSend(fd: full, p, tag: 2))
            #expect(ring.queueSend(fd: -1, p, tag: 3))
            #expect(submit(ring, into: &results) == 0)
        }
        #expect(results[1] == -EPIPE)
        #expect(results[2] == -EAGAIN)
        #expect(results[3] == -EBADF)
        // Room for part of a large send: the result says how much went.
        #expect(readAll(reader).count == filled)
        let large = [UInt8](repeating: 9, count: 1 << 20)
        large.withUnsafeBytes { p in
            #expect(ring.queueSend(fd: full, p, tag: 4))
            #expect(submit(ring, into: &results) == 0)
        }
        let sent = try #require(results[4])
        #expect(sent > 0 && sent < Int32(large.count))
        #expect(readAll(reader) == [UInt8](repeating: 9, count: Int(sent)))
    }

    @Test(.enabled(if: IORingTests.available, "this kernel has no io_uring or forbids it"))
    func oneSubmissionReceivesFromEverySocket() throws {
        let ring = try makeRing(16)
        let pairs = (0..<6).map { _ in socketPair() }
        defer {
            for (a, b) in pairs {
                close(a)
                close(b)
            }
        }
        // Sockets 0-3 have data, 4 has nothing yet, 5's peer has hung up.
        for k in 0..<4 {
            let text = [UInt8]("reply \(k)".utf8)
            _ = text.withUnsafeBytes { send(pairs[k].1, $0.baseAddress, $0.count, 0) }
        }
        shutdown(pairs[5].1, Int32(SHUT_WR))
        let slots = UnsafeMutableRawBufferPointer.allocate(byteCount: 6 * 64, alignment: 16)
        defer { slots.deallocate() }
        for (k, (a, _)) in pairs.enumerated() {
            let slot = UnsafeMutableRawBufferPointer(rebasing: slots[(k * 64)..<(k * 64 + 64)])
            #expect(ring.queueRecv(fd: a, into: slot, tag: UInt64(k)))
        }
        var results: [UInt64: Int32] = [:]
        #expect(submit(ring, into: &results) == 0)
        for k in 0..<4 {
            let got = try #require(results[UInt64(k)])
            #expect(
                Array(UnsafeRawBufferPointer(rebasing: slots[(k * 64)..<(k * 64 + Int(max(got, 0)))]))
                    == [UInt8]("reply \(k)".utf8))
        }
        #expect(results[4] == -EAGAIN)
        #expect(results[5] == 0)
    }
}
