"""Redis connection settings and Redis availability."""
import asyncio
import subprocess

from harness import ChatServer, Client, RedisServer, SeedClient, run, unique, wait_until



def test_password_and_database_are_honoured():
    redis = RedisServer(password="pw-123")
    a = ChatServer(redis, "auth-a", env={"REDIS_DB": "3"})
    b = ChatServer(redis, "auth-b", env={"REDIS_DB": "3"})
    channel = unique()

    async def body():
        x = await Client.connect(f"{a.url}/ws?nickname=x")
        y = await Client.connect(f"{b.url}/ws?nickname=y")
        await x.join(channel)
        await y.join(channel)
        await x.send({"op": "send", "channel": channel, "message": "over auth"})
        assert (await y.expect("message"))["message"] == "over auth"
        await x.close()
        await y.close()

    try:
        run(body())
        assert redis.cli("EXISTS", f"chat:{{{channel}}}:stream", db=3) == "1"
        assert redis.cli("EXISTS", f"chat:{{{channel}}}:stream", db=0) == "0"
    finally:
        a.stop()
        b.stop()
        redis.stop()


def test_unreachable_redis_at_start_then_available():
    """The server starts without Redis, reports 503, and becomes ready once Redis is up."""
    from harness import free_port
    import subprocess
    port = free_port()
    server = ChatServer(None, "late-redis", env={"REDIS_PORT": str(port)}, wait_ready=False)
    try:
        wait_until(lambda: server.health()[0] == 503, what="healthz 503")

        async def refused():
            c = await Client.connect(f"{server.url}/ws?nickname=early")
            await c.expect("welcome")
            await c.send({"op": "join", "channel": "x"})
            assert (await c.expect("error"))["code"] == "unavailable"
            await c.close()

        run(refused())
        assert "redis unreachable, retrying" in server.log()
        redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no"], stdout=subprocess.DEVNULL)
        try:
            wait_until(lambda: server.health()[0] == 200, timeout=15, what="healthz 200 after redis starts")
        finally:
            redis.terminate()
            redis.wait()
    finally:
        server.stop()
    assert server.proc.returncode == 0


def test_seed_join_while_redis_is_down_closes_with_1013():
    """/chat/join cannot join while Redis is away: the `unavailable` error, then close
    1013 (try again later), not 1008 (which tells a client not to retry)."""
    redis = RedisServer()
    server = ChatServer(redis, "seed-1013")
    channel = unique()

    async def body():
        before = await SeedClient.connect(f"{server.url}/chat/join?channel={channel}&nickname=early")
        assert (await before.recv())["message"] == "early joined the chat."
        redis.proc.kill()
        redis.proc.wait()
        wait_until(lambda: server.health()[0] == 503, what="healthz 503")
        seed = await SeedClient.connect(f"{server.url}/chat/join?channel={channel}&nickname=late")
        e = await seed.recv()
        assert (e["type"], e.get("code"), e["channel"]) == ("error", "unavailable", channel), e
        await seed.ws.wait_closed()
        assert seed.ws.close_code == 1013
        await before.close()

    try:
        run(body())
    finally:
        server.stop()
        redis.stop()


def test_sigterm_closes_clients_with_1001_and_others_see_them_leave(redis):
    a = ChatServer(redis, "drain-a")
    b = ChatServer(redis, "drain-b")
    channel = unique()

    async def body():
        leaving = await Client.connect(f"{a.url}/ws?nickname=leaving")
        staying = await Client.connect(f"{b.url}/ws?nickname=staying")
        await staying.join(channel)
        await leaving.join(channel)
        await staying.expect("system", message="leaving joined the chat.")
        a.signal()
        try:
            while True:
                await leaving.recv()
        except Exception as e:
            assert e.rcvd.code == 1001, e
        notice = await staying.expect("system", channel=channel)
        assert (notice["message"], notice["count"]) == ("leaving left the chat.", 1)
        await staying.close()

    try:
        run(body())
        assert a.proc.wait(10) == 0
    finally:
        a.stop()
        b.stop()


