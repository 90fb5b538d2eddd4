import ChatCore
import Confusables
import Testing

/// Nickname rules with ICU's confusables, as the server uses them.
@Suite("Confusables: nicknames with ICU's skeletons")
struct ConfusablesTests {
    static let folding = NicknameFolding(skeleton: Confusables.skeleton)

    func refusedAsReserved(_ raw: String) -> Bool {
        guard case .failure(let v) = Names.nickname(raw, folding: Self.folding) else { return false }
        return v.message.contains("reserved")
    }

    @Test("ICU's skeletons (UTS #39)")
    func skeletons() {
        #expect(Confusables.skeleton("aIice") == "alice")
        #expect(Confusables.skeleton("alice") == "alice")
        #expect(Confusables.skeleton("\u{A4EE}dmin") == "Adrnin")  // Lisu A; m looks like rn
        #expect(Confusables.skeleton("\u{0430}\u{0435}") == "ae")  // Cyrillic
        #expect(Confusables.skeleton("") == "")
        #expect(Confusables.skeleton("Zo\u{EB}") == "Zoe\u{308}")  // NFD
        // Longer than the first buffer: the exact size is asked for.
        let long = String(repeating: "\u{FDFA}", count: 100)  // one character, a long prototype
        #expect(Confusables.skeleton(long).utf8.count > 1_000)
        #expect(Confusables.skeleton(long) == String(repeating: Confusables.skeleton("\u{FDFA}"), count: 100))
    }

    @Test(
        "the reported lookalikes are reserved",
        arguments: [
            "\u{1D00}\u{1D05}\u{1D0D}\u{026A}\u{0274}",  // ᴀᴅᴍɪɴ, small capitals
            "\u{A4EE}dmin",  // ꓮdmin, Lisu A
            "\u{2C6D}dmin",  // Ɑdmin, Latin capital alpha
            "\u{13AA}dmin",  // Ꭺdmin, Cherokee A
            "Admin\u{0332}",  // Admin̲, combining low line
            "\u{039C}oderator",  // Μoderator, Greek capital Mu
        ])
    func reportedLookalikes(raw: String) {
        #expect(refusedAsReserved(raw), "\(raw.unicodeScalars.map { String($0.value, radix: 16) })")
    }

    @Test("every reserved name, in other cases and in lookalike forms, is reserved")
    func everyReservedName() {
        let smallCapitals: [Character: Character] = [
            "a": "\u{1D00}", "b": "\u{0299}", "c": "\u{1D04}", "d": "\u{1D05}", "e": "\u{1D07}", "f": "\u{A730}",
            "g": "\u{0262}",
            "h": "\u{029C}", "i": "\u{026A}", "j": "\u{1D0A}", "k": "\u{1D0B}", "l": "\u{029F}", "m": "\u{1D0D}",
            "n": "\u{0274}",
            "o": "\u{1D0F}", "p": "\u{1D18}", "r": "\u{0280}", "s": "\u{A731}", "t": "\u{1D1B}", "u": "\u{1D1C}",
            "v": "\u{1D20}",
            "w": "\u{1D21}", "y": "\u{028F}", "z": "\u{1D22}",
        ]
        // Capital letters of other scripts that look like Latin capitals.
        let capitals: [Character: Character] = [
            "A": "\u{0391}", "B": "\u{0392}", "E": "\u{0395}", "H": "\u{0397}", "I": "\u{0399}", "K": "\u{039A}",
            "M": "\u{039C}",
            "N": "\u{039D}", "O": "\u{041E}", "P": "\u{0420}", "C": "\u{0421}", "T": "\u{0422}", "X": "\u{0425}",
            "S": "\u{0405}",
            "Y": "\u{03A5}", "Z": "\u{0396}", "D": "\u{13A0}", "L": "\u{13DE}", "R": "\u{13A1}", "U": "\u{A4F4}",
            "W": "\u{13B3}", "G": "\u{13C0}",
        ]
        for name in Names.reservedNicknames {
            let title = name.prefix(1).uppercased() + name.dropFirst()
            let forms = [
                name, name.uppercased(), title, " \(title) ",
                String(name.map { smallCapitals[$0] ?? $0 }),
                // fullwidth
                String(name.map { Character(Unicode.Scalar(($0.unicodeScalars.first!.value) + 0xFEE0)!) }),
                String(title.prefix(1).map { capitals[$0] ?? $0 }) + title.dropFirst(),  // other script's capital
                String(name.uppercased().map { capitals[$0] ?? $0 }),
                title + "\u{0332}", String(title.prefix(1)) + "\u{0301}" + title.dropFirst(),
            ]
            for form in forms {
                #expect(refusedAsReserved(form), "\(name): \(form.unicodeScalars.map { String($0.value, radix: 16) })")
            }
        }
    }

