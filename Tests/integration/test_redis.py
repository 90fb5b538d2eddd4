"""Redis connection settings and Redis availability."""
import asyncio

from harness import ChatServer, Client, RedisServer, unique, wait_until


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


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
