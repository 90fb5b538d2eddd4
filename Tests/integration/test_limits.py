"""Limits a client runs into, measured against real processes: the message rate,
origins on every WebSocket path, channels per connection, HTTP API bodies, and the
log lines a client can provoke."""
import asyncio
import json
import re
import socket
import time

import pytest

from harness import API_KEY, ChatServer, Client, RawClient, metrics, run, unique, wait_until


@pytest.fixture
def server(redis, request):
    """A private instance; its environment comes from @pytest.mark.env({...})."""
    marker = request.node.get_closest_marker("env")
    s = ChatServer(redis, request.node.name[:24], env=dict(marker.args[0]) if marker else {})
    yield s
    s.stop()


@pytest.mark.env({"RATE_LIMIT": "5", "RATE_BURST": "10"})
def test_rate_limit_accepts_burst_plus_rate_times_elapsed(server):
    """A client that always has a message to send, and backs off for a second after
    each refusal (as a polite client would; so that it is never taken for a flooder),
    gets about RATE_BURST + RATE_LIMIT x elapsed messages through. The bounds come from
    the elapsed time measured around the server's own reads, not from any schedule:
    the token bucket cannot have given more than burst + rate x (the longest time the
    server can have seen between the first and the last message)."""
    rate, burst = 5, 10

    async def body():
        c = await Client.connect(f"{server.url}/ws?nickname=steady")
        await c.expect("welcome")
        accepted = refused = 0
        first_sent = first_answered = last_sent = last_answered = None
        k, drained = 0, False
        # Until 4 s have passed and the last message was refused (the bucket is empty).
        while first_sent is None or last_sent - first_sent < 4.0 or not drained:
            k += 1
            sent = time.monotonic()
            await c.send({"op": "ping", "ref": k})
            e = await c.recv_until(lambda e: e.get("ref") == k)
            answered = time.monotonic()
            if first_sent is None:
                first_sent, first_answered = sent, answered
            last_sent, last_answered = sent, answered
            drained = e["type"] != "pong"
            if not drained:
                accepted += 1
            else:
                assert e["type"] == "error" and e["code"] == "rate_limited", e
                refused += 1
                if last_sent - first_sent < 4.0:
                    await asyncio.sleep(1.0)  # back off; the bucket (10 deep) wastes no token in 1 s at 5/s
        await c.send({"op": "ping", "ref": "end"})  # not closed for flooding
        await c.recv_until(lambda e: e.get("ref") == "end")
        await c.close()
        # The server read the first message between its sending and its answer, and the
        # last one likewise: its view of the elapsed time lies between these two.
        longest = last_answered - first_sent
        shortest = last_sent - first_answered
        most = burst + rate * longest
        least = burst + rate * shortest
        assert refused >= 3, (accepted, refused)  # the limit was reached again and again
        assert accepted <= most + 1, f"{accepted} accepted in at most {longest:.2f} s: over {burst} + {rate}/s"
        # A generous floor: a backoff stretched by a busy machine wastes a few tokens.
        assert accepted >= burst + 0.5 * (least - burst), f"{accepted} accepted in at least {shortest:.2f} s"

    run(body())


@pytest.mark.env({"ALLOWED_ORIGINS": "https://chat.example.com", "ECHO_ENABLED": "true"})
def test_origin_allowlist_guards_every_websocket_path(server):
    """The allowlist is checked on every upgrade: /ws, the seed endpoint and /echo."""
    channel = unique()
    paths = ["/ws?nickname=o", f"/chat/join?channel={channel}&nickname=o", "/echo"]
    for path in paths:
        for header, status in [("Origin: https://evil.example\r\n", 403),
                               ("Origin: https://chat.example.com\r\n", 101), ("", 101)]:
            c = RawClient(server.port, path, extra_headers=header)
            assert c.status == status, (path, header)
            c.close()
    assert metrics(server)["chat_upgrades_refused_total"] == len(paths)


