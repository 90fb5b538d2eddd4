// libFuzzer on ChatCore's parsers: the package's ChatFuzz target, which scripts/fuzz.sh
// builds with SwiftPM into .build-fuzz (AddressSanitizer, libFuzzer's coverage, -DCHAT_FUZZ:
// main hands over to libFuzzer's driver). A plain `swift build` makes it a replayer of
// saved inputs instead (ChatFuzzMain, below). FUZZ_TARGET picks the parser:
//   http      HTTPRequestParser (+ the handshake check and body framing on complete requests)
//   frames    FrameParser + MessageReader
//   protocol  JSONReader + ClientProtocol + ServerEvents + SeedEnvelope
// Beyond "no crash, no memory error", each target checks properties that must hold
// for every input, and aborts (a finding) when one does not.

import ChatCore

#if CHAT_FUZZ
import CLibFuzzer
#endif
#if canImport(Glibc)
import Glibc
#endif

enum FuzzTarget { case http, frames, proto }

nonisolated(unsafe) var selectedTarget: FuzzTarget?

func target() -> FuzzTarget {
    if let t = selectedTarget { return t }
    let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? ""
    let t: FuzzTarget
    switch name {
    case "http": t = .http
    case "frames": t = .frames
    case "protocol": t = .proto
    default:
        report("FUZZ_TARGET must be http, frames or protocol")
        exit(2)
    }
    selectedTarget = t
    return t
}