def hlen(redis, channel) -> int:
    return int(redis.cli("HLEN", f"chat:{{{channel}}}:members") or 0)


def test_join_leave_join_in_one_write_keeps_the_count_right(instances, redis):
    """Three ops in one TCP segment: the leave of the join still on its way to Redis
    goes right behind it, so the second join lands after both: replies in order,
    counts that add up, no stray leave notice (each join has its own member-hash field)."""
    a, b = instances
    channel = unique()

    async def body():
        # The watcher is on bob's instance, so that the topic is already subscribed and
        # bob's joins go straight to Redis (the case where the replies race).
        watcher = await Client.connect(f"{a.url}/ws?nickname=watcher")
        await watcher.join(channel)
        await watcher.expect("system", event="join", nickname="watcher")
        bob = await Client.connect(f"{a.url}/ws?nickname=bob")
        await bob.expect("welcome")
        ops = [{"op": "join", "channel": channel, "ref": "j1"}, {"op": "leave", "channel": channel, "ref": "l1"},
               {"op": "join", "channel": channel, "ref": "j2"}]
        bob.send_together(ops)  # one write, so the three ops arrive together
        got = [await bob.recv_until(lambda e: e["type"] in ("joined", "left", "error")) for _ in range(3)]
        assert [(e["type"], e["ref"]) for e in got] == [("joined", "j1"), ("left", "l1"), ("joined", "j2")]
        assert got[1]["count"] == 1 and got[2]["count"] == 2 and got[2]["members"] == ["bob", "watcher"]
        notices = [await watcher.expect("system") for _ in range(3)]
        assert [(e["event"], e["nickname"], e["count"]) for e in notices] == [("join", "bob", 2), ("leave", "bob", 1), ("join", "bob", 2)]
        await watcher.no_event(0.3)  # no stray leave
        wait_until(lambda: hlen(redis, channel) == 2, what="two members in the hash")
        await bob.close()
        await watcher.expect("system", message="bob left the chat.")
        wait_until(lambda: hlen(redis, channel) == 1, what="one member in the hash")
        await watcher.close()
        wait_until(lambda: hlen(redis, channel) == 0, what="empty hash")

    run(body())


def test_join_leave_join_before_the_channel_is_subscribed_answers_in_order(instances, redis):
    """The same burst on a channel this instance is not subscribed to yet (the joins
    wait for SUBSCRIBE): the leave waits for its join, so the replies and the notices
    still come in order; a message sent in between is answered with not_joined."""
    a, b = instances
    channel = unique()

    async def body():
        watcher = await Client.connect(f"{b.url}/ws?nickname=watcher")  # on the other instance
        await watcher.join(channel)
        await watcher.expect("system", event="join", nickname="watcher")
        bob = await Client.connect(f"{a.url}/ws?nickname=bob")
        await bob.expect("welcome")
        bob.send_together([{"op": "join", "channel": channel, "ref": "j1"}, {"op": "send", "channel": channel, "message": "hi", "ref": "s1"},
                           {"op": "leave", "channel": channel, "ref": "l1"}, {"op": "join", "channel": channel, "ref": "j2"}])
        got = [await bob.recv_until(lambda e: e["type"] in ("joined", "left", "error")) for _ in range(4)]
        assert [(e["type"], e["ref"]) for e in got] == [("joined", "j1"), ("error", "s1"), ("left", "l1"), ("joined", "j2")]
        assert got[0]["members"] == ["bob", "watcher"] and got[1]["code"] == "not_joined"
        assert got[2]["count"] == 1 and got[3]["count"] == 2
        notices = [await watcher.expect("system") for _ in range(3)]
        assert [(e["event"], e["nickname"], e["count"]) for e in notices] == [("join", "bob", 2), ("leave", "bob", 1), ("join", "bob", 2)]
        await watcher.no_event(0.3)  # and no message
        assert hlen(redis, channel) == 2
        for c in (bob, watcher):
            await c.close()

    run(body())


