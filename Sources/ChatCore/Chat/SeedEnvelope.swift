/// The event envelope of the seed server (the Go original) that `/chat/join` clients
/// read: `{"channel":"general","data":"<base64>"}`, `data` being the bytes of
/// `{"sender":…,"message":…}` (the Go server put a `[]byte` in its struct, and Go's
/// encoding/json writes a byte slice as base64). The seed's clients decode `data` and
/// show `sender: message`.
///
/// An envelope keeps every other member of the event beside `channel` and `data`
/// (`id`, `ts`, `type`, `sender`, `message`, `count`, `code`, `ref`…), copied as they
/// are: extra members are harmless to a seed client and useful to a newer one. So
/// `{"id":"1-0","ts":1,"type":"message","channel":"general","sender":"alice","message":"hi"}`
/// becomes (one line)
/// `{"channel":"general","data":"eyJzZW5kZXIiOiJhbGljZSIsIm1lc3NhZ2UiOiJoaSJ9",`
/// `"id":"1-0","ts":1,"type":"message","sender":"alice","message":"hi"}`.
///
/// `data` is written the way Go's `json.Marshal` writes that struct: members in the
/// order sender, message; `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026` (Go's
/// default HTML escaping), U+2028 and U+2029 as `\u2028` and `\u2029`, `\n`, `\r`,
/// `\t`, `\b`, `\f` (Go 1.22 and later) and other control characters as `\u00XX`; the
/// rest of UTF-8 as it is. An event without `sender` (a reply such as `pong` or `left`)
/// is from `System`; one without `message` has an empty one.
public enum SeedEnvelope {
    /// The envelope of one event (a JSON object): its `channel` is the event's own, else
    /// `channel` (the connection's seed channel: broadcasts, errors without a channel).
    /// nil when `event` is not a JSON object.
    public static func encode(event: UnsafeRawBufferPointer, channel: String) -> [UInt8]? {
        guard let parts = Parts(event: event) else { return nil }
        var out: [UInt8] = []
        parts.append(channel: channel, to: &out)
        return out
    }

    public static func encode(event: [UInt8], channel: String) -> [UInt8]? {
        event.withUnsafeBytes { encode(event: $0, channel: channel) }
    }

    /// Appends the envelope of `event` as one WebSocket text frame (what the server's
    /// fan-out batches hold). False, and nothing appended, when `event` is not a JSON
    /// object.
    public static func appendFrame(event: UnsafeRawBufferPointer, channel: String, to out: inout [UInt8]) -> Bool {
        guard let parts = Parts(event: event) else { return false }
        parts.appendFrame(channel: channel, to: &out)
        return true
    }

    /// The envelope of an event held as a frame `FrameEncoder` wrote (unmasked, one
    /// frame), framed in turn: nil when the payload is not a JSON object.
    public static func frame(ofFrame frame: UnsafeRawBufferPointer, channel: String) -> [UInt8]? {
        guard frame.count >= 2 else { return nil }
        let length = frame[1] & 0x7F
        let start = length < 126 ? 2 : length == 126 ? 4 : 10
        guard frame.count >= start else { return nil }
        var out: [UInt8] = []
        return appendFrame(event: UnsafeRawBufferPointer(rebasing: frame[start...]), channel: channel, to: &out)
            ? out : nil
    }

    /// An event taken apart once for envelopes that may differ only in their channel: a
    /// broadcast (which has none of its own) to seed clients of several channels is
    /// parsed and encoded once, and each channel's envelope is one copy.
    public struct Parts: Sendable {
        /// The event's own channel, if it has one.
        public let channel: String?
        /// `,"data":"…"`, the event's other members, and the closing brace.
        private let tail: [UInt8]

