import Testing

@testable import ChatCore

@Suite("Accepting sockets: the socket limit and the per-address handshake bound")
struct AcceptPolicyTests {
    @Test("under the limit there is room; at it the oldest handshake is evicted, a few a turn")
    func room() {
        var policy = AcceptPolicy(socketLimit: 10, evictionsPerTurn: 2)
        #expect(policy.room(sockets: 9) == .free)
        #expect(policy.room(sockets: 10) == .evictOldest)
        policy.evicted()
        #expect(policy.room(sockets: 10) == .evictOldest)
        policy.evicted()
        #expect(policy.room(sockets: 10) == .refuse)
        #expect(policy.room(sockets: 3) == .free)  // room again without evicting
        policy.turnStarted()
        #expect(policy.room(sockets: 12) == .evictOldest)
    }

    @Test("an address holds a bounded number of handshakes; a trusted proxy is not held to it")
    func perAddress() {
        var addresses = AddressLimits(maxHandshakes: 2, maxWebSockets: 0)
        #expect(
            AcceptPolicy.admit(trustedProxy: false, addresses: &addresses, key: "a") == .admit(countsHandshake: true))
        #expect(
            AcceptPolicy.admit(trustedProxy: false, addresses: &addresses, key: "a") == .admit(countsHandshake: true))
        #expect(AcceptPolicy.admit(trustedProxy: false, addresses: &addresses, key: "a") == .refuse)
        #expect(
            AcceptPolicy.admit(trustedProxy: false, addresses: &addresses, key: "b") == .admit(countsHandshake: true))
        #expect(
            AcceptPolicy.admit(trustedProxy: true, addresses: &addresses, key: "a") == .admit(countsHandshake: false))
        addresses.handshakeDone("a")
        #expect(
            AcceptPolicy.admit(trustedProxy: false, addresses: &addresses, key: "a") == .admit(countsHandshake: true))
    }
}
