import Testing

@testable import ChatCore

@Suite("StreamID")
struct StreamIDTests {
    @Test(
        "parses ms-seq, and a bare ms as seq 0",
        arguments: [
            ("12-3", 12, 3), ("0-0", 0, 0), ("0-1", 0, 1), ("123", 123, 0), ("1526919030474-55", 1_526_919_030_474, 55),
            ("007-01", 7, 1),
            ("18446744073709551615-18446744073709551615", UInt64.max, UInt64.max),
        ] as [(String, UInt64, UInt64)])
    func parses(text: String, ms: UInt64, seq: UInt64) throws {
        let id = try #require(StreamID(text))
        #expect(id.milliseconds == ms)
        #expect(id.sequence == seq)
        #expect(StreamID(Array(text.utf8)) == id)
        #expect(StreamID(text.utf8) == id)
    }

    @Test(
        "rejects malformed ids",
        arguments: [
            "", "-", "-1", "1-", "1--2", "1-2-3", "a", "1a-2", "1-2b", " 1-2", "1-2 ", "1 -2", "+1-2", "1-+2", "1.5-2",
            "*", "$", ">",
            "18446744073709551616",  // 2^64
            "18446744073709551615-18446744073709551616",
            "99999999999999999999-0",  // 20 digits, overflows
            "000000000000000000001-0",  // 21 digits
        ])
    func rejects(text: String) {
        #expect(StreamID(text) == nil)
    }

    @Test("description round-trips")
    func description() {
        for id in [
            StreamID(milliseconds: 0, sequence: 0), StreamID(milliseconds: 12, sequence: 3),
            StreamID(milliseconds: .max, sequence: .max),
        ] {
            #expect(StreamID(id.description) == id)
        }
        #expect(StreamID(milliseconds: 12, sequence: 3).description == "12-3")
        #expect("\(StreamID(milliseconds: 5, sequence: 0))" == "5-0")
    }

    @Test("ordering: milliseconds first, then sequence")
    func ordering() {
        let a = StreamID(milliseconds: 1, sequence: 5)
        let b = StreamID(milliseconds: 2, sequence: 0)
        let c = StreamID(milliseconds: 2, sequence: 1)
        let d = StreamID(milliseconds: 10, sequence: 0)  // numerically, not as text ("10" < "2")
        #expect(a < b && b < c && c < d)
        #expect(!(b < a) && !(c < b) && !(a < a))
        #expect(a <= a && a >= a)
        #expect([d, b, a, c].sorted() == [a, b, c, d])
        #expect([d, b, a, c].max() == d)
        #expect(StreamID("2-1")! > StreamID("2")!)
        #expect(StreamID("2")! == StreamID("2-0")!)
        #expect(Set([a, StreamID("1-5")!, b]).count == 2)
    }

    @Test("leading: the id at the front of a published payload")
    func leading() {
        func lead(_ text: String) -> StreamID? { bytes(text).withUnsafeBytes { StreamID.leading($0) } }
        #expect(lead(#"{"id":"12-3","ts":1700000000000,"type":"message"}"#) == StreamID(milliseconds: 12, sequence: 3))
        #expect(lead(#"{"id":"1700000000000-0","ts":1}"#) == StreamID(milliseconds: 1_700_000_000_000, sequence: 0))
        #expect(lead(#"{"id":"x-1","ts":1}"#) == nil)
        #expect(lead(#"{"id":"","ts":1}"#) == nil)
        #expect(lead(#"{"id":"#) == nil)
        #expect(lead("") == nil)
        #expect(lead(#"{"id":"12-3-4"}"#) == nil)
    }
}
