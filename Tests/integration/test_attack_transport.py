"""An attack on the transport after the connection refactoring (ConnectionStateMachine,
HTTPRouting, APIRouting, AcceptPolicy, TurnScheduler): what one anonymous client tried
against the connection's life (handshake, upgrade, closing, linger, per-address counts,
shutdown) and the bound that must hold (docs/OPERATIONS.md, "Limits and abuse")."""
import base64
import os
import socket
import struct
import time

import pytest

from harness import API_KEY, ChatServer, RawClient, http, wait_until

UPGRADE = ("GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n")


def upgrade_request(path: str = "/echo", extra: str = "") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return UPGRADE.format(path=path, key=key, extra=extra).encode()


def raw(port: int, rcvbuf: int | None = None, timeout: float = 5) -> socket.socket:
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def read_to_eof(s: socket.socket, timeout: float = 5) -> bytes:
    s.settimeout(timeout)
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except (socket.timeout, ConnectionResetError):
        data += b"<timeout-or-reset>"
    return data


def status_of(data: bytes) -> int:
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def upgrades(port: int, path: str = "/echo") -> int:
    """The status an upgrade gets now (the socket is then closed with a close frame)."""
    s = raw(port)
    try:
        s.sendall(upgrade_request(path))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
        status = status_of(head)
        if status == 101:
            s.sendall(RawClient.frame(struct.pack("!H", 1000), opcode=8))
            read_to_eof(s, 3)
        return status
    finally:
        s.close()


def reset(s: socket.socket) -> None:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


@pytest.fixture(scope="module")
def limited(redis):
    """Two WebSockets and two connections in their HTTP phase per address, short
    timeouts, a small output limit, the echo endpoint on."""
    server = ChatServer(redis, "attack-transport", env={
        "MAX_CONNECTIONS_PER_ADDRESS": "2", "MAX_HANDSHAKES_PER_ADDRESS": "2", "HANDSHAKE_TIMEOUT": "1",
        "PING_INTERVAL": "1", "PONG_TIMEOUT": "1", "OUTPUT_BUFFER_LIMIT": "65536", "ECHO_ENABLED": "true",
        "API_KEY": API_KEY, "RATE_LIMIT": "0", "API_RATE_LIMIT": "0"})
    yield server
    server.stop()


def wait_for_room(server, path="/echo", timeout=8.0):
    """Both of the address's WebSocket slots are free again (two upgrades at once)."""
    def both():
        a, b = RawClient(server.port, path), RawClient(server.port, path)
        try:
            return a.status == 101 and b.status == 101
        finally:
            for c in (a, b):
                c.sock.sendall(RawClient.frame(struct.pack("!H", 1000), opcode=8))
                read_to_eof(c.sock, 3)
                c.close()
    wait_until(both, timeout=timeout, interval=0.5, what="the address's WebSocket slots back")


ENDINGS = ["close_then_hangup", "reset", "fin_without_close", "protocol_error_never_read",
           "close_then_data_never_read", "pong_timeout", "half_close_after_close", "refused_nickname_never_read",
           "close_then_shut_wr"]


@pytest.mark.parametrize("ending", ENDINGS)
def test_every_way_a_websocket_ends_gives_its_address_slot_back(limited, ending):
    """MAX_CONNECTIONS_PER_ADDRESS=2: two WebSockets ended in one way (ours or the
    peer's, polite or not, the peer reading our close or never), then two new ones
    get in. A slot kept by any ending locks the address out for good."""
    path = "/ws?nickname=" if ending == "refused_nickname_never_read" else "/echo"
    clients = [RawClient(limited.port, path) for _ in range(2)]
    assert [c.status for c in clients] == [101, 101]
    assert upgrades(limited.port) == 429  # the address is full
    for c in clients:
        s = c.sock
        if ending == "close_then_hangup":
            s.sendall(RawClient.frame(struct.pack("!H", 1000), opcode=8))
            c.read_frames(lambda f: any(op == 8 for op, _ in f), timeout=3)
            s.close()
        elif ending == "reset":
            reset(s)
        elif ending == "fin_without_close":
            s.shutdown(socket.SHUT_WR)
        elif ending == "protocol_error_never_read":
            s.sendall(b"\x81\x05hello")  # unmasked: 1002, and we never read nor hang up
        elif ending == "close_then_data_never_read":
            s.sendall(RawClient.frame(struct.pack("!H", 1000), opcode=8) + RawClient.frame(b"x" * 100) * 50)
        elif ending == "pong_timeout":
            pass  # never answers the pings
        elif ending == "half_close_after_close":
            s.sendall(RawClient.frame(struct.pack("!H", 1000), opcode=8))
            s.shutdown(socket.SHUT_WR)
        elif ending == "refused_nickname_never_read":
            pass  # the server refuses it (error, then 1008); we never read
        elif ending == "close_then_shut_wr":
            s.sendall(RawClient.frame(struct.pack("!H", 1001), opcode=8))
            c.read_frames(lambda f: any(op == 8 for op, _ in f), timeout=3)
            s.shutdown(socket.SHUT_WR)
    wait_for_room(limited, timeout=10)
    for c in clients:
        c.close()


