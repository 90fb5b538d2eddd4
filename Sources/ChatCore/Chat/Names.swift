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
        for (k, scalar) in name.unicodeScalars.enumerated() {
            if scalar == " " {
                if previousWasSpace { return .failure(Violation(message: "nickname has two spaces in a row")) }
                previousWasSpace = true
                continue
            }
            previousWasSpace = false
            if !isAllowed(scalar, first: k == 0) {
                return .failure(Violation(message: "nickname may hold only letters, digits, spaces and _ - ."))
            }
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
        for (k, scalar) in name.unicodeScalars.enumerated() where !isAllowed(scalar, first: k == 0) {
            return .failure(Violation(message: "channel name may hold only letters, digits and _ - ."))
        }
        return .success(name)
    }

    /// Letters, digits, `_ - .`; combining marks only after a base character.
    private static func isAllowed(_ scalar: Unicode.Scalar, first: Bool) -> Bool {
        if scalar == "_" || scalar == "-" || scalar == "." { return true }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .decimalNumber:
            return true
        case .nonspacingMark, .spacingMark:
            return !first
        default:
            return false
        }
    }
}
