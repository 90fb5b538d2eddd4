import Testing

@testable import ChatCore

@Suite("SHA-1")
struct SHA1Tests {
    @Test(
        "FIPS 180 vectors",
        arguments: [
            ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            // The 448-bit message: two blocks after padding.
            ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
            // The 896-bit message.
            (
                "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                    + "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
                "a49b2446a02c645bf419f995b67091253a04a259"
            ),
            ("The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"),
        ])
    func vectors(input: String, expected: String) {
        #expect(SHA1.hex(bytes(input)) == expected)
        #expect(hex(SHA1.digest(bytes(input))) == expected)
        #expect(SHA1.digest(bytes(input)).count == 20)
    }

    @Test("a million 'a'")
    func millionA() {
        let input = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA1.hex(input) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    /// Lengths around the padding boundaries (55/56 bytes: length fits / does not fit in the
    /// last block); expected values from coreutils sha1sum.
    @Test(
        "padding boundaries",
        arguments: [
            (55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"),
            (56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"),
            (57, "f08f24908d682555111be7ff6f004e78283d989a"),
            (63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"),
            (64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"),
            (65, "11655326c708d70319be2610e8a57d9a5b959d3b"),
            (119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56"),
            (120, "f34c1488385346a55709ba056ddd08280dd4c6d6"),
        ])
    func paddingBoundaries(length: Int, expected: String) {
        #expect(SHA1.hex([UInt8](repeating: UInt8(ascii: "a"), count: length)) == expected)
    }

    @Test("binary input and non-Array collections")
    func binaryInput() {
        #expect(SHA1.hex([0x00, 0x01, 0xFF] as [UInt8]) == "c63e8274458bc7501e7c981f6394ced6d4490fda")
        #expect(SHA1.hex("abc".utf8) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        let slice = bytes("xxabcxx")[2..<5]
        #expect(SHA1.hex(slice) == "a9993e364706816aba3e25717850c26c9cd0d89d")
    }
}

@Suite("Base64")
struct Base64Tests {
    @Test(
        "RFC 4648 section 10 vectors",
        arguments: [
            ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
        ])
    func vectors(plain: String, encoded: String) {
        #expect(Base64.encode(bytes(plain)) == encoded)
        #expect(Base64.decode(encoded) == bytes(plain))
    }

    @Test("uses + and / for 62 and 63")
    func fullAlphabet() {
        #expect(Base64.encode([0xFB, 0xFF, 0xBF] as [UInt8]) == "+/+/")
        #expect(Base64.decode("+/+/") == [0xFB, 0xFF, 0xBF])
        // Every sextet value once.
        var all: [UInt8] = []
        var bits: UInt32 = 0
        var count = 0
        for v in 0..<64 {
            bits = bits << 6 | UInt32(v)
            count += 6
            while count >= 8 {
                count -= 8
                all.append(UInt8(truncatingIfNeeded: bits >> UInt32(count)))
            }
        }
        #expect(Base64.encode(all) == "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    }

    @Test("round trips every length 0...64 and every byte value")
    func roundTrips() {
        var rng = SplitMix64(seed: 42)
        for length in 0...64 {
            for _ in 0..<8 {
                let data = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
                let text = Base64.encode(data)
                #expect(text.utf8.count == (length + 2) / 3 * 4)
                #expect(Base64.decode(text) == data, "length \(length)")
            }
        }
        let everyByte = (0...255).map { UInt8($0) }
        #expect(Base64.decode(Base64.encode(everyByte)) == everyByte)
    }

    @Test(
        "strict decoding rejects",
        arguments: [
            "Zg=",  // length not a multiple of 4
            "Zg",  // missing padding
            "Zm9vY",  // length
            "Z===",  // padding at position 1
            "====",  // padding only
            "=Zg=",  // padding first
            "Zm=v",  // data after padding
            "Zg==Zg==",  // padding in a middle quantum
            "Zm9v====",  // a quantum of padding
            "Zh==",  // non-zero padding bits (h = 100001)
            "Zm9=",  // non-zero padding bits (9 = 111101)
            "Zm 9v",  // space
            "Zm9v\n",  // line break
            "Zm9v\r\nZm9v",
            "Zm-_",  // URL-safe alphabet
            "Zm9v!A==",
            "Zm9vä==",  // non-ASCII (8 bytes)
        ])
    func rejects(text: String) {
        #expect(Base64.decode(text) == nil)
    }
}
