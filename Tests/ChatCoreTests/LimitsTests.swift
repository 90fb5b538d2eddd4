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
        #expect(w.text == """
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
