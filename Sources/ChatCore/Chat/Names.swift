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
    /// Lowercase. `System` signs system notices; the rest are names that readers
    /// would mistake for staff or for a mention of everybody. Compared as
    /// `NicknameFolding.isReserved` compares them: in any case and in lookalike forms
    /// (`Ѕystem` with a Cyrillic Ѕ, `ＳＹＳＴＥＭ`, `ᴀᴅᴍɪɴ`, `Μoderator` with a Greek Μ).
    public static let reservedNicknames: Set<String> = [
        "system", "server", "admin", "administrator", "moderator", "mod", "staff", "support", "official", "root",
        "everyone", "here", "all", "channel", "nobody", "anonymous", "null", "undefined",
    ]

    public struct Violation: Error, Equatable, Sendable {
        public let message: String
    }

    /// Returns the trimmed nickname in NFC, or why it is refused: the rules of
    /// `nicknameSyntax`, and no reserved name (as `folding` compares names).
    public static func nickname(_ raw: String, folding: NicknameFolding) -> Result<String, Violation> {
        nicknameSyntax(raw).flatMap { name in
            folding.isReserved(name) ? .failure(Violation(message: "nickname \"\(name)\" is reserved")) : .success(name)
        }
    }

    /// Returns the trimmed nickname in NFC, or why it is refused, reserved names
    /// allowed (the HTTP API's `sender`, which may sign as `System`).
    public static func nicknameSyntax(_ raw: String) -> Result<String, Violation> {
        let name = nfc(raw.trimmingWhitespace())
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
        return .success(name)
    }

    /// Nicknames in the order member lists are shown: by their lowercased form (as
    /// UTF-8 bytes), ties by the exact name, so the order is total and the same
    /// everywhere. Lowercases each name once (not once per comparison: member lists of
    /// a thousand names are sorted on every join).
    public static func sortedForDisplay<S: Sequence>(_ names: S) -> [String] where S.Element == String {
        var keyed = names.map { (key: $0.lowercased(), name: $0) }  // short names stay inline: no allocation
        keyed.sort { a, b in
            // Bytes throughout (String's == is canonical equivalence, which would not agree
            // with a byte order and could make the order depend on the input's).
            a.key.utf8.elementsEqual(b.key.utf8)
                ? a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
                : a.key.utf8.lexicographicallyPrecedes(b.key.utf8)
        }
        return keyed.map(\.name)
    }

    /// Returns the trimmed channel name in NFC, or why it is refused.
    public static func channel(_ raw: String) -> Result<String, Violation> {
        let name = nfc(raw.trimmingWhitespace())
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

    /// One spelling per name: `é` as one character, never `e` and a combining accent.
    /// String's `==` already takes the two for equal (so do the server's tables), but
    /// their bytes differ (Redis keys, other instances): without this, one channel
    /// could be two. ASCII is NFC already (the message path's names).
    static func nfc(_ s: String) -> String {
        if s.utf8.allSatisfy({ $0 < 0x80 }) { return s }
        return String(decoding: s._nfcCodeUnits, as: UTF8.self)  // the standard library's NFC (what Foundation uses)
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
        // Invisible characters (variation selectors, the combining grapheme joiner, the
        // Hangul fillers: "Default_Ignorable") would make `bob` and `bob\u{FE0F}` two
        // names that look the same; mathematical letters (𝐒𝐲𝐬𝐭𝐞𝐦) are styled lookalikes.
        if scalar.properties.isDefaultIgnorableCodePoint || (0x1D400...0x1D7FF).contains(scalar.value) { return nil }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .nonspacingMark, .spacingMark: return .mark
        case .decimalNumber: return .other
        default: return nil
        }
    }
}