HANDSHAKE_ENDINGS = ["silence", "bad_request", "half_head_then_fin", "answered_never_read", "reset_mid_head",
                     "body_never_finished", "upgrade_refused_origin_free", "api_answered"]


@pytest.mark.parametrize("ending", HANDSHAKE_ENDINGS)
def test_every_way_an_http_phase_ends_gives_its_address_slot_back(limited, ending):
    """MAX_HANDSHAKES_PER_ADDRESS=2: two connections in their HTTP phase ended in one
    way (timeout, an error answer, the peer's FIN or reset, an answer never read), then
    two new ones are accepted and answered."""
    socks = [raw(limited.port) for _ in range(2)]
    time.sleep(0.2)
    third = raw(limited.port)
    assert read_to_eof(third, 3) == b""  # refused at accept: closed at once
    third.close()
    for s in socks:
        if ending == "silence":
            pass  # HANDSHAKE_TIMEOUT (1 s)
        elif ending == "bad_request":
            s.sendall(b"BREW / HTTP/1.1\r\n\r\n")
        elif ending == "half_head_then_fin":
            s.sendall(b"GET /healthz HTTP/1.1\r\nHo")
            s.shutdown(socket.SHUT_WR)
        elif ending == "answered_never_read":
            s.sendall(b"GET /js/../metrics HTTP/1.1\r\nHost: x\r\n\r\n" + b"GET /metrics HTTP/1.1\r\n\r\n")
        elif ending == "reset_mid_head":
            s.sendall(b"GET / HTTP/1.1\r\n")
            time.sleep(0.05)
            reset(s)
        elif ending == "body_never_finished":
            s.sendall(b"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":")
        elif ending == "upgrade_refused_origin_free":
            s.sendall(upgrade_request("/echo", extra="Content-Length: 5\r\n") + b"hello")
        elif ending == "api_answered":
            s.sendall(b"GET /api/channels?limit=0 HTTP/1.1\r\nHost: x\r\n\r\n")

    def two_answered():
        pair = [raw(limited.port) for _ in range(2)]
        try:
            for s in pair:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            return all(status_of(read_to_eof(s, 3)) == 200 for s in pair)
        finally:
            for s in pair:
                s.close()
    wait_until(two_answered, timeout=10, interval=0.5, what="the address's handshake slots back")
    for s in socks:
        s.close()


def test_pipelined_requests_get_one_answer_and_no_upgrade(limited):
    """A request then an upgrade in the same packet: one answer, then the close; the
    upgrade behind it is not read (no 101, no WebSocket slot taken)."""
    s = raw(limited.port)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + upgrade_request("/echo") + RawClient.frame(b"hi"))
    data = read_to_eof(s)
    s.close()
    assert status_of(data) == 200 and data.count(b"HTTP/1.1") == 1 and b"101" not in data.split(b"\r\n")[0]
    wait_for_room(limited)


def test_an_upgrade_with_a_body_or_chunked_framing_is_refused(limited):
    """Content-Length or Transfer-Encoding on an upgrade: 400 / 411, never a 101 whose
    first frames are a 'body' the server swallowed."""
    for extra, want in (("Content-Length: 3\r\n", 400), ("Transfer-Encoding: chunked\r\n", 411),
                        ("Content-Length: 0\r\n", 101)):
        s = raw(limited.port)
        s.sendall(upgrade_request("/echo", extra=extra) + b"abc")
        head = s.recv(4096)
        assert status_of(head) == want, (extra, head[:80])
        s.close()
    wait_for_room(limited)


