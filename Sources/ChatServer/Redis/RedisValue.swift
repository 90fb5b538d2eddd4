/// A Redis reply as a plain value, decoded once from hiredis's reply at the boundary
/// (`ChatStore.send`), so that what the scripts answer is decoded (and unit-tested)
/// without a C pointer. Pub/Sub pushes stay `RedisReply` views: that path is hot.
enum RedisValue: Equatable {
    case string([UInt8])
    /// A status reply (`OK`).
    case status(String)
    case integer(Int64)
    case array([RedisValue])
    case null
    case error(String)

    init(_ reply: RedisReply) {
        if reply.isArray {
            var items: [RedisValue] = []
            items.reserveCapacity(reply.count)
            for k in 0..<reply.count { items.append(RedisValue(reply[k])) }
            self = .array(items)
        } else if reply.isInteger {
            self = .integer(reply.integer)
        } else if reply.isError {
            self = .error(reply.text)
        } else if reply.isNil {
            self = .null
        } else if reply.isStatus {
            self = .status(reply.text)
        } else if reply.isString {
            self = .string(Array(reply.bytes))
        } else {
            self = .null
        }
    }

    /// A string from Swift (tests).
    static func text(_ s: String) -> RedisValue { .string(Array(s.utf8)) }

    var isString: Bool {
        switch self {
        case .string, .status: return true
        default: return false
        }
    }
    var isNil: Bool { self == .null }
    var isInteger: Bool { if case .integer = self { return true } else { return false } }
    var isArray: Bool { if case .array = self { return true } else { return false } }

    /// An integer reply's value (0 for other types).
    var integer: Int64 { if case .integer(let n) = self { return n } else { return 0 } }

    /// A string or status reply's bytes (empty for other types).
    var bytes: [UInt8] {
        switch self {
        case .string(let b): return b
        case .status(let s), .error(let s): return Array(s.utf8)
        default: return []
        }
    }

    var text: String {
        switch self {
        case .string(let b): return String(decoding: b, as: UTF8.self)
        case .status(let s), .error(let s): return s
        default: return ""
        }
    }

    /// An array's items (empty for other types).
    var items: [RedisValue] { if case .array(let a) = self { return a } else { return [] } }
    var count: Int { if case .array(let a) = self { return a.count } else { return 0 } }
    /// An array's item; `.null` past its end (or for other types).
    subscript(index: Int) -> RedisValue {
        if case .array(let a) = self, index >= 0, index < a.count { return a[index] }
        return .null
    }
}
