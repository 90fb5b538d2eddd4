/// How nicknames are compared: which nicknames are one name in a channel, and which
/// look like a reserved name (docs/PROTOCOL.md, "Names").
///
/// Two nicknames are one name when one of them, as typed, in lowercase, in capitals or
/// capitalized, looks like the other in one of those four forms — "looks like" meaning
/// the same confusable skeleton (Unicode's UTS #39, from confusables.txt). So `alice`,
/// `Alice`, `ALICE`, `aIice` (capital i), `AIice`, `аlice` (Cyrillic а) and `ａｌｉｃｅ`
/// are one name, and `Μary` (Greek capital Mu) is `Mary`, so `mary`; but `bob` and
/// `rob`, `anna` and `ana`, `Ali` and `All` stay two names.
///
/// Why up to four keys per nickname rather than one folded form: no single form can
/// be case-insensitive and confusable-aware without folding too much. `aIice` looks
/// like `alice` and is the same name as `aiice`, so one form for all three would make
/// `i` and `l` one letter everywhere (`Ali` would be `All`, a reserved name); and
/// Greek and Cyrillic letters whose small and capital forms look like different Latin
/// letters (`ν` like v, `Ν` like N) would make v and n one letter. Keys never over-fold:
/// a name's keys are the skeletons of its four forms, and two names collide when they
/// share a key. Redis's nickname index of a
/// channel holds every key of every member (`folded` joins them; ChatStore's script
/// checks each).
///
/// Before the skeletons, fullwidth forms become ASCII and small capitals (`ᴀᴅᴍɪɴ`)
/// become capitals: confusables.txt maps neither to the letters they show. Reserved
/// names are compared without combining marks as well (`Admin̲`, `Ádmin`).
///
/// The skeleton function is injected: ChatCore imports no C module (it is fuzzed by
/// compiling its sources alone, scripts/fuzz.sh) and Unicode's confusables data lives
/// in ICU. The server passes ICU's (`Confusables.skeleton`, the Confusables target),
/// made once per process; tests may pass their own. Never on the message path: a join
/// checks and folds its nickname once.
public struct NicknameFolding: Sendable {
    /// A UTS #39 skeleton: strings that look alike map to the same string.
    public typealias Skeleton = @Sendable (String) -> String

    private let skeleton: Skeleton
    /// Skeletons (without combining marks) of every reserved name in lowercase,
    /// capitals and capitalized.
    private let reservedSkeletons: Set<String>

    public init(skeleton: @escaping Skeleton) {
        self.skeleton = skeleton
        var reserved = Set<String>()
        for name in Names.reservedNicknames {
            for form in [name, name.uppercased(), Self.capitalized(name)] {
                reserved.insert(Self.withoutMarks(skeleton(Self.prefolded(form))))
            }
        }
        reservedSkeletons = reserved
    }

    /// The keys under which `nickname` (valid, NFC) is unique in a channel: the
    /// skeletons of its lowercase, of itself, of its capitals and capitalized; one to
    /// four, no two equal, none empty or holding a newline.
    public func keys(_ nickname: String) -> [String] {
        let name = Self.prefolded(nickname)
        var keys: [String] = []
        for form in [name.lowercased(), name, name.uppercased(), Self.capitalized(name)] {
            let key = skeleton(form)
            if !keys.contains(key) { keys.append(key) }
        }
        return keys
    }

    /// The keys as one string, newline-separated (names hold no control characters):
    /// what a membership carries and the join and leave scripts split.
    public func folded(_ nickname: String) -> String {
        keys(nickname).joined(separator: "\n")
    }

    /// Whether two nicknames are one name in a channel (they share a key).
    public func isSameName(_ a: String, _ b: String) -> Bool {
        let theirs = keys(b)
        return keys(a).contains { theirs.contains($0) }
    }

    /// Whether `nickname` is, or looks like, a reserved name in any case, with or
    /// without combining marks.
    public func isReserved(_ nickname: String) -> Bool {
        keys(nickname).contains { reservedSkeletons.contains(Self.withoutMarks($0)) }
    }

    /// The first letter in title case (`ǅ` for `ǆ`), the rest in lowercase.
    static func capitalized(_ name: String) -> String {
        guard let first = name.unicodeScalars.first else { return name }
        return first.properties.titlecaseMapping + String(name.unicodeScalars.dropFirst()).lowercased()
    }

    /// Fullwidth ASCII (`ＡＢｃ`) as ASCII and small capitals (`ᴀʙᴄ`) as capitals.
    static func prefolded(_ name: String) -> String {
        var changed = false
        var out = String.UnicodeScalarView()
        for scalar in name.unicodeScalars {
            var folded = scalar
            if (0xFF01...0xFF5E).contains(scalar.value) {
                folded = Unicode.Scalar(scalar.value - 0xFEE0)!
            } else if let capital = smallCapitals[scalar.value] {
                folded = capital
            }
            changed = changed || folded != scalar
            out.append(folded)
        }
        return changed ? String(out) : name
    }

    /// Latin letter small capitals (IPA and phonetic extensions), which look like
    /// capitals; UTS #39 leaves most of them alone (`ᴀ`), or maps them elsewhere (`ᴍ` to `ʍ`).
    private static let smallCapitals: [UInt32: Unicode.Scalar] = {
        let pairs: [(UInt32, Unicode.Scalar)] = [
            (0x1D00, "A"), (0x0299, "B"), (0x1D04, "C"), (0x1D05, "D"), (0x1D07, "E"), (0xA730, "F"), (0x0262, "G"),
            (0x029C, "H"), (0x026A, "I"), (0x1D0A, "J"), (0x1D0B, "K"), (0x029F, "L"), (0x1D0D, "M"), (0x0274, "N"),
            (0x1D0F, "O"), (0x1D18, "P"), (0xA7AF, "Q"), (0x0280, "R"), (0xA731, "S"), (0x1D1B, "T"), (0x1D1C, "U"),
            (0x1D20, "V"), (0x1D21, "W"), (0x028F, "Y"), (0x1D22, "Z"),
        ]
        var table: [UInt32: Unicode.Scalar] = [:]
        for (code, capital) in pairs { table[code] = capital }
        return table
    }()

    /// The string without combining marks (skeletons are in NFD, so accents are marks).
    static func withoutMarks(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in s.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .nonspacingMark, .enclosingMark: continue
            default: out.append(scalar)
            }
        }
        return String(out)
    }
}
