"""What a hostile client tried and must not get: each test is one attack that worked
once (issue "Safe to put on the internet"), with the bound that now holds
(docs/OPERATIONS.md, "Limits and abuse")."""
import asyncio

from harness import API_KEY, ChatServer, Client, RedisServer, http, run, unique


def redis_output_bytes(redis: RedisServer) -> int:
    """Bytes Redis has sent to all its clients so far."""
    for line in redis.cli("INFO", "stats").splitlines():
        if line.startswith("total_net_output_bytes:"):
            return int(line.split(":")[1])
    raise AssertionError("no total_net_output_bytes in INFO stats")


def test_history_reads_are_bounded_inside_redis():
    """A channel of big messages (control characters store as six bytes each): a
    history request or a join with history makes Redis send no more than the answer
    can hold, not every entry the count allows (it built 12 MB for a 1 MB answer)."""
    redis = RedisServer()
    limit = 65_536
    server = ChatServer(redis, "bounded-reads", env={"OUTPUT_BUFFER_LIMIT": str(limit), "API_KEY": API_KEY, "RATE_LIMIT": "0"})
    channel = unique()
    try:
        text = "\x01" * 1_300  # ~7.8 KB as stored
        for k in range(120):  # ~940 KB of history, 14 times the limit
            assert http(server, "POST", "/api/publish", {"channel": channel, "message": f"{k}{text}"}, key=API_KEY)[0] == 200

        before = redis_output_bytes(redis)
        status, h = http(server, "GET", f"/api/channels/{channel}/history?limit=1000")
        sent = redis_output_bytes(redis) - before
        assert status == 200 and h["truncated"] is True and 4 <= len(h["messages"]) <= 9
        assert sent < 2 * limit, sent

        async def body():
            c = await Client.connect(f"{server.url}/ws?nickname=reader")
            await c.expect("welcome")
            before = redis_output_bytes(redis)
            j = await c.join(channel, history=500)
            sent = redis_output_bytes(redis) - before
            assert 2 <= j["replayed"] <= 5 and sent < limit, (j["replayed"], sent)  # half the limit for a replay
            await c.close()

        run(body())
    finally:
        server.stop()
        redis.stop()


def test_an_established_channel_cannot_be_claimed_while_it_is_empty(instances):
    """Only a channel that never existed is protected by its first joiner's password: an
    established one that is empty for a moment stays public, its history too."""
    a, b = instances
    channel = unique("public")

    async def body():
        alice = await Client.connect(f"{a.url}/ws?nickname=alice")
        await alice.expect("welcome")
        await alice.join(channel)
        await alice.send({"op": "send", "channel": channel, "message": "public words"})
        await alice.expect("message", message="public words")
        await alice.send({"op": "leave", "channel": channel})
        await alice.expect("left", channel=channel)
        mallory = await Client.connect(f"{b.url}/ws?nickname=mallory")
        await mallory.expect("welcome")
        j = await mallory.join(channel, password="mine now")
        assert j["protected"] is False
        bob = await Client.connect(f"{a.url}/ws?nickname=bob")
        await bob.expect("welcome")
        j = await bob.join(channel)
        assert j["protected"] is False and j["count"] == 2
        status, h = http(a, "GET", f"/api/channels/{channel}/history")
        assert status == 200 and any(e.get("message") == "public words" for e in h["messages"])
        # A channel that never existed is still claimed by its first joiner.
        fresh = unique("fresh")
        j = await mallory.join(fresh, password="mine")
        assert j["protected"] is True
        await bob.send({"op": "join", "channel": fresh})
        assert (await bob.expect("error", channel=fresh))["code"] == "wrong_password"
        for c in (alice, mallory, bob):
            await c.close()

    run(body())


def test_since_on_a_brand_new_channel_is_not_truncated(instances):
    """A resume (`since`) on a channel whose history never lost anything gets no
    history_truncated: nothing was trimmed."""
    a, _ = instances
    channel = unique("new")

    async def body():
        c = await Client.connect(f"{a.url}/ws?nickname=resumer")
        await c.expect("welcome")
        await c.send({"op": "join", "channel": channel, "since": "1700000000000-0"})
        j = await c.expect("joined")
        assert j["replayed"] == 0
        nxt = await c.recv()
        assert nxt.get("event") == "join" and nxt.get("nickname") == "resumer", nxt
        await c.close()

    run(body())