def test_member_hash_heals_after_redis_failures():
    """A leave while the command connection is down is redone after it reconnects;
    members are written back after Redis restarts empty."""
    redis = RedisServer()
    port = redis.port
    a = ChatServer(redis, "heal-a")
    channel = unique()

    async def body():
        stay = await Client.connect(f"{a.url}/ws?nickname=stay")
        go = await Client.connect(f"{a.url}/ws?nickname=go")
        await stay.join(channel)
        await go.join(channel)
        assert hlen(redis, channel) == 2
        # Cut the command connection (not the subscriber) and leave at once.
        redis.cli("CLIENT", "KILL", "TYPE", "normal")
        await go.close()
        await stay.expect("system", message="go left the chat.", timeout=10)
        wait_until(lambda: hlen(redis, channel) == 1, what="the leave redone after the reconnect")

        # Redis restarts without its data: the member is written back.
        redis.proc.kill()
        redis.proc.wait()
        restarted = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL)
        try:
            wait_until(lambda: a.health()[0] == 200, timeout=15, what="ready again")
            wait_until(lambda: hlen(redis, channel) == 1, what="member restored")
            await stay.close()
            wait_until(lambda: hlen(redis, channel) == 0, what="empty hash")
        finally:
            restarted.terminate()
            restarted.wait()

    try:
        run(body())
        assert "redis member hashes restored" in a.log()
    finally:
        a.stop()
        redis.stop()


def test_a_stalled_redis_is_detected_and_left():
    """SIGSTOP keeps Redis's sockets open but silent: the server notices within
    REDIS_TIMEOUT, answers unavailable (also to a join waiting for its channel's
    subscription) and 503, and recovers after SIGCONT."""
    import signal
    redis = RedisServer()
    a = ChatServer(redis, "stall", env={"REDIS_TIMEOUT": "1"})
    channel = unique()

    async def body():
        c = await Client.connect(f"{a.url}/ws?nickname=c")
        await c.join(channel)
        redis.proc.send_signal(signal.SIGSTOP)
        try:
            await c.send({"op": "join", "channel": unique(), "ref": 2})  # a new channel: SUBSCRIBE first
            await c.send({"op": "send", "channel": channel, "message": "into the void", "ref": 1})
            errors = [await c.expect("error", timeout=10) for _ in range(2)]  # not when Redis is back
            assert sorted((e["code"], e["ref"]) for e in errors) == [("unavailable", 1), ("unavailable", 2)]
            # The message went out before Redis stopped answering: Redis may still run it.
            assert "not confirmed" in next(e["message"] for e in errors if e["ref"] == 1)
            wait_until(lambda: a.health()[0] == 503, what="503 while stalled")
        finally:
            redis.proc.send_signal(signal.SIGCONT)
        wait_until(lambda: a.health()[0] == 200, timeout=15, what="ready after SIGCONT")
        await c.send({"op": "send", "channel": channel, "message": "back"})
        await c.expect("message", message="back")
        await c.close()

    try:
        run(body())
        assert "redis not answering, reconnecting" in a.log()
    finally:
        a.stop()
        redis.stop()


def test_a_redis_connect_that_never_completes_is_given_up_and_retried():
    """A Redis address that swallows SYNs (here: a listener whose accept queue is full)
    must not hold the connect for the kernel's minutes: REDIS_TIMEOUT gives it up."""
    import socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):  # fill the accept queue; later SYNs are dropped
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(s)
    server = ChatServer(None, "hanging-redis", env={"REDIS_PORT": str(port), "REDIS_TIMEOUT": "1"}, wait_ready=False)
    try:
        wait_until(lambda: "connect timed out" in server.log(), timeout=10, what="connect timeout logged")
        assert server.health()[0] == 503
        assert server.proc.poll() is None
    finally:
        server.stop()
        for s in fillers:
            s.close()
        listener.close()
    assert server.proc.returncode == 0
