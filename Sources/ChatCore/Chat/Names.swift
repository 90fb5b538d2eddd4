/// Rules for nicknames and channel names (docs/PROTOCOL.md, "Names").
///
/// Both allow Unicode letters and digits, so people can use their own script, and a
/// few separators; neither allows control, format (invisible) or other whitespace
/// characters, symbols or other punctuation. Names are trimmed of surrounding
/// whitespace first. Channel names are case-sensitive and carry no spaces, because
/// they appear in Redis keys and URLs; nicknames may hold single inner spaces.
public enum Names {
    public static let maxNicknameLength = 32
    public static let maxChannelLength = 64
    /// Compared case-insensitively. `System` signs system notices; the rest are
    /// names that readers would mistake for staff or for a mention of everybody.
    public static let reservedNicknames: Set<String> = ["system", "server", "admin", "administrator", "moderator", "root", "everyone", "here"]

    public struct Violation: Error, Equatable, Sendable {
        public let message: String
    }

    /// Returns the trimmed nickname, or why it is refused.
    public static func nickname(_ raw: String) -> Result<String, Violation> {
        let name = raw.trimmingWhitespace()
        if name.isEmpty { return .failure(Violation(message: "nickname is empty")) }
        if name.unicodeScalars.count > maxNicknameLength {
            return .failure(Violation(message: "nickname is longer than \(maxNicknameLength) characters"))
        }
        var previousWasSpace = false
        var afterLetter = false
        for scalar in name.unicodeScalars {
            if scalar == " " {
                if previousWasSpace { return .failure(Violation(message: "nickname has two spaces in a row")) }
                previousWasSpace = true
                afterLetter = false
                continue
            }
            previousWasSpace = false
            guard let kind = kind(of: scalar), kind != .mark || afterLetter else {
                return .failure(Violation(message: "nickname may hold only letters, digits, spaces and _ - ."))
            }
            if kind != .mark { afterLetter = kind == .letter }
        }
        if reservedNicknames.contains(name.lowercased()) {
            return .failure(Violation(message: "nickname \"\(name)\" is reserved"))
        }
        return .success(name)
    }

    /// Returns the trimmed channel name, or why it is refused.
    public static func channel(_ raw: String) -> Result<String, Violation> {
        let name = raw.trimmingWhitespace()
        if name.isEmpty { return .failure(Violation(message: "channel name is empty")) }
        if name.unicodeScalars.count > maxChannelLength {
            return .failure(Violation(message: "channel name is longer than \(maxChannelLength) characters"))
        }
        var afterLetter = false
        for scalar in name.unicodeScalars {
            guard let kind = kind(of: scalar), kind != .mark || afterLetter else {
                return .failure(Violation(message: "channel name may hold only letters, digits and _ - ."))
            }
            if kind != .mark { afterLetter = kind == .letter }
        }
        return .success(name)
    }

    private enum Kind { case letter, mark, other }

    /// Letters, combining marks, digits and `_ - .` are allowed (marks only after a
    /// letter, checked by the callers); nil for everything else.
    private static func kind(of scalar: Unicode.Scalar) -> Kind? {
        if scalar.isASCII {  // fast path: names are checked on every message sent
            switch scalar.value {
            case 0x61...0x7A, 0x41...0x5A: return .letter
            case 0x30...0x39, 0x5F, 0x2D, 0x2E: return .other
            default: return nil
            }
        }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .nonspacingMark, .spacingMark: return .mark
        case .decimalNumber: return .other
        default: return nil
        }
    }
}
