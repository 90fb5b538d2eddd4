import Testing

@testable import ChatCore

@Suite("HTTP API: routing and authorization")
struct APIRoutingTests {
    let keyed = APIRouting(apiKey: "s3cret", rateLimit: 2)

    func route(
        _ request: HTTPRequest, _ routing: APIRouting? = nil, congested: Bool = false,
        buckets: inout AddressBuckets, now: UInt64 = 1_000
    ) -> Result<APIOperation, APIError> {
        (routing ?? keyed).route(request, congested: congested, buckets: &buckets, clientKey: "10.0.0.1", now: now)
    }

    func route(
        _ request: HTTPRequest, _ routing: APIRouting? = nil, congested: Bool = false
    ) -> Result<APIOperation, APIError> {
        var buckets = AddressBuckets(rate: 1_000, capacity: 1_000)
        return route(request, routing, congested: congested, buckets: &buckets)
    }

    @Test("paths and methods map to operations, with the channel name checked")
    func operations() {
        let auth = ["Authorization: Bearer s3cret"]
        #expect(route(parsedRequest("GET", "/api/channels")) == .success(.listChannels))
        #expect(route(parsedRequest("GET", "/api/channels/general/members")) == .success(.members(channel: "general")))
        #expect(
            route(parsedRequest("GET", "/api/channels/general/history?limit=5"))
                == .success(.history(channel: "general")))
        #expect(
            route(parsedRequest("PUT", "/api/channels/general", auth)) == .success(.setPassword(channel: "general")))
        #expect(route(parsedRequest("POST", "/api/publish", auth)) == .success(.publish))
        #expect(route(parsedRequest("POST", "/api/broadcast", auth)) == .success(.broadcast))
        guard case .failure(let bad) = route(parsedRequest("GET", "/api/channels/%20/members")) else {
            Issue.record("an empty channel name was accepted")
            return
        }
        #expect(bad.status == 400 && bad.code == "invalid_channel")
    }

    @Test("wrong methods get 405 with Allow; unknown paths 404")
    func methods() {
        #expect(
            route(parsedRequest("POST", "/api/channels"))
                == .failure(
                    APIError(
                        405, "method_not_allowed", "use GET",
                        headers: [HTTPHeader("Allow", "GET")])))
        #expect(
            route(parsedRequest("GET", "/api/channels/x"))
                == .failure(
                    APIError(
                        405, "method_not_allowed", "use PUT",
                        headers: [HTTPHeader("Allow", "PUT")])))
        #expect(
            route(parsedRequest("GET", "/api/publish"))
                == .failure(
                    APIError(
                        405, "method_not_allowed", "use POST",
                        headers: [HTTPHeader("Allow", "POST")])))
        #expect(
            route(parsedRequest("GET", "/api/nothing"))
                == .failure(APIError(404, "not_found", "no such API path: /api/nothing")))
    }

    @Test("writes need the key: 401 without it, 403 when the server has none; the scheme is case-blind, the key is not")
    func authorization() {
        #expect(
            route(parsedRequest("POST", "/api/publish"))
                == .failure(
                    APIError(
                        401, "unauthorized", "send Authorization: Bearer <API_KEY>",
                        headers: [HTTPHeader("WWW-Authenticate", "Bearer")])))
        #expect(
            route(parsedRequest("POST", "/api/publish", ["Authorization: Bearer S3CRET"])).map { _ in 0 } != .success(0)
        )
        #expect(route(parsedRequest("POST", "/api/publish", ["Authorization: bEaReR s3cret"])) == .success(.publish))
        #expect(
            route(parsedRequest("POST", "/api/publish", ["Authorization: Bearer s3cre"])).map { _ in 0 } != .success(0))
        let open = APIRouting(apiKey: "", rateLimit: 0)
        #expect(
            route(parsedRequest("PUT", "/api/channels/x", ["Authorization: Bearer "]), open)
                == .failure(APIError(403, "api_disabled", "this server has no API_KEY: the write API is off")))
        // Authorization before the channel name: no probing of names without the key.
        guard case .failure(let e) = route(parsedRequest("PUT", "/api/channels/%20")) else {
            Issue.record("accepted")
            return
        }
        #expect(e.status == 401)
    }

    @Test("the rate limit counts callers without the key only; backpressure answers 503 busy")
    func limits() {
        var buckets = AddressBuckets(rate: 2, capacity: 4)
        var statuses: [Int] = []
        for _ in 0..<5 {
            switch route(parsedRequest("GET", "/api/channels"), buckets: &buckets) {
            case .success: statuses.append(200)
            case .failure(let e): statuses.append(e.status)
            }
        }
        #expect(statuses == [200, 200, 200, 200, 429])
        #expect(
            route(parsedRequest("GET", "/api/channels", ["Authorization: Bearer s3cret"]), buckets: &buckets)
                == .success(.listChannels))
        #expect(
            route(parsedRequest("GET", "/api/channels"), congested: true)
                == .failure(
                    APIError(
                        503, "busy", "the server is catching up with chat storage, try again shortly",
                        headers: [HTTPHeader("Retry-After", "1")])))
    }
}

