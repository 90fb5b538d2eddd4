import Testing

@testable import ChatCore

@Suite("Rate limiting and origins")
struct LimitsTests {
    @Test("a token bucket allows its capacity at once, then its rate")
    func tokenBucket() {
        var bucket = TokenBucket(rate: 10, capacity: 3, now: 1_000)
        var taken: [Bool] = []
        for now: UInt64 in [1_000, 1_000, 1_000, 1_000, 1_050, 1_100, 1_100] { taken.append(bucket.take(now: now)) }
        // Three at once, then half a token is not enough, then one per 100 ms.
        #expect(taken == [true, true, true, false, false, true, false])
        var later: [Bool] = []
        for now: UInt64 in [60_000, 60_000, 60_000, 60_000, 59_000] { later.append(bucket.take(now: now)) }
        // It refills only to capacity, and time going backwards adds nothing.
        #expect(later == [true, true, true, false, false])
    }

    @Test("the limiter refuses over-limit messages and calls sustained excess flooding")
    func limiter() {
        var limiter = MessageRateLimiter(rate: 10, burst: 5, now: 0)
        var verdicts: [MessageRateLimiter.Verdict] = []
        for _ in 0..<11 { verdicts.append(limiter.check(now: 0)) }
        // Five allowed, then five refusals use up the patience; the next one is flooding.
        #expect(verdicts == Array(repeating: .allow, count: 5) + Array(repeating: .refuse, count: 5) + [.flooding])
    }

    @Test("a client at the rate is never refused; at twice the rate it is cut off after a while")
    func limiterOverTime() {
        var steady = MessageRateLimiter(rate: 10, burst: 5, now: 0)
        var steadyVerdicts: Set<MessageRateLimiter.Verdict> = []
        for k in 1...1_000 { steadyVerdicts.insert(steady.check(now: UInt64(k) * 100)) }
        #expect(steadyVerdicts == [.allow])
        var fast = MessageRateLimiter(rate: 10, burst: 5, now: 0)
        var verdicts: [MessageRateLimiter.Verdict] = []
        for k in 1...400 {
            let v = fast.check(now: UInt64(k) * 50)
            verdicts.append(v)
            if v == .flooding { break }
        }
        #expect(verdicts.contains(.refuse))
        #expect(verdicts.last == .flooding)
        // About 4 × burst / rate = 2 s of overshoot at 20 messages per second.
        #expect(verdicts.count > 20 && verdicts.count < 100)
    }

    @Test("origin allowlist: empty allows all; exact, wildcard and * entries; no Origin header passes")
    func origins() {
        #expect(OriginPolicy("")!.allows("https://anything.example"))
        #expect(OriginPolicy("")!.allowsEverything)
        let p = OriginPolicy(" https://Chat.Example.com ,https://*.example.org, http://localhost:8080")!
        #expect(p.allows(nil))
        #expect(p.allows("https://chat.example.com"))
        #expect(p.allows("HTTPS://CHAT.EXAMPLE.COM"))
        #expect(p.allows("http://localhost:8080"))
        #expect(p.allows("https://a.example.org"))
        #expect(p.allows("https://a.b.example.org"))
        #expect(!p.allows("https://example.org"))  // a wildcard needs a subdomain
        #expect(!p.allows("http://a.example.org"))  // scheme matters
        #expect(!p.allows("https://chat.example.com.evil.net"))
        #expect(!p.allows("https://evilexample.org"))
        #expect(!p.allows("http://localhost:8081"))
        #expect(!p.allows("null"))
        #expect(OriginPolicy("https://a.example, *")!.allows("https://other"))
        for bad in ["ftp://x", "chat.example.com", "https://", "https://x/", "https//x"] {
            #expect(OriginPolicy(bad) == nil, "\(bad)")
        }
    }
}

@Suite("Prometheus text")
struct PrometheusTests {
    @Test("counters, labelled counters, gauges and histograms in exposition format")
    func exposition() {
        var h = Histogram(bounds: [0.001, 0.01, 0.1])
        for v in [0.0005, 0.002, 0.002, 0.5] { h.observe(v) }
        var w = PrometheusWriter()
        w.counter("a_total", "A things.", 3)
        w.counters("b_total", "B things.", label: "reason", [("x", 1), ("quo\"te", 2)])
        w.gauge("c", "C now.", 1.5)
        w.histogram("d_seconds", "D time.", h)
        #expect(
            w.text == """
                # HELP a_total A things.
                # TYPE a_total counter
                a_total 3
                # HELP b_total B things.
                # TYPE b_total counter
                b_total{reason="x"} 1
                b_total{reason="quo\\"te"} 2
                # HELP c C now.
                # TYPE c gauge
                c 1.5
                # HELP d_seconds D time.
                # TYPE d_seconds histogram
                d_seconds_bucket{le="0.001"} 1
                d_seconds_bucket{le="0.01"} 3
                d_seconds_bucket{le="0.1"} 3
                d_seconds_bucket{le="+Inf"} 4
                d_seconds_sum 0.5045
                d_seconds_count 4

                """)
    }
}