def test_frames_after_the_peer_s_close_are_ignored_and_answered_once(limited):
    """Close, then text and pings: one close frame comes back (the peer's code), nothing
    after it, and the server hangs up."""
    c = RawClient(limited.port, "/echo")
    assert c.status == 101
    c.sock.sendall(RawClient.frame(struct.pack("!H", 4000), opcode=8) + RawClient.frame(b"after")
                   + RawClient.frame(b"p", opcode=9) + RawClient.frame(struct.pack("!H", 1000), opcode=8))
    frames = c.read_frames(lambda f: f and f[-1][0] == "eof", timeout=5)
    c.close()
    assert frames[0] == (8, struct.pack("!H", 4000)) and frames[1:] == [("eof", b"")], frames


def test_a_ping_flood_that_never_reads_is_held_at_the_output_limit(limited):
    """Pings with 125-byte payloads, never reading the pongs: the server stops reading
    the client at OUTPUT_BUFFER_LIMIT (TCP pushes back) instead of queueing pongs
    without bound, and drops it when it leaves the server's own ping unanswered; the
    process stays small and answers others."""
    from harness import rss_kib
    c = RawClient(limited.port, "/echo", rcvbuf=4096)
    assert c.status == 101
    before = rss_kib(limited.proc.pid)
    ping = RawClient.frame(b"p" * 125, opcode=9, mask=b"\0\0\0\0")
    c.sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sent < 64 << 20:
        try:
            sent += c.sock.send(ping * 512)
        except BlockingIOError:
            time.sleep(0.01)
        except ConnectionResetError:
            break  # not reading, so not answering the server's pings either: dropped (pong timeout)
    grown = rss_kib(limited.proc.pid) - before
    assert sent < 32 << 20, sent  # pushed back long before 32 MB
    assert grown < 16_384, grown  # KiB
    assert limited.health()[0] == 200
    reset(c.sock)


def test_shutdown_during_handshakes_and_a_close_nobody_reads(redis):
    """SIGTERM with connections mid-head, mid-body, one closing whose peer never reads,
    and an open one that never reads: the process exits 0 within SHUTDOWN_TIMEOUT."""
    server = ChatServer(redis, "attack-shutdown", env={"ECHO_ENABLED": "true", "SHUTDOWN_TIMEOUT": "5",
                                                       "HANDSHAKE_TIMEOUT": "30", "OUTPUT_BUFFER_LIMIT": "65536"})
    socks = []
    try:
        mid_head = raw(server.port)
        mid_head.sendall(b"GET / HTTP/1.1\r\nHost")
        mid_body = raw(server.port)
        mid_body.sendall(b"POST /api/publish HTTP/1.1\r\nContent-Length: 10\r\n\r\n{")
        closing = RawClient(server.port, "/echo", rcvbuf=4096)
        closing.sock.sendall(RawClient.frame(b"x" * 60_000, opcode=2) * 40 + RawClient.frame(b"", opcode=8))
        never_reads = RawClient(server.port, "/echo", rcvbuf=4096)
        socks = [mid_head, mid_body, closing.sock, never_reads.sock]
        time.sleep(0.5)
        started = time.monotonic()
        server.signal()
        server.proc.wait(15)
        assert time.monotonic() - started < 8 and server.proc.returncode == 0
    finally:
        for s in socks:
            s.close()
        server.stop()


@pytest.mark.parametrize("origin,ok", [
    ("https://good.example", True), ("https://GOOD.example", True), ("https://good.example.evil.test", False),
    ("https://evilgood.example", False), ("http://good.example", False), ("null", False), ("", True),
    ("https://a.trusted.example", True), ("https://trusted.example", False), ("https://a.trusted.example.evil", False),
    ("https://a.trusted.example/", False), ("https://eviltrusted.example", False)])