@Suite("HTTP API: request validation")
struct APIRequestsTests {
    func body(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test("limit: default, range, and the message naming the range")
    func limits() {
        #expect(APIRequests.channelList(parsedRequest("GET", "/api/channels")) == .success(100))
        #expect(APIRequests.channelList(parsedRequest("GET", "/api/channels?limit=10000")) == .success(10_000))
        #expect(
            APIRequests.channelList(parsedRequest("GET", "/api/channels?limit=10001"))
                == .failure(APIError(400, "bad_request", "limit must be from 1 to 10000")))
        #expect(
            APIRequests.channelList(parsedRequest("GET", "/api/channels?limit=0"))
                == .failure(APIError(400, "bad_request", "limit must be from 1 to 10000")))
        #expect(
            APIRequests.channelList(parsedRequest("GET", "/api/channels?limit=x"))
                == .failure(APIError(400, "bad_request", "limit must be from 1 to 10000")))
    }

    @Test("members: limit up to 1000, cursor of digits")
    func members() {
        #expect(APIRequests.members(parsedRequest("GET", "/m")) == .success(.init(limit: 1_000, cursor: "0")))
        #expect(
            APIRequests.members(parsedRequest("GET", "/m?limit=5&cursor=123"))
                == .success(.init(limit: 5, cursor: "123")))
        #expect(
            APIRequests.members(parsedRequest("GET", "/m?cursor=18446744073709551615"))
                == .success(.init(limit: 1_000, cursor: "18446744073709551615")))
        // 2^64 and more: digits Redis's HSCAN refuses (it would answer 503).
        for bad in ["", "-1", "12a", String(repeating: "9", count: 21), "18446744073709551616", "99999999999999999999"]
        {
            #expect(
                APIRequests.members(parsedRequest("GET", "/m?cursor=\(bad)"))
                    == .failure(APIError(400, "bad_request", "cursor must be the cursor of a previous answer")))
        }
        #expect(
            APIRequests.members(parsedRequest("GET", "/m?limit=1001"))
                == .failure(APIError(400, "bad_request", "limit must be from 1 to 1000")))
    }

    @Test("history: since or before (not both), ids that can read something")
    func history() {
        #expect(APIRequests.history(parsedRequest("GET", "/h")) == .success(.init(limit: 100, since: nil, before: nil)))
        #expect(
            APIRequests.history(parsedRequest("GET", "/h?since=5-1&limit=3"))
                == .success(.init(limit: 3, since: StreamID(milliseconds: 5, sequence: 1), before: nil)))
        #expect(
            APIRequests.history(parsedRequest("GET", "/h?since=1-0&before=2-0"))
                == .failure(APIError(400, "bad_request", "give since or before, not both")))
        let idError = APIError(
            400, "bad_request", "since and before must be message ids like 1700000000000-0 (before above 0-0)")
        #expect(APIRequests.history(parsedRequest("GET", "/h?since=abc")) == .failure(idError))
        #expect(APIRequests.history(parsedRequest("GET", "/h?before=0-0")) == .failure(idError))
        #expect(
            APIRequests.history(parsedRequest("GET", "/h?since=18446744073709551615-18446744073709551615"))
                == .failure(idError))
    }

    @Test("bodies: UTF-8, one JSON object, the last of a repeated member")
    func bodies() {
        #expect(
            APIRequests.body([0x7B, 0xFF, 0x7D]) == .failure(APIError(400, "bad_json", "the body is not valid UTF-8")))
        guard case .failure(let e) = APIRequests.body(body("[1]")) else {
            Issue.record("an array was accepted")
            return
        }
        #expect(e.code == "bad_json" && e.message.hasPrefix("the body must be a JSON object: "))
        #expect(APIRequests.body(body(#"{"a":"1","a":"2"}"#)) == .success(["a": .string("2")]))
    }

    @Test("publish: message within the limits, sender by nickname syntax (reserved names allowed), a valid channel")
    func publish() {
        let limits = ProtocolLimits(maxMessageLength: 5, maxMessageBytes: 100)
        #expect(
            APIRequests.publish(body(#"{"channel":"general","message":"hi"}"#), toEveryone: false, limits: limits)
                == .success(.init(text: "hi", sender: "System", channel: "general")))
        #expect(
            APIRequests.publish(body(#"{"message":"hi","sender":"  Admin "}"#), toEveryone: true, limits: limits)
                == .success(.init(text: "hi", sender: "Admin", channel: nil)))
        #expect(
            APIRequests.publish(body(#"{"message":"hi","sender":null}"#), toEveryone: true, limits: limits)
                == .success(.init(text: "hi", sender: "System", channel: nil)))
        #expect(
            APIRequests.publish(body(#"{"message":1}"#), toEveryone: true, limits: limits)
                == .failure(APIError(400, "bad_request", "\"message\" must be a string")))
        #expect(
            APIRequests.publish(body(#"{"message":"toolong"}"#), toEveryone: true, limits: limits)
                == .failure(APIError(400, "message_too_long", "message is longer than 5 characters")))
        #expect(
            APIRequests.publish(body(#"{"message":"hi","sender":3}"#), toEveryone: true, limits: limits)
                == .failure(APIError(400, "bad_request", "\"sender\" must be a string")))
        guard
            case .failure(let e) = APIRequests.publish(
                body(#"{"message":"hi","sender":""}"#), toEveryone: true, limits: limits)
        else {
            Issue.record("an empty sender was accepted")
            return
        }
        #expect(e.code == "invalid_nickname")
        #expect(
            APIRequests.publish(body(#"{"message":"hi"}"#), toEveryone: false, limits: limits)
                == .failure(APIError(400, "bad_request", "\"channel\" must be a string")))
        #expect(
            APIRequests.publish(body(#"{"message":"hi","channel":" "}"#), toEveryone: false, limits: limits)
                == .failure(APIError(400, "invalid_channel", "invalid channel name")))
    }

    @Test("password: a string of 1 to 128 characters without NUL, or null to open the channel")
    func password() {
        #expect(APIRequests.password(body(#"{"password":"pw"}"#)) == .success("pw"))
        #expect(APIRequests.password(body(#"{"password":null}"#)) == .success(nil))
        #expect(
            APIRequests.password(body("{\"password\":\"\(String(repeating: "é", count: 128))\"}"))
                == .success(String(repeating: "é", count: 128)))
        let wrong = APIError(400, "bad_request", "\"password\" must be a string of 1 to 128 characters, or null")
        for bad in [
            #"{"password":""}"#, #"{}"#, #"{"password":1}"#, #"{"password":"a\u0000b"}"#,
            "{\"password\":\"\(String(repeating: "x", count: 129))\"}",
        ] {
            #expect(APIRequests.password(body(bad)) == .failure(wrong))
        }
    }
}