        /// nil when `event` is not a JSON object.
        public init?(event: UnsafeRawBufferPointer) {
            guard let members = try? JSONReader.parseObjectSpans(event) else { return nil }
            var channel: String?
            var sender: String?
            var message: String?
            for m in members {
                guard case .string(let value) = m.value else { continue }
                switch m.key {
                case "channel" where channel == nil: channel = value
                case "sender" where sender == nil: sender = value
                case "message" where message == nil: message = value
                default: break
                }
            }
            var tail: [UInt8] = []
            tail.reserveCapacity(event.count * 2 + 48)
            ServerEvents.appendRaw(",\"data\":\"", to: &tail)
            SeedEnvelope.data(sender: sender ?? "System", message: message ?? "").withUnsafeBytes {
                Base64.append($0, to: &tail)
            }
            tail.append(UInt8(ascii: "\""))
            for m in members where m.key != "channel" && m.key != "data" {
                tail.append(UInt8(ascii: ","))
                tail.append(contentsOf: UnsafeRawBufferPointer(rebasing: event[m.span]))
            }
            tail.append(UInt8(ascii: "}"))
            self.channel = channel
            self.tail = tail
        }

        /// Appends the envelope: the event's channel, else `channel`.
        public func append(channel fallback: String, to out: inout [UInt8]) {
            ServerEvents.appendRaw("{\"channel\":", to: &out)
            SeedEnvelope.appendGoString(channel ?? fallback, to: &out)
            out.append(contentsOf: tail)
        }

        /// Appends the envelope as one WebSocket text frame.
        public func appendFrame(channel fallback: String, to out: inout [UInt8]) {
            var head: [UInt8] = []
            ServerEvents.appendRaw("{\"channel\":", to: &head)
            SeedEnvelope.appendGoString(channel ?? fallback, to: &head)
            FrameEncoder.appendHeader(opcode: Opcode.text, length: head.count + tail.count, to: &out)
            out.append(contentsOf: head)
            out.append(contentsOf: tail)
        }
    }

    /// `{"sender":…,"message":…}` exactly as Go's `json.Marshal` writes the seed's
    /// struct (the bytes that `data` carries).
    public static func data(sender: String, message: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(sender.utf8.count + message.utf8.count + 26)
        ServerEvents.appendRaw("{\"sender\":", to: &out)
        appendGoString(sender, to: &out)
        ServerEvents.appendRaw(",\"message\":", to: &out)
        appendGoString(message, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Appends `s` as a JSON string the way Go's encoding/json does (HTML escaping on).
    public static func appendGoString(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { appendGoString(UnsafeRawBufferPointer($0), to: &out) }
    }

    /// The same for UTF-8 bytes: runs that need no escape are copied whole.
    public static func appendGoString(_ utf8: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var run = 0
        var k = 0
        while k < utf8.count {
            let c = utf8[k]
            let escape: UInt16
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x0A, 0x0D, 0x09, 0x08, 0x0C, 0..<0x20,
                UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&"):
                escape = UInt16(c)
            case 0xE2 where k + 2 < utf8.count && utf8[k + 1] == 0x80 && (utf8[k + 2] == 0xA8 || utf8[k + 2] == 0xA9):
                escape = utf8[k + 2] == 0xA8 ? 0x2028 : 0x2029  // U+2028, U+2029 (E2 80 A8, E2 80 A9)
            default:
                k += 1
                continue
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: utf8[run..<k]))
            switch escape {
            case UInt16(UInt8(ascii: "\"")), UInt16(UInt8(ascii: "\\")):
                out.append(UInt8(ascii: "\\"))
                out.append(c)
            case 0x0A:
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "n"))
            case 0x0D:
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "r"))
            case 0x09:
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "t"))
            case 0x08:
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "b"))
            case 0x0C:
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "f"))
            default: appendEscape(escape, to: &out)
            }
            k += escape >= 0x2028 ? 3 : 1
            run = k
        }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: utf8[run...]))
        out.append(UInt8(ascii: "\""))
    }

    /// `\uXXXX`, lowercase hex as Go writes it.
    private static func appendEscape(_ unit: UInt16, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\\"))
        out.append(UInt8(ascii: "u"))
        for shift in stride(from: 12, through: 0, by: -4) {
            let d = UInt8((unit >> UInt16(shift)) & 15)
            out.append(d < 10 ? UInt8(ascii: "0") + d : UInt8(ascii: "a") + d - 10)
        }
    }
}