@Suite("Limits per client address")
struct AddressBucketsTests {
    @Test("a bucket's cost may be bytes: a big item goes from a full bucket and the next waits for the refill")
    func cost() {
        var bucket = TokenBucket(rate: 1_000, capacity: 4_000, now: 0)
        let r1 = bucket.take(3_000, now: 0)
        #expect(r1)
        let r2 = !bucket.take(3_000, now: 0)
        #expect(r2)
        let r3 = bucket.take(3_000, now: 2_000)  // refilled to the capacity
        #expect(r3)
        let r4 = bucket.take(10_000, now: 10_000)  // over the capacity: allowed when full, then owed
        #expect(r4)
        let r5 = !bucket.take(1, now: 15_000)
        #expect(r5)
        let r6 = bucket.take(1, now: 20_000)
        #expect(r6)
    }

    @Test("each address has its own allowance, and IPv6 counts by its /64")
    func perAddress() {
        var b = AddressBuckets(rate: 1, capacity: 2)
        let r7 = b.take("10.0.0.1", now: 0) && b.take("10.0.0.1", now: 0)
        #expect(r7)
        let r8 = !b.take("10.0.0.1", now: 0)
        #expect(r8)
        let r9 = b.take("10.0.0.2", now: 0)
        #expect(r9)
        let r10 = b.take("2001:db8:1:2::1", now: 0) && b.take("2001:db8:1:2:ffff::9", now: 0)
        #expect(r10)
        let r11 = !b.take("2001:db8:1:2:0:0:0:7", now: 0)  // the same /64
        #expect(r11)
        let r12 = b.take("2001:db8:1:3::1", now: 0)
        #expect(r12)
        #expect(AddressBuckets.key("::ffff:192.0.2.7") == "192.0.2.7")
        #expect(AddressBuckets.key("::1") == "0:0:0:0::/64")
        let r13 = b.take("10.0.0.1", now: 1_000)  // refilled by the rate
        #expect(r13)
    }

    @Test("the table is bounded: idle addresses are forgotten first, busy ones keep their debt")
    func bounded() {
        var b = AddressBuckets(rate: 1, capacity: 1, maxEntries: 4)
        let r14 = b.take("busy", now: 0)
        #expect(r14)
        for k in 0..<3 { _ = b.take("idle\(k)", now: 0) }
        #expect(b.count == 4)
        let r15 = b.take("new", cost: 0, now: 500)  // every bucket is still refilling: all are forgotten
        #expect(r15)
        #expect(b.count == 1)
        var c = AddressBuckets(rate: 1, capacity: 1, maxEntries: 4)
        let r16 = c.take("busy", now: 0)
        #expect(r16)
        for k in 0..<3 { _ = c.take("idle\(k)", cost: 0, now: 0) }
        let r17 = c.take("new", now: 0)  // the idle ones go, the busy one stays
        #expect(r17)
        let r18 = c.count == 2 && !c.take("busy", now: 0)
        #expect(r18)
    }
}

@Suite("Messages counted as stored")
struct StoredSizeTests {
    @Test("a message's stored size is its JSON-escaped UTF-8: control characters six bytes, quotes and backslashes two")
    func escapedLength() {
        var out: [UInt8] = []
        for text in ["plain", "\u{1}\u{2}", "a\"b\\c\n", "é😀", ""] {
            out.removeAll()
            JSONWriter.appendString(text, to: &out)
            #expect(JSONWriter.escapedLength(text) == out.count - 2, "\(text.debugDescription)")
        }
        #expect(JSONWriter.escapedLength(String(repeating: "\u{1}", count: 1_400)) == 8_400)
    }

    @Test("the message check refuses what is too big as stored even when it is short in characters")
    func check() {
        let limits = ProtocolLimits(maxMessageLength: 2_000, maxMessageBytes: 8_192)
        #expect(limits.check("hello") == nil)
        #expect(limits.check("   ")?.0 == .emptyMessage)
        #expect(limits.check(String(repeating: "x", count: 2_001))?.0 == .messageTooLong)
        #expect(limits.check(String(repeating: "\u{1}", count: 1_400))?.0 == .messageTooLong)
        #expect(limits.check(String(repeating: "😀", count: 2_000)) == nil)  // 8,000 bytes
    }