def test_origin_variants(redis, origin_server, origin, ok):
    """ALLOWED_ORIGINS=https://good.example,https://*.trusted.example: look-alikes,
    other schemes, suffix tricks and a trailing slash are refused with 403."""
    extra = f"Origin: {origin}\r\n" if origin else ""
    c = RawClient(origin_server.port, "/echo", extra_headers=extra)
    c.close()
    assert (c.status == 101) == ok, (origin, c.status)
    if not ok:
        assert c.status == 403


@pytest.fixture(scope="module")
def origin_server(redis):
    server = ChatServer(redis, "attack-origin", env={"ECHO_ENABLED": "true",
                                                     "ALLOWED_ORIGINS": "https://good.example,https://*.trusted.example"})
    yield server
    server.stop()


def test_forwarded_for_from_an_untrusted_peer_does_not_escape_the_address_limit(redis):
    """TRUSTED_PROXIES names another host: X-Forwarded-For from us is ignored, so
    rotating it gets no more than MAX_CONNECTIONS_PER_ADDRESS WebSockets, and a
    header naming a trusted proxy or garbage changes nothing."""
    server = ChatServer(redis, "attack-xff", env={"ECHO_ENABLED": "true", "TRUSTED_PROXIES": "10.9.8.7",
                                                  "MAX_CONNECTIONS_PER_ADDRESS": "2"})
    clients = []
    try:
        statuses = []
        for k, xff in enumerate(["1.2.3.4", "5.6.7.8", "10.9.8.7", "garbage, 9.9.9.9", "[::1]:80"]):
            c = RawClient(server.port, "/echo", extra_headers=f"X-Forwarded-For: {xff}\r\n")
            clients.append(c)
            statuses.append(c.status)
        assert statuses == [101, 101, 429, 429, 429], statuses
    finally:
        for c in clients:
            c.close()
        server.stop()


def test_evicted_handshakes_give_their_address_slot_back(redis):
    """At the socket limit (MAX_CONNECTIONS=1 plus 32) each new socket evicts the
    oldest idle one: 150 idle sockets from one address with MAX_HANDSHAKES_PER_ADDRESS=40
    keep getting in (an eviction that kept its count would lock the address out after
    40), and the newest is still answered."""
    server = ChatServer(redis, "attack-evict", env={"MAX_CONNECTIONS": "1", "MAX_HANDSHAKES_PER_ADDRESS": "40",
                                                    "HANDSHAKE_TIMEOUT": "60"})
    socks = []
    try:
        for _ in range(150):
            socks.append(raw(server.port))
            time.sleep(0.003)
        time.sleep(0.3)
        last = socks[-1]
        last.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(read_to_eof(last, 5)) == 200
        evicted = 0
        for s in socks[:100]:
            s.settimeout(0.05)
            try:
                evicted += s.recv(1) == b""
            except (socket.timeout, ConnectionResetError):
                pass
        assert evicted >= 90, evicted
        assert "evicted" in server.log()
    finally:
        for s in socks:
            s.close()
        server.stop()


