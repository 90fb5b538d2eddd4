@testable import ChatCore

// Helpers shared by the ChatCore test files. Nothing here asserts; every test does.

/// Deterministic PRNG (SplitMix64) so that "random" splits and keys are reproducible.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
}

/// Cuts `data` at the given (sorted, in-range) offsets.
func split(_ data: [UInt8], at cuts: [Int]) -> [[UInt8]] {
    var pieces: [[UInt8]] = []
    var start = 0
    for cut in cuts where cut > start && cut < data.count {
        pieces.append(Array(data[start..<cut]))
        start = cut
    }
    pieces.append(Array(data[start...]))
    return pieces
}

/// `count` random cut points of `data`, sorted.
func randomCuts(_ length: Int, count: Int, using rng: inout SplitMix64) -> [Int] {
    guard length > 1 else { return [] }
    return (0..<count).map { _ in Int.random(in: 1..<length, using: &rng) }.sorted()
}

/// One byte per piece.
func bytewise(_ data: [UInt8]) -> [[UInt8]] { data.map { [$0] } }

// MARK: WebSocket helpers

/// A `WebSocketEvent` with its bytes copied out, so it can be compared after the callback.
enum Event: Equatable, CustomStringConvertible {
    case text([UInt8])
    case binary([UInt8])
    case ping([UInt8])
    case pong([UInt8])
    case close(UInt16?, [UInt8])
    case failure(UInt16)

    init(_ e: WebSocketEvent) {
        switch e {
        case .text(let b): self = .text(Array(b))
        case .binary(let b): self = .binary(Array(b))
        case .ping(let b): self = .ping(Array(b))
        case .pong(let b): self = .pong(Array(b))
        case .close(let code, let reason): self = .close(code, Array(reason))
        case .failure(let code, _): self = .failure(code)
        }
    }

    var description: String {
        func s(_ b: [UInt8]) -> String {
            b.count > 40 ? "\(b.count) bytes" : "\"\(String(decoding: b, as: UTF8.self))\""
        }
        switch self {
        case .text(let b): return "text(\(s(b)))"
        case .binary(let b): return "binary(\(s(b)))"
        case .ping(let b): return "ping(\(s(b)))"
        case .pong(let b): return "pong(\(s(b)))"
        case .close(let c, let r): return "close(\(c.map(String.init) ?? "nil"), \(s(r)))"
        case .failure(let c): return "failure(\(c))"
        }
    }
}

/// Feeds `pieces` (copied, since the reader unmasks in place) and returns the events.
func feed(_ reader: inout MessageReader, _ pieces: [[UInt8]]) -> [Event] {
    var events: [Event] = []
    for piece in pieces {
        var copy = piece
        copy.withUnsafeMutableBytes { buf in reader.read(buf) { events.append(Event($0)) } }
    }
    return events
}

func read(_ pieces: [[UInt8]], maxMessageSize: Int = 1 << 20, expectMasked: Bool = true) -> [Event] {
    var reader = MessageReader(maxMessageSize: maxMessageSize, expectMasked: expectMasked)
    return feed(&reader, pieces)
}

func read(_ data: [UInt8], maxMessageSize: Int = 1 << 20, expectMasked: Bool = true) -> [Event] {
    read([data], maxMessageSize: maxMessageSize, expectMasked: expectMasked)
}

/// The mask key whose wire bytes are 37 fa 21 3d (RFC 6455 section 5.7 examples).
let rfcMaskKey = UInt32(0x37) | UInt32(0xfa) << 8 | UInt32(0x21) << 16 | UInt32(0x3d) << 24

/// A client frame (masked unless `mask` is nil). `rsv` sets RSV1-3 (low three bits).
func clientFrame(
    _ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, mask: UInt32? = 0x1234_5678, rsv: UInt8 = 0
) -> [UInt8] {
    var f = FrameEncoder.frame(opcode: opcode, payload: payload, fin: fin, maskKey: mask)
    f[0] |= (rsv & 7) << 4
    return f
}

func clientFrame(_ opcode: UInt8, _ text: String, fin: Bool = true, mask: UInt32? = 0x1234_5678) -> [UInt8] {
    clientFrame(opcode, Array(text.utf8), fin: fin, mask: mask)
}

func closePayload(_ code: UInt16, _ reason: [UInt8] = []) -> [UInt8] {
    [UInt8(code >> 8), UInt8(code & 0xFF)] + reason
}

// MARK: Frame parser helpers

enum ParserEvent: Equatable {
    case header(FrameHeader)
    case payload([UInt8])
    case end
}

/// Runs a fresh `FrameParser` over `pieces`, merging adjacent payload events so that
/// results do not depend on how the input was split.
func parseFrames(_ pieces: [[UInt8]]) -> [ParserEvent] {
    var parser = FrameParser()
    var events: [ParserEvent] = []
    var pending: [UInt8]? = nil
    func flush() {
        if let p = pending {
            events.append(.payload(p))
            pending = nil
        }
    }
    for piece in pieces {
        var copy = piece
        copy.withUnsafeMutableBytes { buf in
            _ = parser.parse(buf) { e in
                switch e {
                case .header(let h):
                    flush()
                    events.append(.header(h))
                case .payload(let p):
                    if pending == nil { pending = [] }
                    pending!.append(contentsOf: p)
                case .end:
                    flush()
                    events.append(.end)
                }
                return true
            }
        }
    }
    flush()
    return events
}

// MARK: HTTP helpers

/// A simplified, comparable `HTTPParseResult`.
enum ParseOutcome: Equatable {
    case needMore
    case complete(method: String, path: String, leftover: [UInt8])
    case failure(Int)
}

struct HTTPRun {
    var outcome: ParseOutcome
    var request: HTTPRequest?
}

/// Feeds pieces until the parser stops asking for more (it must not be fed after that).
func parseHTTP(_ pieces: [[UInt8]], limits: HTTPLimits = HTTPLimits()) -> HTTPRun {
    var parser = HTTPRequestParser(limits: limits)
    for (k, piece) in pieces.enumerated() {
        let result = piece.withUnsafeBytes { parser.feed($0) }
        switch result {
        case .needMore:
            if k == pieces.count - 1 { return HTTPRun(outcome: .needMore, request: nil) }
        case .complete(let request, let leftover):
            // Bytes of later pieces that were never fed belong to the leftover too.
            let rest = pieces[(k + 1)...].flatMap { $0 }
            return HTTPRun(
                outcome: .complete(method: request.method, path: request.path, leftover: leftover + rest),
                request: request)
        case .failure(let error):
            return HTTPRun(outcome: .failure(error.status), request: nil)
        }
    }
    return HTTPRun(outcome: .needMore, request: nil)
}

func parseHTTP(_ text: String, limits: HTTPLimits = HTTPLimits()) -> HTTPRun {
    parseHTTP([Array(text.utf8)], limits: limits)
}

// MARK: JSON helpers

/// Parses a JSON object into a dictionary (last duplicate wins), or nil.
func jsonObject(_ bytes: [UInt8]) -> [String: JSONValue]? {
    guard let members = try? JSONReader.parseObject(bytes) else { return nil }
    var out: [String: JSONValue] = [:]
    for (k, v) in members { out[k] = v }
    return out
}

func jsonObject(_ text: String) -> [String: JSONValue]? { jsonObject(Array(text.utf8)) }
