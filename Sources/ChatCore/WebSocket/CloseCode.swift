/// WebSocket close status codes (RFC 6455 section 7.4) used by this server.
public enum CloseCode {
    public static let normal: UInt16 = 1000
    public static let goingAway: UInt16 = 1001
    public static let protocolError: UInt16 = 1002
    public static let unsupportedData: UInt16 = 1003
    public static let noStatus: UInt16 = 1005
    public static let invalidPayload: UInt16 = 1007
    public static let policyViolation: UInt16 = 1008
    public static let messageTooBig: UInt16 = 1009
    public static let internalError: UInt16 = 1011
    public static let tryAgainLater: UInt16 = 1013

    /// Whether a peer may send `code` in a close frame. 1005, 1006 and 1015 are
    /// reserved for reporting and must never appear on the wire; 1004 and
    /// 1016–2999 are unassigned; 3000–4999 belong to libraries and applications.
    public static func isValidOnWire(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014: return true
        case 3000...4999: return true
        default: return false
        }
    }
}

/// Frame opcodes (RFC 6455 section 5.2).
public enum Opcode {
    public static let continuation: UInt8 = 0x0
    public static let text: UInt8 = 0x1
    public static let binary: UInt8 = 0x2
    public static let close: UInt8 = 0x8
    public static let ping: UInt8 = 0x9
    public static let pong: UInt8 = 0xA

    public static func isControl(_ opcode: UInt8) -> Bool { opcode & 0x8 != 0 }
    public static func isKnown(_ opcode: UInt8) -> Bool { opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xA) }
}
