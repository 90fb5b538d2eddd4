import Testing

@testable import ChatCore

@Suite("Incremental UTF-8 validation")
struct UTF8ValidatorTests {
    /// Feeds `pieces` and returns (index of the piece that failed or nil, isComplete at the end).
    func run(_ pieces: [[UInt8]]) -> (failedAt: Int?, complete: Bool) {
        var v = UTF8Validator()
        for (k, piece) in pieces.enumerated() {
            let ok = piece.withUnsafeBytes { v.validate($0) }
            if !ok { return (k, v.isComplete) }
        }
        return (nil, v.isComplete)
    }

    /// Reference: the standard library's own validating decoder.
    func reference(_ bytes: [UInt8]) -> Bool { String(validating: bytes, as: UTF8.self) != nil }

    static let mixed = "aé€😀z\u{7F}\u{80}\u{7FF}\u{800}\u{FFFF}\u{10000}\u{10FFFF}ß中𝄞"

    @Test(
        "valid 1-, 2-, 3- and 4-byte sequences, at the boundaries of each form",
        arguments: [
            [0x00], [0x7F],
            [0xC2, 0x80], [0xDF, 0xBF],  // U+0080, U+07FF
            // U+0800, U+D7FF, U+E000, U+FFFF
            [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80], [0xEF, 0xBF, 0xBF],
            [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF], [0xF3, 0xBF, 0xBF, 0xBF],  // U+10000, U+10FFFF
        ] as [[UInt8]])
    func validForms(bytes: [UInt8]) {
        #expect(UTF8Validator.isValid(bytes))
        #expect(run(bytewise(bytes)) == (nil, true))
    }

    @Test("a multi-byte text split at every position (2 and 3 pieces) stays valid")
    func everySplit() {
        let data = bytes(Self.mixed)
        #expect(UTF8Validator.isValid(data))
        #expect(run(bytewise(data)) == (nil, true))
        for i in 0...data.count {
            let (a, b) = (Array(data[..<i]), Array(data[i...]))
            #expect(run([a, b]) == (nil, true), "cut \(i)")
            // After the first piece, complete exactly when the cut is on a scalar boundary.
            var v = UTF8Validator()
            #expect(a.withUnsafeBytes { v.validate($0) })
            let onBoundary = reference(a)  // a prefix of valid UTF-8 is valid exactly at boundaries
            #expect(v.isComplete == onBoundary, "cut \(i)")
            for j in i...data.count {
                #expect(run([a, Array(data[i..<j]), Array(data[j...])]) == (nil, true), "cuts \(i), \(j)")
            }
        }
    }

    @Test(
        "invalid sequences are rejected",
        arguments: [
            [0xC0, 0x80],  // overlong NUL
            [0xC1, 0xBF],  // overlong
            [0xE0, 0x80, 0x80],  // overlong 3-byte
            [0xE0, 0x9F, 0xBF],  // overlong U+07FF
            [0xF0, 0x80, 0x80, 0x80],  // overlong 4-byte
            [0xF0, 0x8F, 0xBF, 0xBF],  // overlong U+FFFF
            [0xED, 0xA0, 0x80],  // U+D800 (surrogate)
            [0xED, 0xBF, 0xBF],  // U+DFFF
            [0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80],  // surrogate pair in CESU-8
            [0xF4, 0x90, 0x80, 0x80],  // U+110000
            [0xF5, 0x80, 0x80, 0x80],  // lead byte past F4
            [0xF8, 0x88, 0x80, 0x80, 0x80],
            [0xFE], [0xFF],
            [0x80],  // stray continuation
            [0xBF],
            [0x61, 0x80, 0x62],
            [0xC3, 0xA9, 0xA9],  // one continuation too many
            [0xC3, 0x41],  // lead without continuation
            [0xE2, 0x82, 0x41],
            [0xF0, 0x9F, 0x98, 0x41],
        ] as [[UInt8]])
    func invalid(bytes: [UInt8]) {
        #expect(!reference(bytes))  // sanity: the oracle agrees
        #expect(!UTF8Validator.isValid(bytes))
        #expect(run(bytewise(bytes)).failedAt != nil)
    }

    @Test(
        "truncated sequences validate so far but are not complete",
        arguments: [
            [0xC3], [0xE2], [0xE2, 0x82], [0xF0], [0xF0, 0x9F], [0xF0, 0x9F, 0x98], [0x61, 0x62, 0xE4, 0xB8],
        ] as [[UInt8]])
    func truncated(bytes: [UInt8]) {
        #expect(run([bytes]) == (nil, false))
        #expect(run(bytewise(bytes)) == (nil, false))
        #expect(!UTF8Validator.isValid(bytes))
    }