/// Writes a line to standard error (the C `stderr` global is off limits in Swift 6).
func report(_ text: String) {
    var line = Array((text + "\n").utf8)
    _ = line.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

func check(_ condition: @autoclosure () -> Bool, _ message: String) {
    if !condition() {
        report("property violated: \(message)")
        abort()
    }
}

// MARK: HTTP

enum HTTPOutcome: Equatable {
    case needMore
    case failure(Int)
    case complete(method: String, target: String, headers: Int, leftover: [UInt8])
}

func feedHTTP(_ data: [UInt8], splitAt split: Int?) -> HTTPOutcome {
    var parser = HTTPRequestParser(limits: HTTPLimits(maxHeadBytes: 2048, maxHeaderCount: 16, maxRequestLineBytes: 512))
    let pieces = split.map { [Array(data[..<$0]), Array(data[$0...])] } ?? [data]
    for piece in pieces {
        let result = piece.withUnsafeBytes { parser.feed($0) }
        switch result {
        case .needMore: continue
        case .failure(let e): return .failure(e.status)
        case .complete(let request, let leftover):
            // The bytes after the head are exactly what followed it in this piece.
            let consumed = piece.count - leftover.count
            check(consumed >= 0, "leftover larger than the input")
            _ = WebSocketHandshake.evaluate(request)
            if case .success(let length) = BodyFraming.contentLength(of: request, maxBytes: 65_536) {
                check((0...65_536).contains(length), "body length out of bounds")
            }
            check(
                request.path.utf8.allSatisfy { _ in true } && request.target.hasPrefix("/"), "target must start with /")
            let rest = pieces.count == 2 && piece == pieces[0] ? leftover + pieces[1] : leftover
            return .complete(
                method: request.method, target: request.target, headers: request.headers.count, leftover: rest)
        }
    }
    check(parser.bufferedBytes <= 2048 + data.count, "parser holds more than it was given")
    return .needMore
}

func fuzzHTTP(_ data: [UInt8]) {
    let whole = feedHTTP(data, splitAt: nil)
    if data.count > 1 {
        let split = Int(data[0]) % data.count
        let parts = feedHTTP(data, splitAt: split)
        // Splitting the input never changes a complete request; errors may be found
        // earlier but are errors either way.
        switch (whole, parts) {
        case (.complete, .complete): check(whole == parts, "same request parsed differently when split at \(split)")
        case (.failure, .complete), (.complete, .failure):
            check(false, "split at \(split) changes success into failure or back")
        default: break
        }
    }
}

// MARK: Frames

enum Event: Equatable {
    case text([UInt8])
    case binary([UInt8])
    case ping([UInt8])
    case pong([UInt8])
    case close(UInt16?, [UInt8])
    case failure(UInt16)
}

func readFrames(_ data: [UInt8], chunk: Int, maxMessage: Int) -> [Event] {
    var reader = MessageReader(maxMessageSize: maxMessage)
    var events: [Event] = []
    var offset = 0
    while offset < data.count {
        var piece = Array(data[offset..<min(data.count, offset + chunk)])
        offset += piece.count
        piece.withUnsafeMutableBytes { buf in
            reader.read(buf) { e in
                switch e {
                case .text(let b):
                    check(UTF8Validator.isValid(b), "text message that is not UTF-8")
                    check(b.count <= maxMessage, "message over the limit")
                    events.append(.text(Array(b)))
                case .binary(let b):
                    check(b.count <= maxMessage, "message over the limit")
                    events.append(.binary(Array(b)))
                case .ping(let b):
                    check(b.count <= 125, "ping over 125 bytes")
                    events.append(.ping(Array(b)))
                case .pong(let b): events.append(.pong(Array(b)))
                case .close(let code, let reason): events.append(.close(code, Array(reason)))
                case .failure(let code, _):
                    check([1002, 1007, 1009].contains(code), "unexpected failure code \(code)")
                    events.append(.failure(code))
                }
            }
        }
    }
    return events
}

func fuzzFrames(_ data: [UInt8]) {
    guard let first = data.first else { return }
    let maxMessage = 64 + Int(first) * 4
    let body = Array(data.dropFirst())
    let whole = readFrames(body, chunk: max(1, body.count), maxMessage: maxMessage)
    let chunk = 1 + Int(first % 7)
    let pieces = readFrames(body, chunk: chunk, maxMessage: maxMessage)
    // Fail-fast UTF-8 can report 1007 at a different point, but the messages before
    // any failure, and whether one happens, do not depend on how bytes arrive.
    func messages(_ events: [Event]) -> [Event] {
        events.filter {
            if case .failure = $0 { return false }
            return true
        }
    }
    check(messages(whole) == messages(pieces), "events differ when read in chunks of \(chunk)")
    func endsInFailure(_ events: [Event]) -> Bool {
        if case .failure = events.last { return true }
        return false
    }
    check(endsInFailure(whole) == endsInFailure(pieces), "failure depends on chunking")
}

// MARK: Protocol

func fuzzProtocol(_ data: [UInt8]) {
    guard UTF8Validator.isValid(data) else { return }  // text frames are valid UTF-8 by then
    let seed: String? = data.first.map { $0 & 1 == 0 } == true ? "general" : nil
    let result = data.withUnsafeBytes {
        ClientProtocol.parse($0, limits: ProtocolLimits(maxMessageLength: 50), seedChannel: seed)
    }
    switch result {
    case .success(let request):
        switch request.op {
        case .join(let c, let options):
            check((try? Names.channel(c).get()) == c, "accepted an invalid channel")
            check(!(options.since != nil && options.history != nil), "accepted since with history")
            if let since = options.since { check(StreamID(since)?.description == since, "since not normalized") }
            if let p = options.password {
                check(!p.isEmpty && p.unicodeScalars.count <= JoinOptions.maxPasswordLength, "accepted a bad password")
            }
        case .leave(let c), .presence(let c, _):
            check((try? Names.channel(c).get()) == c, "accepted an invalid channel")
        case .send(let c, let text):
            if let c {
                check((try? Names.channel(c).get()) == c, "accepted an invalid channel")
            } else {
                check(seed != nil, "seed send without a seed channel")
            }
            check(text.unicodeScalars.count <= 50, "accepted a message over the limit")
            var body: [UInt8] = [UInt8(ascii: "{")]
            ServerEvents.appendMessageBody(channel: c ?? "general", sender: "n", text: text, to: &body)
            let members = try? JSONReader.parseObject(body)
            check(members?.first { $0.key == "message" }?.value == .string(text), "message does not survive encoding")
            // The seed envelope: data is base64 of exactly {"sender","message"}, the same text.
            let envelope = SeedEnvelope.encode(event: body, channel: "general").flatMap {
                try? JSONReader.parseObject($0)
            }
            let data: [UInt8]? = envelope.flatMap { e in
                if case .string(let d)? = e.first(where: { $0.key == "data" })?.value { return Base64.decode(d) }
                return nil
            }
            let payload = data.flatMap { try? JSONReader.parseObject($0) }
            check(
                payload?.map(\.key) == ["sender", "message"] && payload?.last?.value == .string(text),
                "message does not survive the seed envelope")
        case .broadcast(let text):
            check(text.unicodeScalars.count <= 50, "accepted a message over the limit")
        case .ping:
            break
        }
    case .failure(let error):
        let encoded = ServerEvents.error(error)
        check((try? JSONReader.parseObject(encoded)) != nil, "error event is not valid JSON")
        let envelope = SeedEnvelope.encode(event: encoded, channel: "general")
        check(
            envelope.flatMap { try? JSONReader.parseObject($0) }?.prefix(2).map(\.key) == ["channel", "data"],
            "error not in the seed envelope")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let data = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    switch target() {
    case .http: fuzzHTTP(data)
    case .frames: fuzzFrames(data)
    case .proto: fuzzProtocol(data)
    }
    return 0
}

/// With `-DCHAT_FUZZ` (scripts/fuzz.sh), libFuzzer's driver: the arguments are
/// libFuzzer's (`-runs=`, corpus folders, or inputs to replay). Without (a plain
/// `swift build`), runs each file named through FUZZ_TARGET once, e.g.
/// `FUZZ_TARGET=http .build/debug/ChatFuzz crash-…` to replay a finding in a debugger or
/// without the sanitizers.
@main
enum ChatFuzzMain {
    static func main() {
        #if CHAT_FUZZ
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzOne($0, $1) })
        #else
        for path in CommandLine.arguments.dropFirst() {
            guard let file = fopen(path, "rb") else {
                report("cannot read \(path)")
                exit(1)
            }
            var data: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while case let n = fread(&chunk, 1, chunk.count, file), n > 0 { data += chunk[..<n] }
            fclose(file)
            _ = data.withUnsafeBufferPointer { fuzzOne($0.baseAddress, $0.count) }
            report("\(path): \(data.count) bytes, no finding")
        }
        #endif
    }
}
