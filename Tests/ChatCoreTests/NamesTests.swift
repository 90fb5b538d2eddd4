import Testing

@testable import ChatCore

@Suite("Names: nicknames and channels")
struct NamesTests {
    /// Case folding only: ChatCore has no confusables data of its own (the server
    /// injects ICU's; Tests/ConfusablesTests test names with it).
    static let plain = NicknameFolding(skeleton: { $0 })
    /// A few confusables by hand, to test how NicknameFolding combines a skeleton with
    /// case: capital I looks like l, m like rn, 0 like O, Cyrillic а like a.
    static let toy = NicknameFolding(skeleton: { s in
        var out = ""
        for c in s {
            switch c {
            case "I": out += "l"
            case "m": out += "rn"
            case "0": out += "O"
            case "\u{0430}": out += "a"
            default: out.append(c)
            }
        }
        return out
    })

    func nick(_ raw: String) -> String? { try? Names.nickname(raw, folding: Self.plain).get() }
    func channel(_ raw: String) -> String? { try? Names.channel(raw).get() }

    // MARK: Nicknames

    @Test("member lists: case-insensitive order, ties by the exact name")
    func displayOrder() {
        #expect(
            Names.sortedForDisplay(["bo", "alice", "Carol", "ALICE", "Alice", "été", "Zed"])
                == ["ALICE", "Alice", "alice", "bo", "Carol", "Zed", "été"])
        #expect(Names.sortedForDisplay([String]()) == [])
        let many = (0..<500).map { $0 % 2 == 0 ? "User\($0)" : "user\($0)" }
        let sorted = Names.sortedForDisplay(many.shuffled())
        #expect(sorted == many.sorted { ($0.lowercased(), $0) < ($1.lowercased(), $1) })
    }

    @Test(
        "valid nicknames, trimmed",
        arguments: [
            ("bob", "bob"), ("  bob  ", "bob"), ("\tbob\n", "bob"), ("\u{A0}bob\u{3000}", "bob"),
            ("Zoë", "Zoë"), ("Zoe\u{308}", "Zoe\u{308}"), ("Юлия", "Юлия"), ("太郎", "太郎"), ("محمد", "محمد"),
            ("Ἀθηνᾶ", "Ἀθηνᾶ"), ("हिन्दी", "हिन्दी"), ("김민준", "김민준"), ("ǅemal", "ǅemal"),
            ("user42", "user42"), ("42", "42"), ("٤٢", "٤٢"),
            ("a_b", "a_b"), ("a-b", "a-b"), ("a.b", "a.b"), ("_", "_"), ("...", "..."), ("-x-", "-x-"),
            ("Mary Ann", "Mary Ann"), ("a b c d", "a b c d"),
            ("systems", "systems"), ("administrator2", "administrator2"), ("my admin", "my admin"),
        ])
    func validNicknames(raw: String, trimmed: String) {
        #expect(nick(raw) == trimmed)
    }

    @Test("length: 32 scalars ok, 33 not (counted after trimming)")
    func nicknameLength() {
        #expect(Names.maxNicknameLength == 32)
        for unit in ["a", "é", "太", "𠀀"] {
            #expect(nick(String(repeating: unit, count: 32)) != nil, "\(unit) x 32")
            #expect(nick(String(repeating: unit, count: 33)) == nil, "\(unit) x 33")
        }
        #expect(nick("  " + String(repeating: "a", count: 32) + "  ") == String(repeating: "a", count: 32))
        // Scalars, not characters, counted in NFC: x with an accent has no one-character
        // form, so 16 are 32 scalars and 17 are 34; e with an accent becomes é (one).
        #expect(nick(String(repeating: "x\u{301}", count: 16)) != nil)
        #expect(nick(String(repeating: "x\u{301}", count: 17)) == nil)
        #expect(nick(String(repeating: "e\u{301}", count: 32)) == String(repeating: "\u{E9}", count: 32))
        #expect(nick("a") == "a")
    }

    @Test(
        "rejected nicknames",
        arguments: [
            "", "   ", "\t\n",
            "Mary  Ann",  // two spaces
            "a\tb", "a\nb", "a\u{0}b", "a\u{7}b", "a\u{7F}b", "a\u{85}b",  // control / other whitespace
            "a\u{A0}b", "a\u{3000}b", "a\u{2003}b",  // non-ASCII spaces inside
            // format characters
            "zero\u{200B}width", "join\u{200D}er", "bi\u{202E}di", "soft\u{AD}hyphen", "\u{FEFF}bom x",
            "bob😀", "😀", "👍🏽", "a♥b", "∑",  // symbols, emoji
            "<script>", "a<b", "a>b", "a&b", "a\"b", "a'b", "a/b", "a\\b", "a@b", "a#b", "a!b", "a,b", "a:b", "(a)",
            "a+b", "a=b", "a`b",
            "\u{301}abc",  // combining mark first
            "\u{E000}",  // private use
            "Ⅻ",  // letter number
        ])
    func rejectedNicknames(raw: String) {
        #expect(nick(raw) == nil, "\(raw.debugDescription)")
    }

    @Test("combining marks: after a letter (also several), never first")
    func combiningMarks() {
        #expect(nick("Zoe\u{308}") == "Zoe\u{308}")
        #expect(nick("Vie\u{323}\u{302}t") == "Vie\u{323}\u{302}t")  // two marks on one letter
        #expect(nick("\u{308}Zoe") == nil)
        #expect(channel("\u{308}x") == nil)
        #expect(nick("ab\u{20DD}") == nil)  // enclosing marks are not allowed at all
    }

    @Test(
        "combining marks only after a letter, as docs/PROTOCOL.md says")
    func combiningMarksOnlyAfterLetters() {
        for raw in ["bob \u{301}x", "bob \u{301}", "a_\u{301}", "a-\u{301}b", "a.\u{301}b", "a1\u{301}"] {
            #expect(nick(raw) == nil, "\(raw.unicodeScalars.map { String($0.value, radix: 16) })")
        }
        for raw in ["a_\u{301}", "a-\u{301}b", "a.\u{301}b", "a1\u{301}"] {
            #expect(channel(raw) == nil, "\(raw.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    @Test(
        "reserved nicknames, case-insensitive and after trimming",
        arguments: [
            "system", "SYSTEM", "System", "Admin", "ADMINISTRATOR", "server", "Moderator", "root", "Everyone", "here",
            "  system  ",
        ])
    func reservedNicknames(raw: String) {
        guard case .failure(let violation) = Names.nickname(raw, folding: Self.plain) else {
            Issue.record("\(raw) accepted")
            return
        }
        #expect(violation.message.contains("reserved"))
    }

    @Test("the reserved set is lowercase and includes System")
    func reservedSet() {
        #expect(Names.reservedNicknames.contains("system"))
        #expect(Names.reservedNicknames.allSatisfy { $0 == $0.lowercased() })
        for name in Names.reservedNicknames { #expect(nick(name) == nil, "\(name)") }
    }

    @Test("violations say why")
    func messages() {
        func message(_ r: Result<String, Names.Violation>) -> String? {
            if case .failure(let v) = r { return v.message }
            return nil
        }
        #expect(message(Names.nickname("", folding: Self.plain)) != nil)
        #expect(message(Names.nickname(String(repeating: "a", count: 33), folding: Self.plain))?.contains("32") == true)
        #expect(message(Names.nickname("a  b", folding: Self.plain))?.contains("space") == true)
        #expect(message(Names.channel(String(repeating: "a", count: 65)))?.contains("64") == true)
        #expect(message(Names.nickname("ok", folding: Self.plain)) == nil)
        #expect(message(Names.nickname("Admin", folding: Self.plain))?.contains("reserved") == true)
    }

    // MARK: Channels

    @Test(
        "valid channel names, trimmed",
        arguments: [
            ("general", "general"), (" general ", "general"), ("dev-ops_2.0", "dev-ops_2.0"), ("General", "General"),
            ("канал", "канал"), ("チャット", "チャット"), ("قناة", "قناة"), ("42", "42"), ("_", "_"), ("a.b.c", "a.b.c"),
            ("system", "system"),  // reserved words are only about nicknames
        ])
    func validChannels(raw: String, trimmed: String) {
        #expect(channel(raw) == trimmed)
    }

    @Test("channel length: 64 max")
    func channelLength() {
        #expect(Names.maxChannelLength == 64)
        #expect(channel(String(repeating: "c", count: 64)) != nil)
        #expect(channel(String(repeating: "c", count: 65)) == nil)
        #expect(channel(String(repeating: "к", count: 64)) != nil)
        #expect(channel(String(repeating: "к", count: 65)) == nil)
    }

    @Test(
        "rejected channel names",
        arguments: [
            "", "  ", "has space", "two  spaces", "a\tb", "#general", "a/b", "a:b", "a*b", "a?b", "a%20b", "a{b}",
            "a\u{0}b",
            "emoji😀", "zero\u{200B}width", "\u{301}x", "a\u{A0}b",
        ])
    func rejectedChannels(raw: String) {
        #expect(channel(raw) == nil, "\(raw.debugDescription)")
    }

    @Test("channel names are case-sensitive (returned as given)")
    func channelCase() {
        #expect(channel("Dev") == "Dev")
        #expect(channel("dev") == "dev")
    }

    @Test("one name in any case, fullwidth or small capitals (without confusables)")
    func plainFolding() {
        let f = Self.plain
        for same in ["Alice", "ALICE", "aLiCe", "ａｌｉｃｅ", "Ａｌｉｃｅ", "ＡＬＩＣＥ", "\u{1D00}\u{029F}\u{026A}\u{1D04}\u{1D07}"] {
            #expect(f.isSameName(same, "alice"), "\(same)")
        }
        for other in ["alicia", "alice2", "al ice", "\u{0430}lice"] {
            #expect(!f.isSameName(other, "alice"), "\(other)")
        }
        #expect(f.isSameName("Zoë", "ZOË"))
        #expect(!f.isSameName("Zoë", "Zoe"))
        #expect(f.isSameName("Strasse", "STRASSE"))
    }

    @Test("keys: one to four, distinct, no newline; folded joins them")
    func keys() {
        for name in ["alice", "Alice", "ALICE", "aIice", "Zoë", "太郎", "Mary Ann", "_", "\u{0430}lice"] {
            let keys = Self.toy.keys(name)
            #expect((1...4).contains(keys.count), "\(name)")
            #expect(Set(keys).count == keys.count, "\(name)")
            #expect(keys.allSatisfy { !$0.isEmpty && !$0.contains("\n") }, "\(name)")
            #expect(Self.toy.folded(name) == keys.joined(separator: "\n"))
        }
        // Lowercase, as typed (the same here), capitals, capitalized.
        #expect(Self.plain.keys("alice") == ["alice", "ALICE", "Alice"])
        #expect(Self.plain.keys("ǆemal") == ["ǆemal", "ǄEMAL", "ǅemal"])
        #expect(Self.plain.keys("太郎") == ["太郎"])
    }

    @Test("a skeleton and case together: lookalikes collide, distinct names do not")
    func toyFolding() {
        let f = Self.toy
        // aIice looks like alice; ALICE is alice in capitals; а is Cyrillic.
        for same in ["alice", "aIice", "ALICE", "Alice", "\u{0430}lice", "AIice"] {
            #expect(f.isSameName(same, "alice"), "\(same)")
            #expect(f.isSameName("alice", same), "\(same)")
        }
        #expect(f.isSameName("modern", "rnodern"))
        #expect(f.isSameName("MODERN", "rnodern"))  // modern in capitals is modern
        #expect(f.isSameName("r00t", "ROOT"))
        #expect(!f.isSameName("aIIce", "alice"))  // looks like allce
        // No letter becomes another in every name: i is not l, though I looks like l.
        for (a, b) in [
            ("bob", "rob"), ("anna", "ana"), ("ali", "all"), ("Ali", "All"), ("ALI", "ALL"), ("alice", "allce"),
        ] {
            #expect(!f.isSameName(a, b), "\(a) \(b)")
        }
        #expect(f.isSameName("Ian", "lan"))  // but Ian does look like lan, and so ian (capitalized: Ian) is lan too
        #expect(f.isSameName("ian", "lan"))
    }

    @Test("reserved names: in any case, in lookalike forms, with marks")
    func reservedFolding() {
        for name in [
            "Admin", "ADMIN", "aDmIn", "Adm\u{0301}in", "A\u{0332}dmin", "r00t", "R00T", "ａｄｍｉｎ",
            "\u{1D00}\u{1D05}\u{1D0D}\u{026A}\u{0274}",
            "\u{0430}dmin", "adrnin", "SYSTEM", "Systern", "Everyone", "ALL", "All", "alI", "AlI",
        ] {
            #expect(Self.toy.isReserved(name), "\(name)")
        }
        for name in [
            "Ali", "ALI", "ali", "my admin", "administrator2", "systems", "Systematic", "rooty", "Zoë", "moderate",
        ] {
            #expect(!Self.toy.isReserved(name), "\(name)")
        }
        if case .success = Names.nickname("Systematic", folding: Self.toy) {
        } else {
            Issue.record("Systematic refused")
        }
    }

    @Test("one spelling per name: NFC, so é typed as e + accent is the same channel and nickname")
    func nfc() {
        // String's == calls the two equal; the bytes (Redis keys) must agree too.
        #expect(Array(channel("cafe\u{301}")!.utf8) == Array("caf\u{E9}".utf8))
        #expect(Array(nick("Jose\u{301}")!.utf8) == Array("Jos\u{E9}".utf8))
        #expect(Array(channel("caf\u{E9}")!.utf8) == Array("caf\u{E9}".utf8))
        #expect(channel("general") == "general")
        #expect(Array(channel("\u{1100}\u{1161}")!.utf8) == Array("\u{AC00}".utf8))  // Hangul jamo compose
    }

    @Test(
        "invisible characters and styled mathematical letters are refused",
        arguments: [
            "bob\u{FE0F}", "Sy\u{34F}stem", "\u{3164}", "dave\u{3164}", "a\u{200B}b", "a\u{2060}b",
            "\u{1D412}\u{1D432}\u{1D42C}\u{1D42D}\u{1D41E}\u{1D426}",  // 𝐒𝐲𝐬𝐭𝐞𝐦
        ])
    func invisible(raw: String) {
        #expect(nick(raw) == nil, "\(raw.debugDescription)")
        #expect(channel(raw) == nil, "\(raw.debugDescription)")
    }
}
