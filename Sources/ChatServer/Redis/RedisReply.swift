import CHiredis
import Glibc

/// A read-only view of a hiredis reply. hiredis owns and frees the reply when the
/// callback returns, so a view must not outlive the callback: copy what you keep.
struct RedisReply {
    let raw: UnsafeMutablePointer<redisReply>

    var type: Int32 { raw.pointee.type }
    var isError: Bool { type == REDIS_REPLY_ERROR }
    var isNil: Bool { type == REDIS_REPLY_NIL }
    var isInteger: Bool { type == REDIS_REPLY_INTEGER }
    var isArray: Bool { type == REDIS_REPLY_ARRAY }
    var isStatus: Bool { type == REDIS_REPLY_STATUS }
    var isString: Bool { type == REDIS_REPLY_STRING || type == REDIS_REPLY_STATUS }
    var integer: Int64 { Int64(raw.pointee.integer) }
    var count: Int { type == REDIS_REPLY_ARRAY ? Int(raw.pointee.elements) : 0 }

    /// String, status or error bytes (empty for other types).
    var bytes: UnsafeRawBufferPointer {
        guard let str = raw.pointee.str else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: str, count: Int(raw.pointee.len))
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    subscript(index: Int) -> RedisReply { RedisReply(raw: raw.pointee.element[index]!) }

    /// Whether this is a string equal to `literal` (case-sensitive).
    func equals(_ literal: StaticString) -> Bool {
        let b = bytes
        guard b.count == literal.utf8CodeUnitCount else { return false }
        return b.count == 0 || memcmp(b.baseAddress!, literal.utf8Start, b.count) == 0
    }
}

/// Arguments of one command, built in a reusable byte buffer and handed to
/// `redisAsyncCommandArgv` (which copies them) without per-argument allocations.
struct RedisArgs {
    private(set) var storage: [UInt8] = []
    private var ends: [Int] = []
    var endOffsets: [Int] { ends }

    var count: Int { ends.count }

    mutating func reset() {
        storage.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
    }

    mutating func add(_ s: String) {
        storage.append(contentsOf: s.utf8)
        ends.append(storage.count)
    }
    mutating func add(_ bytes: [UInt8]) {
        storage.append(contentsOf: bytes)
        ends.append(storage.count)
    }
    mutating func add(_ n: Int) { add(String(n)) }

    /// Calls `body` with argc, argv and argvlen pointing into the storage.
    func withArgv<R>(_ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
        storage.withUnsafeBytes { raw in
            let base = raw.baseAddress?.assumingMemoryBound(to: CChar.self)
            return withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: ends.count) { argv in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: ends.count) { lengths in
                    var start = 0
                    for (k, end) in ends.enumerated() {
                        argv[k] = base.map { UnsafePointer($0 + start) } ?? UnsafePointer(bitPattern: 1)
                        lengths[k] = end - start
                        start = end
                    }
                    return body(Int32(ends.count), argv.baseAddress!, UnsafePointer(lengths.baseAddress!))
                }
            }
        }
    }
}
