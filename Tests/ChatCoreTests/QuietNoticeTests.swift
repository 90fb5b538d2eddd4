import Testing

@testable import ChatCore

@Suite("QuietNotice")
struct QuietNoticeTests {
    @Test(
        "a marker round-trips: recognized as quiet, its id read back",
        arguments: ["1-0", "1764438000000-0", "18446744073709551615-7"])
    func markerRoundTrip(id: String) throws {
        let marker = QuietNotice.marker(id: id)
        #expect(String(decoding: marker, as: UTF8.self) == "{\"id\":\"\(id)\",\"quiet\":true}")
        #expect(QuietNotice.isQuiet(marker))
        let parsed = try #require(marker.withUnsafeBytes { QuietNotice.id($0) })
        #expect(parsed.description == StreamID(id)?.description)
    }

    @Test("a joiner's quiet notice is the stored shape, quiet, with its id and count")
    func notice() throws {
        let prefix = ServerEvents.presenceBodyPrefix(joined: true, channel: "général", nickname: "ann")
        let notice = QuietNotice.notice(id: "5-2", bodyPrefix: prefix, count: 2481)
        #expect(QuietNotice.isQuiet(notice))
        let text = String(decoding: notice, as: UTF8.self)
        #expect(text.hasPrefix("{\"id\":\"5-2\",\"ts\":5,\"type\":\"system\",\"event\":\"join\""))
        #expect(text.hasSuffix("\"count\":2481,\"quiet\":true}"))
        let id = try #require(notice.withUnsafeBytes { QuietNotice.id($0) })
        #expect(id == StreamID("5-2"))
        #expect(notice.withUnsafeBytes { ServerEvents.isQuietBody($0) })
    }

    @Test(
        "other events are not quiet",
        arguments: [
            "", "}", "\"quiet\":true", "{\"id\":\"1-0\",\"quiet\":false}",
            "{\"id\":\"1-0\",\"ts\":1,\"type\":\"message\",\"message\":\"\\\"quiet\\\":true}\"}",
        ])
    func notQuiet(text: String) {
        #expect(!QuietNotice.isQuiet(Array(text.utf8)))
        #expect(Array(text.utf8).withUnsafeBytes { QuietNotice.id($0) } == nil)
    }
}