@pytest.mark.env({"MAX_CHANNELS_PER_CONNECTION": "2", "RATE_LIMIT": "0"})
def test_too_many_channels_per_connection(server):
    first, second, third = unique(), unique(), unique()

    async def body():
        c = await Client.connect(f"{server.url}/ws?nickname=collector")
        await c.expect("welcome")
        await c.join(first)
        await c.join(second)
        await c.send({"op": "join", "channel": third, "ref": "three"})
        e = await c.recv_until(lambda e: e["type"] in ("error", "joined"))
        assert (e["type"], e.get("code"), e["channel"], e["ref"]) == ("error", "too_many_channels", third, "three"), e
        # Nothing was joined, and the connection stays usable.
        await c.send({"op": "send", "channel": third, "message": "x"})
        assert (await c.expect("error"))["code"] == "not_joined"
        # Leaving one makes room for another.
        await c.send({"op": "leave", "channel": first})
        await c.expect("left", channel=first)
        await c.join(third)
        # The limit is per connection: another one has its own two.
        other = await Client.connect(f"{server.url}/ws?nickname=other")
        await other.join(first)
        await other.join(second)
        for x in (c, other):
            await x.close()

    run(body())


def raw_request(port: int, data: bytes, timeout: float = 5.0) -> tuple[int, dict]:
    """Sends `data` and reads the answer until the server closes: (status, JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except socket.timeout:
            raise AssertionError(f"no answer within {timeout} s (got {answer[:100]!r})") from None
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(payload)


@pytest.mark.env({"API_KEY": API_KEY, "RATE_LIMIT": "0"})
def test_api_bodies_over_64_kib_get_413(server):
    """Bodies up to 64 KiB are read; a Content-Length over it is answered 413 at once,
    without the body being sent (or read)."""
    channel = unique()

    def publish(length: int, send_body: bool) -> tuple[int, dict]:
        text = json.dumps({"channel": channel, "message": f"padded to {length}"}).encode()
        payload = text + b" " * (length - len(text))  # JSON allows trailing whitespace
        head = (f"POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n").encode()
        return raw_request(server.port, head + (payload if send_body else b""))

    status, reply = publish(65_536, send_body=True)
    assert status == 200 and reply["channel"] == channel
    for length in (65_537, 10 << 20):
        status, reply = publish(length, send_body=False)
        assert status == 413 and reply["error"] and reply["message"], (length, reply)
    # The same bound for the other writes.
    big = f"PUT /api/channels/{channel} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\nContent-Length: 70000\r\n\r\n"
    assert raw_request(server.port, big.encode())[0] == 413


@pytest.mark.env({"ALLOWED_ORIGINS": "https://chat.example.com"})
def test_lines_a_client_can_provoke_are_limited_then_summed_up(server):
    """Refused upgrades (a kind of line any client can provoke): 5 lines per 10 s, then
    one "similar lines suppressed" line with the count of those not written, when the
    next window opens. (The window is 10 s and not configurable: this test waits it out,
    provoking one refusal a second until the summary appears.)"""
    refused_line = "upgrade refused: origin not allowed"

    def refuse():
        c = RawClient(server.port, "/ws?nickname=o", extra_headers="Origin: https://evil.example\r\n")
        assert c.status == 403
        c.close()

    for _ in range(12):
        refuse()
    assert server.log().count(refused_line) == 5
    attempts = 12

    def summary_written():
        nonlocal attempts
        refuse()
        attempts += 1
        return "similar lines suppressed" in server.log()

    wait_until(summary_written, timeout=30, interval=1.0, what="the suppressed lines summed up")
    log = server.log()
    summaries = [line for line in log.splitlines() if "similar lines suppressed" in line]
    assert len(summaries) == 1 and "key=origin" in summaries[0], summaries
    # The refusal that opened the new window is written after the summary; every other
    # one after the first five was counted in it.
    assert log.count(refused_line) == 6
    assert int(re.search(r"count=(\d+)", summaries[0]).group(1)) == attempts - 6
    assert log.index(summaries[0]) < log.rindex(refused_line)
    assert metrics(server)["chat_upgrades_refused_total"] == attempts
