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
    /// Checked on the folded form (`foldedNickname`), so lookalikes (`Ѕystem` with a
    /// Cyrillic Ѕ, `ＳＹＳＴＥＭ`) are reserved too.
    public static let reservedNicknames: Set<String> = [
        "system", "server", "admin", "administrator", "moderator", "mod", "staff", "support", "official", "root",
        "everyone", "here", "all", "channel", "nobody", "anonymous", "null", "undefined",
    ]

    public struct Violation: Error, Equatable, Sendable {
        public let message: String
    }

    /// Returns the trimmed nickname in NFC, or why it is refused.
    public static func nickname(_ raw: String) -> Result<String, Violation> {
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
        if reservedNicknames.contains(foldedNickname(name)) {
            return .failure(Violation(message: "nickname \"\(name)\" is reserved"))
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
            a.key.utf8.elementsEqual(b.key.utf8) ? a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
                : a.key.utf8.lexicographicallyPrecedes(b.key.utf8)
        }
        return keyed.map(\.name)
    }

    /// The form under which nicknames are unique in a channel: lowercased, with
    /// fullwidth forms and common Cyrillic and Greek lookalikes of Latin letters
    /// folded to those letters, so that `alice`, `Alice`, `ALICE` and `аlice` (with a
    /// Cyrillic а) are one name. Not on the message path (joins only).
    public static func foldedNickname(_ name: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in name.lowercased().unicodeScalars {
            var v = scalar.value
            if (0xFF21...0xFF3A).contains(v) { v += 0x20 }  // fullwidth capitals (lowercased() may leave them)
            if (0xFF01...0xFF5E).contains(v) { v -= 0xFEE0 }  // fullwidth ASCII
            if let latin = lookalikes[v] { v = latin.value }
            out.append(Unicode.Scalar(v) ?? scalar)
        }
        return String(out)
    }

    /// Lowercase Cyrillic and Greek letters (and a few Latin variants) that render like
    /// a Latin letter in common fonts.
    private static let lookalikes: [UInt32: Unicode.Scalar] = {
        let pairs: [(UInt32, Character)] = [
            (0x0430, "a"), (0x0432, "b"), (0x0435, "e"), (0x043A, "k"), (0x043C, "m"), (0x043D, "h"), (0x043E, "o"),
            (0x0440, "p"), (0x0441, "c"), (0x0442, "t"), (0x0443, "y"), (0x0445, "x"), (0x0456, "i"), (0x0458, "j"),
            (0x0455, "s"), (0x0501, "d"), (0x04CF, "l"), (0x051B, "q"), (0x051D, "w"), (0x0457, "i"), (0x0491, "r"),
            (0x03B1, "a"), (0x03B2, "b"), (0x03B5, "e"), (0x03B9, "i"), (0x03BA, "k"), (0x03BD, "v"), (0x03BF, "o"),
            (0x03C1, "p"), (0x03C4, "t"), (0x03C5, "u"), (0x03C7, "x"), (0x03C9, "w"), (0x03BC, "u"), (0x03B7, "n"),
            (0x0131, "i"), (0x2113, "l"), (0x0261, "g"),
        ]
        var table: [UInt32: Unicode.Scalar] = [:]
        for (code, latin) in pairs { table[code] = latin.unicodeScalars.first! }
        return table
    }()

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