def test_api_head_and_errors_carry_no_body_for_head(limited):
    """HEAD on the HTTP API (or on a WebSocket path, /metrics, a missing file) is
    answered 405/404 with a body (51 to 65 bytes after the head): RFC 9110 9.3.2 forbids
    content in an answer to HEAD (a keep-alive proxy reads it as the start of the next
    answer). /healthz, / and the web client's files get this right; the error answers
    do not. Fault:
    Sources/ChatServer/HTTP/APIAnswers.swift `apiError` and HTTPRouting's `.error`
    route (Router.swift `conn.respond(HTTPResponse.error(...))`) never pass `head:`;
    the same before the refactoring (025bde3 HTTPAPI.swift)."""
    for path in ("/api/channels", "/api/nothing", "/metrics", "/no-such-file", "/ws"):
        s = raw(limited.port)
        s.sendall(f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = read_to_eof(s)
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        assert status_of(data) in (404, 405), data[:60]
        assert body == b"", (path, body)


def test_an_out_of_range_member_cursor_is_a_bad_request_not_storage_unavailable(limited):
    """`cursor` is checked as up to 20 decimal digits, so 99999999999999999999 (past
    2^64) goes to Redis, whose HSCAN refuses it, and the client gets 503 `unavailable`
    ("chat storage is unavailable") with Retry-After: any anonymous client makes the
    API report storage down at will (monitoring alerts on 5xx), where the answer is 400.
    Fault: Sources/ChatCore/HTTP/APIRequests.swift `members` (the cursor is not parsed
    as a UInt64); the same check before the refactoring (025bde3 HTTPAPI.swift)."""
    status, body = http(limited, "GET", "/api/channels/somewhere/members?cursor=99999999999999999999")
    assert status == 400 and body["error"] == "bad_request", (status, body)


def test_a_trickling_reader_of_a_big_answer_is_dropped_within_the_closing_minute(redis):
    """An answer bigger than the kernel's socket buffers (8 MB of history, with a 16 MiB
    OUTPUT_BUFFER_LIMIT), read a few KB every tenth of a second: every read lets the
    server write again and each write extends the 2 s linger, so only the 60 s cap
    ("time to close", docs/OPERATIONS.md) ends it. The process lets go of the socket
    (and the answer's memory) within the minute plus a linger and a tick, whatever the
    peer still reads from the kernel. (Takes about 80 s.)"""
    server = ChatServer(redis, "attack-trickle", env={"OUTPUT_BUFFER_LIMIT": str(16 << 20), "API_KEY": API_KEY,
                                                      "RATE_LIMIT": "0"})
    from harness import unique
    try:
        channel = unique("trickle")
        text = "\U0001F600" * 2_000  # 8 KB as stored
        for _ in range(1_000):
            assert http(server, "POST", "/api/publish", {"channel": channel, "message": text}, key=API_KEY)[0] == 200
        base = server.health()[1]["connections"]
        s = raw(server.port, rcvbuf=4096, timeout=10)
        s.sendall(f"GET /api/channels/{channel}/history?limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        started = time.monotonic()
        held_at_55 = None
        while time.monotonic() - started < 66:
            assert s.recv(4096)
            if held_at_55 is None and time.monotonic() - started > 55:
                held_at_55 = server.health()[1]["connections"] - base
            time.sleep(0.1)
        assert held_at_55 == 1  # still being served before the minute (not cut at a linger)
        assert server.health()[1]["connections"] - base == 0  # let go by 66 s
        s.close()
    finally:
        server.stop()


@pytest.mark.parametrize("stall_seconds", [2, 8])
def test_api_requests_dropped_while_redis_stalls_give_their_slots_back(stall_seconds):
    """Redis stalls (SIGSTOP) under two history requests and two member reads from one
    address: HANDSHAKE_TIMEOUT (1 s) drops them while they wait (a client is not held
    past its deadline by our storage); whether Redis comes back before REDIS_TIMEOUT (2 s
    stall) or the link is reset (8 s), the address's two history slots and its
    handshake slots are given back: the next history request gets 200, not 429."""
    from harness import RedisServer, unique
    redis = RedisServer()
    server = ChatServer(redis, "attack-stall", env={"HANDSHAKE_TIMEOUT": "1", "REDIS_TIMEOUT": "5",
                                                    "MAX_HANDSHAKES_PER_ADDRESS": "4", "API_KEY": API_KEY})
    socks = []
    try:
        channel = unique("stall")
        assert http(server, "POST", "/api/publish", {"channel": channel, "message": "m"}, key=API_KEY)[0] == 200
        redis.stall()
        for what in ("history", "history", "members", "members"):
            s = raw(server.port, timeout=10)
            s.sendall(f"GET /api/channels/{channel}/{what} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            socks.append(s)
        started = time.monotonic()
        for s in socks:
            assert read_to_eof(s, 5) == b""  # dropped, not answered
        assert time.monotonic() - started < 3.5
        time.sleep(max(0.0, stall_seconds - (time.monotonic() - started)))
        redis.resume()

        def history_again():
            status, body = http(server, "GET", f"/api/channels/{channel}/history")
            return status == 200 and body["messages"]
        wait_until(history_again, timeout=15, interval=0.5, what="history answered again")
        for _ in range(3):  # and both history slots are free (2 at once per address)
            pair = [raw(server.port) for _ in range(2)]
            for s in pair:
                s.sendall(f"GET /api/channels/{channel}/history HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            statuses = [status_of(read_to_eof(s)) for s in pair]
            for s in pair:
                s.close()
            assert statuses == [200, 200], statuses
    finally:
        for s in socks:
            s.close()
        server.stop()
        redis.stop()