    @Test("aIice, ALICE and other forms of alice are one name; bob and rob are not")
    func sameName() {
        let f = Self.folding
        for same in [
            "alice", "aIice", "ALICE", "Alice", "aLiCe", "\u{0430}lice", "\u{0410}LICE", "al\u{0456}ce", "ａｌｉｃｅ",
            "Ａｌｉｃｅ", "\u{1D00}\u{029F}\u{026A}\u{1D04}\u{1D07}", "\u{0391}lice", "AIice",
        ] {
            #expect(f.isSameName(same, "alice"), "\(same)")
            #expect(f.isSameName("alice", same), "\(same)")
        }
        #expect(f.isSameName("aIice", "ALICE"))
        #expect(f.isSameName("\u{039C}ary", "mary"))  // Μary with a Greek Mu
        #expect(f.isSameName("\u{03BD}anessa", "vanessa"))  // Greek small nu
        #expect(f.isSameName("Ian", "lan"))  // capital I looks like l
        #expect(f.isSameName("ian", "lan"))  // ian capitalized is Ian
        #expect(f.isSameName("modern", "rnodern"))
        // Case-insensitive in every script.
        for (a, b) in [
            ("Νίκος", "ΝΊΚΟΣ"), ("Νίκος", "νίκος"), ("Юлия", "ЮЛИЯ"), ("Никита", "НИКИТА"), ("Ǆemal", "ǆemal"),
            ("Zoë", "ZOË"),
        ] {
            #expect(f.isSameName(a, b), "\(a) \(b)")
        }
        for (a, b) in [
            ("bob", "rob"), ("anna", "ana"), ("alice", "alicia"), ("Ali", "All"), ("ali", "all"),
            ("vanessa", "nanessa"), ("Zoë", "Zoe"), ("José", "Jose"), ("Юлия", "Юля"), ("太郎", "次郎"), ("mark", "marc"),
        ] {
            #expect(!f.isSameName(a, b), "\(a) \(b)")
        }
    }

    @Test(
        "ordinary names stay valid, none reserved",
        arguments: [
            "bob", "Ali", "ALI", "Alice", "Zoë", "Юлия", "太郎", "محمد", "Ἀθηνᾶ", "हिन्दी", "김민준", "ǅemal", "Mary Ann",
            "my admin",
            "systems", "administrator2", "Systematic", "rooty", "moderate", "Sysadmin", "alli", "hero", "channels",
            "nullify",
        ])
    func ordinaryNames(raw: String) {
        #expect((try? Names.nickname(raw, folding: Self.folding).get()) != nil, "\(raw)")
    }

    @Test("safe from several threads at once (one checker per process)")
    func concurrent() async {
        await withTaskGroup(of: Bool.self) { group in
            for i in 0..<8 {
                group.addTask {
                    (0..<500).allSatisfy { j in
                        Confusables.skeleton(j % 2 == 0 ? "aIice" : "\u{A4EE}dmin") == (j % 2 == 0 ? "alice" : "Adrnin")
                            && i >= 0
                    }
                }
            }
            for await ok in group { #expect(ok) }
        }
    }
}
