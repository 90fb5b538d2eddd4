"""What a hostile client tried and must not get: each test is one attack that worked
once (issue "Safe to put on the internet"), with the bound that now holds
(docs/OPERATIONS.md, "Limits and abuse")."""
from harness import API_KEY, ChatServer, Client, RedisServer, http, metrics, run, unique


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


def test_mass_disconnect_leaves_no_ghosts(redis):
    """2,500 connections in the same 50 channels drop at once (a load balancer
    restart): 125,000 leaves, far past what may be in flight to Redis. None is dropped:
    every count comes back to zero and every nickname is free again."""
    import base64
    import os
    import selectors
    import socket
    import struct
    import time

    from harness import masked_text_frame, wait_until

    conns, chans = 2_500, 50
    server = ChatServer(redis, "mass-drop", env={"RATE_LIMIT": "0", "PRESENCE_NOTICE_LIMIT": "1", "MEMBER_LIST_LIMIT": "0",
                                                 "MAX_CONNECTIONS_PER_ADDRESS": "10000", "MAX_HANDSHAKES_PER_ADDRESS": "10000"})
    prefix = unique("mass")
    channels = [f"{prefix}-{k}" for k in range(chans)]
    members_keys = [f"chat:{{{c}}}:members" for c in channels]
    nick_keys = [f"chat:{{{c}}}:nicknames" for c in channels]
    total_script = "local n = 0 for i = 1, #KEYS do n = n + redis.call('HLEN', KEYS[i]) end return n"

    def total(keys):
        return int(redis.cli("EVAL", total_script, str(len(keys)), *keys) or -1)

    sel = selectors.DefaultSelector()
    socks = []
    joins = b"".join(masked_text_frame(('{"op":"join","channel":"%s"}' % c).encode()) for c in channels)
    try:
        for k in range(conns):
            s = socket.create_connection(("127.0.0.1", server.port))
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall((f"GET /ws?nickname=m{k} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode() + joins)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            socks.append(s)

        def drain_until(predicate, timeout):
            # Reads (and drops) what the server sends, so that nobody is a slow consumer.
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for key, _ in sel.select(0.2):
                    try:
                        key.fileobj.recv(1 << 20)
                    except (BlockingIOError, ConnectionError):
                        pass
                if predicate():
                    return
            raise AssertionError("timed out")

        last = [0.0]

        def all_joined():
            if time.monotonic() - last[0] < 0.5:
                return False
            last[0] = time.monotonic()
            return total(members_keys) == conns * chans

        drain_until(all_joined, 240)
        for s in socks:  # all at once, with a reset, as a dropped load balancer would
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sel.unregister(s)
            s.close()
        socks.clear()
        wait_until(lambda: total(members_keys) == 0, timeout=240, interval=0.5, what="every membership removed")
        assert total(nick_keys) == 0
        # The directory follows the leave scripts' replies (written outside the per-channel
        # scripts since issue 15), a moment after the members are gone.
        wait_until(lambda: all(redis.cli("ZSCORE", "chat:channels", c) == "" for c in channels), timeout=30, interval=0.5,
                   what="every channel out of the directory")
        assert server.health()[0] == 200
        m = metrics(server)
        assert m["chat_redis_congestions_total"] >= 1 and m["chat_leaves_waiting"] == 0

        async def body():  # every nickname is free again
            c = await Client.connect(f"{server.url}/ws?nickname=m7")
            await c.expect("welcome")
            j = await c.join(channels[3])
            assert j["count"] == 1
            await c.close()

        run(body())
    finally:
        for s in socks:
            s.close()
        sel.close()
        server.stop()


def test_history_reads_are_capped_per_process_and_per_address():
    """History reads running in Redis are bounded: past HISTORY_READS an HTTP history
    request gets 503 and a join with history waits its turn (and then gets its
    replay); past two at once from one address, 429. API requests without the key are
    rate-limited per address (API_RATE_LIMIT)."""
    import threading

    from harness import wait_until
    redis = RedisServer()
    env = {"API_KEY": API_KEY, "RATE_LIMIT": "0", "REDIS_TIMEOUT": "60", "API_RATE_LIMIT": "0"}
    one = ChatServer(redis, "one-read", env={**env, "HISTORY_READS": "1"})
    many = ChatServer(redis, "many-reads", env={**env, "HISTORY_READS": "10"})
    limited = ChatServer(redis, "api-limited", env={**env, "API_RATE_LIMIT": "2"})
    channel = unique()
    answers = []
    threads = []

    def read_in_background(server):
        t = threading.Thread(target=lambda: answers.append(http(server, "GET", f"/api/channels/{channel}/history")[0]))
        t.start()
        threads.append(t)

    def reads(server):
        return metrics(server)["chat_history_reads"]

    try:
        assert http(one, "POST", "/api/publish", {"channel": channel, "message": "kept"}, key=API_KEY)[0] == 200

        async def body():
            c = await Client.connect(f"{one.url}/ws?nickname=waiter")
            await c.expect("welcome")
            redis.stall()
            try:
                read_in_background(one)
                wait_until(lambda: reads(one) == 1, what="the only read slot taken")
                status, r = http(one, "GET", f"/api/channels/{channel}/history")
                assert status == 503 and r["error"] == "busy"
                await c.send({"op": "join", "channel": channel, "history": 10})  # waits for the slot
                read_in_background(many)
                read_in_background(many)
                wait_until(lambda: reads(many) == 2, what="two reads from one address")
                status, r = http(many, "GET", f"/api/channels/{channel}/history")
                assert status == 429 and r["error"] == "too_many_requests"
            finally:
                redis.resume()
            j = await c.expect("joined", timeout=15)
            assert j["replayed"] == 1
            kept = await c.recv()
            assert kept["message"] == "kept" and kept["replay"] is True
            for t in threads:
                t.join(15)
            assert sorted(answers) == [200, 200, 200]
            assert reads(one) == 0 and reads(many) == 0
            await c.close()

        run(body())
        codes = [http(limited, "GET", f"/api/channels/{channel}/history")[0] for _ in range(12)]
        assert codes[:4] == [200] * 4 and 429 in codes  # bursts of twice the rate, then refused
        assert http(limited, "GET", f"/api/channels/{channel}/history", key=API_KEY)[0] == 200  # the key is not limited
    finally:
        redis.resume()
        for s in (one, many, limited):
            s.stop()
        redis.stop()


def test_broadcast_is_off_and_messages_are_limited_in_bytes_as_stored(redis):
    """Anonymous broadcast is off by default (the API key broadcasts); a message's size
    counts as stored (a control character is six bytes), and RATE_LIMIT_BYTES bounds
    the bytes a connection sends a second, whatever its message count."""
    import time
    server = ChatServer(redis, "byte-limits", env={"RATE_LIMIT_BYTES": "1000", "API_KEY": API_KEY})
    channel = unique()

    async def body():
        c = await Client.connect(f"{server.url}/ws?nickname=loud")
        await c.expect("welcome")
        await c.send({"op": "broadcast", "message": "hello everyone", "ref": 1})
        e = await c.expect("error", ref=1)
        assert e["code"] == "forbidden"
        assert http(server, "POST", "/api/broadcast", {"message": "from the backend"}, key=API_KEY)[0] == 200
        await c.expect("broadcast", message="from the backend")
        await c.join(channel)
        await c.send({"op": "send", "channel": channel, "message": "\x01" * 1_400, "ref": 2})  # 1,400 characters, 8,400 bytes stored
        e = await c.expect("error", ref=2)
        assert e["code"] == "message_too_long" and "bytes" in e["message"]
        status, r = http(server, "POST", "/api/publish", {"channel": channel, "message": "\x01" * 1_400}, key=API_KEY)
        assert status == 400 and r["error"] == "message_too_long"
        text = "x" * 1_990
        started = time.monotonic()
        accepted = refused = 0
        for k in range(8):
            await c.send({"op": "send", "channel": channel, "message": text, "ref": 100 + k})
        for _ in range(8):
            e = await c.recv_until(lambda e: e.get("ref", 0) >= 100 or (e.get("type") == "message" and e.get("sender") == "loud"))
            if e.get("type") == "error":
                assert e["code"] == "rate_limited" and e["channel"] == channel
                refused += 1
            else:
                accepted += 1
        elapsed = time.monotonic() - started
        assert refused >= 1 and accepted <= (8_000 + 1_000 * elapsed) / 1_990 + 1, (accepted, elapsed)
        await c.close()

    try:
        run(body())
    finally:
        server.stop()


def test_protected_channels_are_listed_with_the_key_only(instances):
    """GET /api/channels leaves protected channels (names and live counts) out for
    callers without the API key; a password set or removed through the API moves the
    channel between the two lists."""
    a, b = instances
    public, secret, later = unique("pub"), unique("sec"), unique("later")

    def names(key=None):
        status, r = http(a, "GET", "/api/channels?limit=10000", key=key)
        assert status == 200
        return {c["name"]: c["count"] for c in r["channels"]}

    async def body():
        c = await Client.connect(f"{b.url}/ws?nickname=lister")
        await c.expect("welcome")
        await c.join(public)
        assert (await c.join(secret, password="hush"))["protected"] is True
        await c.join(later)
        assert public in names() and later in names() and secret not in names()
        assert names(API_KEY)[secret] == 1 and public in names(API_KEY)
        assert http(a, "PUT", f"/api/channels/{later}", {"password": "now secret"}, key=API_KEY)[0] == 200
        assert later not in names() and names(API_KEY)[later] == 1
        assert http(a, "PUT", f"/api/channels/{later}", {"password": None}, key=API_KEY)[0] == 200
        assert names()[later] == 1
        await c.close()

    run(body())


def test_a_protected_channel_stays_protected_when_redis_loses_its_data():
    """Redis restarted without persistence (FLUSHALL here): the instance writes its
    members back and, knowing the channel was protected, its password too (fail
    closed), and says so in the log and on /healthz."""
    from harness import wait_until
    redis = RedisServer()
    server = ChatServer(redis, "fail-closed", env={"INSTANCE_TTL": "1.5"})
    channel = unique("kept")

    async def body():
        owner = await Client.connect(f"{server.url}/ws?nickname=owner")
        await owner.expect("welcome")
        assert (await owner.join(channel, password="s3cret"))["protected"] is True
        await owner.send({"op": "send", "channel": channel, "message": "for members only"})
        await owner.expect("message", message="for members only")
        # At once after the loss, before any refresh: a join without the password (on
        # the instance that knows it) puts it back first, and is refused.
        redis.cli("FLUSHALL")
        early = await Client.connect(f"{server.url}/ws?nickname=early")
        await early.expect("welcome")
        await early.send({"op": "join", "channel": channel})
        assert (await early.expect("error", channel=channel))["code"] == "wrong_password"
        assert http(server, "GET", f"/api/channels/{channel}/history")[0] == 403
        # With nobody joining, the instance's refresh writes it back and says so.
        redis.cli("FLUSHALL")
        wait_until(lambda: redis.cli("HGET", f"chat:{{{channel}}}:meta", "pw") != "", timeout=20, what="the password written back")
        assert server.health()[1]["passwords_restored"] == 1
        assert "channel password restored" in server.log()
        guest = await Client.connect(f"{server.url}/ws?nickname=guest")
        await guest.expect("welcome")
        await guest.send({"op": "join", "channel": channel})
        assert (await guest.expect("error", channel=channel))["code"] == "wrong_password"
        j = await guest.join(channel, password="s3cret")
        assert j["protected"] is True and j["count"] == 2
        for c in (owner, guest):
            await c.close()

    try:
        run(body())
    finally:
        server.stop()
        redis.stop()


def _idle_socket(port: int, source: str):
    """A TCP connection from `source` (a loopback address) that sends nothing."""
    import socket
    s = socket.socket()
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def _closed_by_server(s, timeout=10.0) -> bool:
    import socket
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def _healthz_from(port: int, source: str) -> int:
    s = _idle_socket(port, source)
    try:
        s.settimeout(10)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        return int(s.recv(4096).split(b" ")[1])
    finally:
        s.close()


def test_connections_are_bounded_per_address_and_healthz_keeps_room(redis):
    """One address holds at most MAX_CONNECTIONS_PER_ADDRESS WebSockets (then 429) and
    MAX_HANDSHAKES_PER_ADDRESS connections still in their HTTP phase (more are closed at
    accept); every socket counts against the process's limit, and when idle handshakes
    fill it the oldest makes room, so /healthz still answers."""
    import websockets
    server = ChatServer(redis, "per-address", env={"MAX_CONNECTIONS": "20", "MAX_CONNECTIONS_PER_ADDRESS": "3",
                                                   "MAX_HANDSHAKES_PER_ADDRESS": "8", "HANDSHAKE_TIMEOUT": "60"})
    idle = []
    try:
        async def body():
            held = [await Client.connect(f"{server.url}/ws?nickname=h{k}") for k in range(3)]
            try:
                await Client.connect(f"{server.url}/ws?nickname=h4")
                raise AssertionError("a fourth WebSocket from one address was accepted")
            except websockets.InvalidStatus as e:
                assert e.response.status_code == 429
            for c in held:
                await c.close()

        run(body())
        # Handshakes from one address: the ninth is closed at once.
        idle.extend(_idle_socket(server.port, "127.0.0.2") for _ in range(8))
        extra = _idle_socket(server.port, "127.0.0.2")
        assert _closed_by_server(extra)
        extra.close()
        assert not _closed_by_server(idle[0], timeout=0.3)
        # Idle handshakes from many addresses fill the sockets (20 + 32 headroom): the
        # oldest are evicted, and a health check still gets in.
        for k in range(3, 10):
            idle.extend(_idle_socket(server.port, f"127.0.0.{k}") for _ in range(8))
        assert _healthz_from(server.port, "127.0.0.99") == 200
        assert _closed_by_server(idle[0])  # the oldest made room
        m = metrics(server)
        assert m["chat_connections_closed_total{reason=evicted}"] >= 1 and m["chat_connections_refused_total"] >= 1
        assert m["chat_connections"] <= 20 + 32 + 1
    finally:
        for s in idle:
            s.close()
        server.stop()


def test_a_trusted_proxy_s_clients_are_counted_by_their_forwarded_address(redis):
    """Behind TRUSTED_PROXIES the limits per address count the client X-Forwarded-For
    names (the rightmost untrusted hop); the proxy itself is not held to them."""
    import websockets
    server = ChatServer(redis, "proxied", env={"MAX_CONNECTIONS_PER_ADDRESS": "2", "TRUSTED_PROXIES": "127.0.0.1"})
    untrusted = ChatServer(redis, "unproxied", env={"MAX_CONNECTIONS_PER_ADDRESS": "2"})

    async def connect(s, nick, forwarded):
        return await Client.connect(f"{s.url}/ws?nickname={nick}", additional_headers={"X-Forwarded-For": forwarded})

    async def body():
        a = [await connect(server, f"a{k}", f"198.51.100.1, 203.0.113.{k % 2 + 1}") for k in range(4)]  # two clients, two each
        for forwarded in ("203.0.113.1", "198.51.100.1, 203.0.113.2"):
            try:
                await connect(server, "over", forwarded)
                raise AssertionError("a third connection of one forwarded client was accepted")
            except websockets.InvalidStatus as e:
                assert e.response.status_code == 429
        b = [await connect(untrusted, f"b{k}", f"203.0.113.{k + 10}") for k in range(2)]
        try:  # a peer that is not a trusted proxy cannot pick its address
            await connect(untrusted, "b2", "203.0.113.99")
            raise AssertionError("X-Forwarded-For was believed from an untrusted peer")
        except websockets.InvalidStatus as e:
            assert e.response.status_code == 429
        for c in a + b:
            await c.close()

    try:
        run(body())
    finally:
        server.stop()
        untrusted.stop()


def test_abandoned_channels_expire_from_redis():
    """Every key of a channel nobody is in expires CHANNEL_TTL after its last event
    (a protected channel's settings after PROTECTED_CHANNEL_TTL); members and activity
    keep them. One client inside its limits could otherwise grow Redis by gigabytes a
    day with channels it joins once."""
    from harness import wait_until
    redis = RedisServer()
    server = ChatServer(redis, "ttl", env={"CHANNEL_TTL": "3", "PROTECTED_CHANNEL_TTL": "600", "API_KEY": API_KEY})
    channel, secret = unique("gone"), unique("kept")

    def keys(name):
        return [k for k in redis.cli("KEYS", f"chat:{{{name}}}:*").split("\n") if k]

    def ttl(key):
        return int(redis.cli("PTTL", key))

    async def body():
        c = await Client.connect(f"{server.url}/ws?nickname=visitor")
        await c.expect("welcome")
        await c.join(channel)
        await c.send({"op": "send", "channel": channel, "message": "hello"})
        await c.expect("message", message="hello")
        assert all(ttl(k) == -1 for k in keys(channel))  # members keep everything
        await c.join(secret, password="pw")
        await c.send({"op": "leave", "channel": secret})
        await c.expect("left", channel=secret)
        # A password set through the API on an empty channel keeps it the longer time too.
        later = unique("later")
        await c.join(later)
        await c.send({"op": "leave", "channel": later})
        await c.expect("left", channel=later)
        assert http(server, "PUT", f"/api/channels/{later}", {"password": "ops"}, key=API_KEY)[0] == 200
        assert ttl(f"chat:{{{later}}}:meta") > 500_000
        await c.send({"op": "leave", "channel": channel})
        await c.expect("left", channel=channel)
        stream = f"chat:{{{channel}}}:stream"
        assert 0 < ttl(stream) <= 3_000 and all(ttl(k) > 0 for k in keys(channel))
        assert ttl(f"chat:{{{secret}}}:meta") > 500_000  # the password stays longer
        # A message to the empty channel (the API) refreshes its lifetime.
        assert http(server, "POST", "/api/publish", {"channel": channel, "message": "still there?"}, key=API_KEY)[0] == 200
        assert ttl(stream) > 0
        wait_until(lambda: keys(channel) == [], timeout=30, what="the abandoned channel's keys expired")
        assert keys(secret) == [f"chat:{{{secret}}}:meta"]
        # Joining again makes it a channel like new, kept while anyone is in it.
        await c.join(channel)
        assert keys(channel) and all(ttl(k) == -1 for k in keys(channel))
        await c.close()

    try:
        run(body())
    finally:
        server.stop()
        redis.stop()


def test_member_lists_are_paged_never_read_whole(instances, redis):
    """GET /api/channels/NAME/members and the presence op read one page (HSCAN) of
    members, sorted within the page, with a cursor for the next: a channel of
    thousands costs each answer one page, not the whole list (nor its sort)."""
    a, _ = instances
    channel = unique("crowd")
    key = f"chat:{{{channel}}}:members"
    names = [f"user{k:04d}" for k in range(600)]
    args = []
    for k, n in enumerate(names):
        args += [f"ghost:{k}:1", n]
    redis.cli("HSET", key, *args)
    try:
        got, cursor, pages = [], "0", 0
        while True:
            status, r = http(a, "GET", f"/api/channels/{channel}/members?limit=100&cursor={cursor}")
            assert status == 200 and r["count"] == 600
            page = r["members"]
            # About the limit (HSCAN's COUNT is a hint: a page may even be empty while the
            # cursor goes on); never the whole list.
            assert len(page) <= 200 and page == sorted(page, key=str.lower)
            got += page
            pages += 1
            if "cursor" not in r:
                break
            cursor = r["cursor"]
        assert set(got) == set(names) and pages >= 3  # HSCAN may repeat a name while the hash grows, never loses one
        assert http(a, "GET", f"/api/channels/{channel}/members?cursor=x1")[0] == 400

        async def body():
            c = await Client.connect(f"{a.url}/ws?nickname=counter")
            await c.expect("welcome")
            await c.send({"op": "presence", "channel": channel, "ref": 1})
            p = await c.expect("presence", ref=1)
            assert p["count"] == 600 and p["truncated"] == ("cursor" in p) and len(p["members"]) <= 1000
            seen = set(p["members"])
            while "cursor" in p:
                await c.send({"op": "presence", "channel": channel, "cursor": p["cursor"], "ref": 2})
                p = await c.expect("presence", ref=2)
                seen |= set(p["members"])
            assert seen == set(names)
            await c.send({"op": "presence", "channel": channel, "cursor": "abc", "ref": 3})
            assert (await c.expect("error", ref=3))["code"] == "bad_request"
            await c.close()

        run(body())
    finally:
        redis.cli("DEL", key)


def test_join_and_leave_churn_does_not_push_messages_out_of_history(redis):
    """A member joining and leaving again and again, within its rate limit, writes
    notices; only a few are stored after each message (the rest go out live), so a
    message stays in history until HISTORY_SIZE newer messages came."""
    server = ChatServer(redis, "churn", env={"HISTORY_SIZE": "10", "RATE_LIMIT": "0"})
    channel = unique("churned")

    async def body():
        watcher = await Client.connect(f"{server.url}/ws?nickname=watcher")
        await watcher.expect("welcome")
        await watcher.join(channel)
        await watcher.send({"op": "send", "channel": channel, "message": "the only message"})
        await watcher.expect("message", message="the only message")
        churner = await Client.connect(f"{server.url}/ws?nickname=churner")
        await churner.expect("welcome")
        for _ in range(150):  # 300 notices, far past HISTORY_SIZE
            await churner.join(channel)
            await churner.send({"op": "leave", "channel": channel})
            await churner.expect("left", channel=channel)
        for _ in range(300):  # every notice still went out live
            await watcher.recv_until(lambda e: e.get("type") == "system" and e.get("nickname") == "churner")
        status, h = http(server, "GET", f"/api/channels/{channel}/history?limit=1000")
        assert status == 200 and any(e.get("message") == "the only message" for e in h["messages"])
        stored = [e for e in h["messages"] if e.get("type") == "system"]
        assert len(stored) <= 5, len(stored)  # the watcher's own join, and 4 after the message
        for c in (watcher, churner):
            await c.close()

    try:
        run(body())
    finally:
        server.stop()


def test_running_out_of_descriptors_logs_a_few_lines_not_a_flood(redis):
    """Connections until the process has no descriptor left: accepting pauses and
    retries every 100 ms, and says so in at most 5 lines per 10 s, then one summary
    (it wrote 421 lines in 25 s)."""
    from harness import wait_until
    import socket
    server = ChatServer(redis, "no-fds", env={"MAX_CONNECTIONS": "1000", "HANDSHAKE_TIMEOUT": "120"}, files_limit=64)
    socks = []
    try:
        for _ in range(120):  # past the 64 descriptors; the rest wait in the backlog
            socks.append(socket.create_connection(("127.0.0.1", server.port)))
        def summed_up():
            return any("similar lines suppressed" in line and "key=accept_paused" in line for line in server.log().splitlines())
        wait_until(summed_up, timeout=40, interval=0.5,
                   what="the accept-paused lines summed up")
        import re
        log = server.log()
        summary = next(line for line in log.splitlines() if "similar lines suppressed" in line and "key=accept_paused" in line)
        before = log[:log.index(summary)]
        assert before.count("accept paused") == 5 and int(re.search(r"count=(\d+)", summary).group(1)) >= 20
    finally:
        for s in socks:
            s.close()
        server.stop()


def test_joins_waiting_for_history_leave_nothing_behind(redis):
    """A join waiting for its history-read turn that the client leaves and then drops
    (found by attacking): the channel is released, its subscription dropped; and
    presence runs one at a time per connection."""
    from harness import wait_until
    server = ChatServer(redis, "replay-waiters", env={"RATE_LIMIT": "0", "HISTORY_READS": "1"})
    fat, leaks = unique("fat"), [unique("leak") for _ in range(5)]

    def channels():
        return metrics(server)["chat_channels"]

    async def body():
        keeper = await Client.connect(f"{server.url}/ws?nickname=keeper")
        await keeper.expect("welcome")
        await keeper.join(fat)
        b = await Client.connect(f"{server.url}/ws?nickname=b")
        await b.expect("welcome")
        for leak in leaks:
            await b.join(leak)
        a = await Client.connect(f"{server.url}/ws?nickname=a")
        await a.expect("welcome")
        ops = [{"op": "join", "channel": fat, "history": 50}]
        for leak in leaks:  # each waits behind a's first replay, then is left
            ops += [{"op": "join", "channel": leak, "history": 5}, {"op": "leave", "channel": leak}]
        a.send_together(ops)
        a.ws.transport.abort()  # dropped at once
        for leak in leaks:
            await b.send({"op": "leave", "channel": leak})
            await b.expect("left", channel=leak)
        wait_until(lambda: channels() == 1, timeout=15, what="only the kept channel left")
        assert redis.cli("PUBSUB", "NUMSUB", *(f"chat:{{{c}}}:pub" for c in leaks)).split("\n")[1::2] == ["0"] * len(leaks)
        assert metrics(server)["chat_history_reads"] == 0
        # presence: one at a time per connection
        keeper.send_together([{"op": "presence", "channel": fat, "ref": 1}, {"op": "presence", "channel": fat, "ref": 2}])
        answers = {}
        for _ in range(2):
            e = await keeper.recv_until(lambda e: e.get("ref") in (1, 2))
            answers[e["ref"]] = e
        assert answers[1]["type"] == "presence" and answers[2]["code"] == "rate_limited"
        for c in (keeper, b):
            await c.close()

    try:
        run(body())
    finally:
        server.stop()


def test_password_guesses_sent_at_once_get_no_more_checks(redis):
    """Guesses sent at the same moment, on two instances, from addresses of one IPv6
    /64 behind a trusted proxy: each check counts as wrong from the moment it is asked
    for (until found right), so past PASSWORD_ATTEMPTS the others wait their backoff —
    they are not all checked before the first failure is counted."""
    env = {"PASSWORD_ATTEMPTS": "3", "RATE_LIMIT": "0", "API_KEY": API_KEY, "TRUSTED_PROXIES": "127.0.0.1"}
    a, b = ChatServer(redis, "guess-a", env=env), ChatServer(redis, "guess-b", env=env)
    channel = unique("vault")

    async def body():
        assert http(a, "PUT", f"/api/channels/{channel}", {"password": "right"}, key=API_KEY)[0] == 200
        clients = []
        for k in range(6):
            server = (a, b)[k % 2]
            c = await Client.connect(f"{server.url}/ws?nickname=g{k}", additional_headers={"X-Forwarded-For": f"2001:db8:1:2::{k + 1}"})
            await c.expect("welcome")
            clients.append(c)
        for k, c in enumerate(clients):
            c.send_together([{"op": "join", "channel": channel, "password": f"guess{k}", "ref": k}])
        codes = sorted([(await c.expect("error", ref=k))["code"] for k, c in enumerate(clients)])
        assert codes.count("wrong_password") <= 3 and codes.count("rate_limited") >= 3, codes
        for c in clients:
            await c.close()

    try:
        run(body())
    finally:
        a.stop()
        b.stop()


def test_new_channels_are_limited_per_address(redis):
    """Each new channel stays in Redis for CHANNEL_TTL, so one address creates at most
    CHANNEL_CREATE_RATE a minute; joining channels that exist is not limited."""
    server = ChatServer(redis, "creations", env={"CHANNEL_CREATE_RATE": "3", "RATE_LIMIT": "0"})
    existing, new = unique("old"), [unique("new") for _ in range(4)]

    async def body():
        c = await Client.connect(f"{server.url}/ws?nickname=maker")
        await c.expect("welcome")
        for name in new[:3]:
            await c.join(name)
        await c.send({"op": "join", "channel": new[3], "ref": 4})
        e = await c.expect("error", ref=4)
        assert e["code"] == "rate_limited" and "new channels" in e["message"]
        assert redis.cli("EXISTS", f"chat:{{{new[3]}}}:meta") == "0"  # nothing was written
        # A channel that exists can be joined whatever the allowance.
        redis.cli("HSET", f"chat:{{{existing}}}:meta", "created", "1")
        assert (await c.join(existing))["count"] == 1
        await c.close()

    try:
        run(body())
    finally:
        server.stop()
