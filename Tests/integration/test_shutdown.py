"""Graceful shutdown while something holds the server open: no new WebSockets during
the drain, and SHUTDOWN_TIMEOUT ends it. A private Redis is stopped (SIGSTOP) so that
the leaves of the closing clients stay unanswered: that is what holds the drain open,
for as long as the test needs, whatever the machine's load."""
import signal
import socket
import subprocess

from harness import ChatServer, Client, RedisServer, run, unique, wait_until


def held_open_server(name, shutdown_timeout):
    redis = RedisServer()
    # REDIS_TIMEOUT far above the test's length: the stalled Redis is never given up on,
    # so its unanswered writes hold the drain until SHUTDOWN_TIMEOUT.
    server = ChatServer(redis, name, env={"SHUTDOWN_TIMEOUT": str(shutdown_timeout), "REDIS_TIMEOUT": "120"})
    return redis, server


async def member(server, channel, nickname):
    c = await Client.connect(f"{server.url}/ws?nickname={nickname}")
    await c.join(channel)
    return c


async def closed_with(client) -> int:
    """Reads until the server closes; the close code."""
    try:
        while True:
            await client.recv(10)
    except Exception:
        pass
    await client.ws.wait_closed()
    return client.ws.close_code


def test_no_websocket_is_opened_while_the_server_drains():
    """During the drain (here held open by a stalled Redis) new connections are refused
    at once (the listening socket is closed, so a load balancer moves on), and one that
    had not finished its request when SIGTERM came is dropped, not upgraded. When Redis
    answers again the drain completes and the process exits 0."""
    redis, server = held_open_server("drain-held", shutdown_timeout=60)
    pending = None
    try:
        async def body():
            nonlocal pending
            c = await member(server, unique(), "holder")
            pending = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            pending.sendall(b"GET /ws?nickname=late HTTP/1.1\r\nHost: x\r\n")  # not finished yet
            # Accepted (the holder, the pending one, and this /healthz request itself).
            wait_until(lambda: (server.health()[1] or {}).get("connections") == 3, what="the pending connection accepted")
            redis.stall()
            server.signal(signal.SIGTERM)
            assert await closed_with(c) == 1001
            wait_until(lambda: "shutdown: clients told" in server.log(), what="the drain started")

            # The rest of the request arrives during the drain: no answer, no upgrade.
            try:
                pending.sendall(b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                b"Sec-WebSocket-Version: 13\r\n\r\n")
                answer = pending.recv(4096)
            except ConnectionResetError:
                answer = b""
            assert answer == b"", answer
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
                raise AssertionError("a new connection was accepted during the drain")
            except ConnectionRefusedError:
                pass
            # Held open all along: the leave is still waiting for Redis.
            assert server.proc.poll() is None and "shutdown deadline reached" not in server.log()

        run(body())
        redis.resume()
        assert server.proc.wait(30) == 0
        assert "shutdown deadline reached" not in server.log()
    finally:
        if pending:
            pending.close()
        redis.resume()
        server.stop()
        redis.stop()


def test_shutdown_timeout_ends_a_drain_that_cannot_finish():
    """Redis never answers the leaves: when SHUTDOWN_TIMEOUT runs out the process exits
    anyway, with status 0 (docs/OPERATIONS.md), saying what it gave up on."""
    redis, server = held_open_server("drain-timeout", shutdown_timeout=1)
    try:
        async def body():
            c = await member(server, unique(), "holder")
            redis.stall()
            server.signal(signal.SIGTERM)
            assert await closed_with(c) == 1001

        run(body())
        try:
            status = server.proc.wait(30)
        except subprocess.TimeoutExpired:
            raise AssertionError("still running 30 s after SIGTERM with SHUTDOWN_TIMEOUT=1") from None
        assert status == 0
        log = server.log()
        deadline = [line for line in log.splitlines() if "shutdown deadline reached" in line]
        assert len(deadline) == 1 and "redis_in_flight=0" not in deadline[0], deadline  # what held it: the unanswered leave
        assert "shutdown: closing redis connections" in log
    finally:
        redis.resume()
        server.stop()
        redis.stop()