    @Test(
        "fail fast: validate returns false at the byte that makes the input invalid",
        arguments: [
            ([0x61, 0x62, 0xE0, 0x80], 3),  // second byte after E0 must be A0...BF
            ([0x61, 0x62, 0xC0], 2),  // C0 can never start a sequence
            ([0xED, 0xA0], 1),  // surrogate known at its second byte
            ([0xF4, 0x90], 1),  // above U+10FFFF known at its second byte
            ([0xF0, 0x80], 1),
            ([0xE2, 0x82, 0x41], 2),
            ([0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0xFF], 9),
        ] as [([UInt8], Int)])
    func failFast(bytes: [UInt8], index: Int) {
        #expect(run(bytewise(bytes)).failedAt == index)
        // Prefix before the bad byte is fine on its own.
        #expect(run([Array(bytes[..<index])]).failedAt == nil)
    }

    @Test("the 8-byte ASCII fast path: bad byte at every position of long input, any alignment")
    func asciiFastPath() {
        for length in 0...40 {
            for alignment in 0...7 {
                let ascii = [UInt8](repeating: 0x41, count: alignment + length)
                let valid = ascii.withUnsafeBytes {
                    UTF8Validator.isValid(UnsafeRawBufferPointer(rebasing: $0[alignment...]))
                }
                #expect(valid, "length \(length)")
                for bad in 0..<length {
                    for badByte: UInt8 in [0x80, 0xFF, 0xC3] {
                        var data = ascii
                        data[alignment + bad] = badByte
                        let result = data.withUnsafeBytes {
                            UTF8Validator.isValid(UnsafeRawBufferPointer(rebasing: $0[alignment...]))
                        }
                        #expect(!result, "length \(length), bad \(badByte) at \(bad), alignment \(alignment)")
                    }
                }
            }
        }
        // A valid 2-byte character after a long ASCII run, and ASCII after it.
        #expect(
            UTF8Validator.isValid(bytes(String(repeating: "x", count: 17) + "é" + String(repeating: "y", count: 17))))
    }

    @Test("agrees with the standard library on every 1- and 2-byte input")
    func exhaustiveShort() {
        for a in 0...255 {
            #expect(UTF8Validator.isValid([UInt8(a)]) == reference([UInt8(a)]))
            for b in 0...255 {
                let data = [UInt8(a), UInt8(b)]
                let mine = UTF8Validator.isValid(data)
                if mine != reference(data) { Issue.record("disagreement on \(hex(data))") }
            }
        }
    }

    @Test("agrees with the standard library on 3- and 4-byte inputs around every boundary")
    func boundary3and4() {
        let interesting: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF0, 0xFF]
        var mismatches: [String] = []
        for a in 0xC0...0xFF {
            for b in 0...255 {
                for c in interesting {
                    let data = [UInt8(a), UInt8(b), c]
                    if UTF8Validator.isValid(data) != reference(data) { mismatches.append(hex(data)) }
                    // Chunked the same way the reader sees fragments.
                    var v = UTF8Validator()
                    let chunked =
                        data.withUnsafeBytes {
                            v.validate(UnsafeRawBufferPointer(rebasing: $0[..<1]))
                                && v.validate(UnsafeRawBufferPointer(rebasing: $0[1...]))
                        } && v.isComplete
                    if chunked != reference(data) { mismatches.append("chunked " + hex(data)) }
                }
                if a >= 0xF0 {
                    for c: UInt8 in [0x80, 0xBF, 0x41] {
                        for d: UInt8 in [0x80, 0xBF, 0xC0, 0x41] {
                            let data = [UInt8(a), UInt8(b), c, d]
                            if UTF8Validator.isValid(data) != reference(data) { mismatches.append(hex(data)) }
                        }
                    }
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(20))")
    }

    @Test("random byte soup, whole and split, agrees with the standard library")
    func randomSoup() {
        var rng = SplitMix64(seed: 3629)
        let alphabet: [UInt8] = [
            0x41, 0x7F, 0x80, 0x9F, 0xA0, 0xBF, 0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xC0, 0xFF,
        ]
        for _ in 0..<3000 {
            let data = (0..<Int.random(in: 0...12, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            let expected = reference(data)
            #expect(UTF8Validator.isValid(data) == expected, "\(hex(data))")
            let cuts = randomCuts(data.count, count: 2, using: &rng)
            let r = run(split(data, at: cuts))
            #expect((r.failedAt == nil && r.complete) == expected, "\(hex(data)) cut at \(cuts)")
        }
    }

    @Test("reset starts a new message")
    func reset() {
        var v = UTF8Validator()
        #expect(([0xE2, 0x82] as [UInt8]).withUnsafeBytes { v.validate($0) })
        #expect(!v.isComplete)
        v.reset()
        #expect(v.isComplete)
        #expect(([0x41] as [UInt8]).withUnsafeBytes { v.validate($0) })
        #expect(v.isComplete)
    }

    @Test("empty input is valid and complete")
    func empty() {
        #expect(UTF8Validator.isValid([]))
        #expect(UTF8Validator().isComplete)
    }
}