    @Test("the byte allowance refuses past its burst, refills at its rate, and is off at 0")
    func bytes() {
        var limiter = MessageRateLimiter(rate: 100, burst: 100, bytesPerSecond: 1_000, now: 0)
        var allowed = 0
        for _ in 0..<10 { if limiter.admitBytes(2_000, now: 0) { allowed += 1 } }
        #expect(allowed == 4)  // 8,000 bytes of burst
        let later = limiter.admitBytes(2_000, now: 2_000)
        #expect(later)
        var unlimited = MessageRateLimiter(rate: 100, burst: 100, now: 0)
        var all = 0
        for _ in 0..<10 { if unlimited.admitBytes(1_000_000, now: 0) { all += 1 } }
        #expect(all == 10)
    }
}

@Suite("Connections per address and trusted proxies")
struct AddressLimitsTests {
    @Test("each address holds its own handshakes and WebSockets; an address's entry goes with its last connection")
    func limits() {
        var l = AddressLimits(maxHandshakes: 2, maxWebSockets: 1)
        let a1 = l.admitHandshake("a")
        let a2 = l.admitHandshake("a")
        let a3 = l.admitHandshake("a")
        let b1 = l.admitHandshake("b")
        #expect(a1 && a2 && !a3 && b1)
        l.handshakeDone("a")
        let a4 = l.admitHandshake("a")
        #expect(a4)
        let w1 = l.admitWebSocket("a")
        let w2 = l.admitWebSocket("a")
        #expect(w1 && !w2)
        l.webSocketClosed("a")
        l.handshakeDone("a")
        l.handshakeDone("a")
        l.handshakeDone("b")
        #expect(l.addresses == 0)
        var open = AddressLimits(maxHandshakes: 0, maxWebSockets: 0)  // 0: no limit
        var all = true
        for _ in 0..<1_000 { all = all && open.admitHandshake("a") && open.admitWebSocket("a") }
        #expect(all)
    }

    @Test("addresses and CIDR ranges, IPv4 and IPv6; bad entries are refused")
    func parsing() throws {
        let p = try #require(ProxyPolicy("10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,::1"))
        #expect(p.trusts("10.1.2.3") && p.trusts("192.0.2.7") && p.trusts("2001:db8:ff::1") && p.trusts("::1"))
        #expect(
            !p.trusts("11.0.0.1") && !p.trusts("192.0.2.8") && !p.trusts("2001:db9::1") && !p.trusts("::2")
                && !p.trusts("garbage"))
        for bad in ["10.0.0.0/33", "300.1.1.1", "host.example", "1.2.3", "::1::2", "1:2:3:4:5:6:7:8:9", "10.0.0.1/x"] {
            #expect(ProxyPolicy(bad) == nil, "\(bad)")
        }
        #expect(ProxyPolicy("")?.isEmpty == true)
    }

    @Test("the client is the rightmost forwarded address that is not a trusted proxy; others' headers are ignored")
    func clientAddress() throws {
        let p = try #require(ProxyPolicy("10.0.0.0/8"))
        #expect(p.clientAddress(peer: "10.0.0.5", forwardedFor: ["203.0.113.9"]) == "203.0.113.9")
        // A forged first hop stays out.
        #expect(p.clientAddress(peer: "10.0.0.5", forwardedFor: ["1.1.1.1, 203.0.113.9, 10.0.0.6"]) == "203.0.113.9")
        // Several headers, in order.
        #expect(p.clientAddress(peer: "10.0.0.5", forwardedFor: ["1.1.1.1", "203.0.113.9"]) == "203.0.113.9")
        #expect(p.clientAddress(peer: "10.0.0.5", forwardedFor: []) == "10.0.0.5")
        #expect(p.clientAddress(peer: "10.0.0.5", forwardedFor: ["nonsense"]) == "10.0.0.5")
        #expect(p.clientAddress(peer: "198.51.100.1", forwardedFor: ["203.0.113.9"]) == "198.51.100.1")  // not a proxy
        // One spelling per client: leading zeros, ports and IPv6 case do not make it several.
        #expect(p.clientAddress(peer: "10.0.0.5", forwardedFor: ["203.000.113.009"]) == "203.0.113.9")
        #expect(p.clientAddress(peer: "10.0.0.5", forwardedFor: ["203.0.113.9:5678"]) == "203.0.113.9")
        #expect(p.clientAddress(peer: "10.0.0.5", forwardedFor: ["[2001:DB8::1]:443"]) == "2001:db8:0:0:0:0:0:1")
    }
}
