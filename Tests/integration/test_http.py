"""HTTP answers and the WebSocket handshake, over raw sockets."""
import base64
import json
import os
import socket

import pytest

KEY = base64.b64encode(os.urandom(16)).decode()


def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Sends `data` and reads until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def headers_of(response: bytes) -> dict:
    head = response.split(b"\r\n\r\n", 1)[0].decode()
    return {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in head.split("\r\n")[1:])}


def upgrade_request(path="/ws?nickname=x", extra="", version="13", key=KEY, method="GET", proto="HTTP/1.1"):
    return (f"{method} {path} {proto}\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n{extra}\r\n").encode()


@pytest.mark.parametrize("request_bytes,status", [
    (b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    (b"POST /ws HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
    (b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", 426),
    (b"GET /chat/join?channel=a&nickname=b HTTP/1.1\r\nHost: x\r\n\r\n", 426),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),  # a TLS ClientHello
    (b"GET / HTTP/1.1 extra\r\n\r\n", 400),
    (b"GET /ws HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(80)) + b"\r\n", 431),
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n", 414),
    (upgrade_request(version="8"), 426),
    (upgrade_request(key="short"), 400),
    (upgrade_request(proto="HTTP/1.0"), 400),
    (upgrade_request(method="PUT"), 405),
    (upgrade_request(extra="Content-Length: 5\r\n"), 400),
    (upgrade_request(path="/echo"), 404),  # off unless ECHO_ENABLED=true  # the bytes after the head are frames, not a body
    (b"POST /api/publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
    # Body framing as nginx reads it: one Content-Length of digits only, bounded.
    (b"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 32\r\nContent-Length: 33\r\n\r\n" + b"{}" * 17, 400),
    (b"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 400),
    (b"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: +32\r\n\r\n" + b"{}" * 16, 400),
    (b"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 0x20\r\n\r\n", 400),
    (b"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\n{}", 400),
    (b"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413),
    (b"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n", 413),
])
def test_http_errors(instances, request_bytes, status):
    a, _ = instances
    response = exchange(a.port, request_bytes)
    assert status_of(response) == status, response[:200]
    headers = headers_of(response)
    assert "close" in headers["connection"].lower()
    body = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert body["error"] and body["message"]
    reason = response.split(b"\r\n", 1)[0].split(b" ", 2)[2].decode()
    assert reason != "Status" and body["error"] == reason.lower().replace(" ", "_")  # every status has its own text
    if status == 426:
        assert headers["sec-websocket-version"] == "13"
    if status == 405:
        assert "GET" in headers["allow"]


def test_handshake_answers_101_with_the_accept_key(instances):
    a, _ = instances
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    with socket.create_connection(("127.0.0.1", a.port), timeout=5) as s:
        s.sendall(upgrade_request(key=key))
        response = s.recv(4096)
    assert response.startswith(b"HTTP/1.1 101 ")
    headers = headers_of(response)
    assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert headers["upgrade"].lower() == "websocket"


def test_frames_sent_with_the_request_head_are_read(instances):
    """An eager client may send its first frame in the same packet as the request."""
    a, _ = instances
    payload = b'{"op":"ping","ref":"eager"}'
    mask = os.urandom(4)
    frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    with socket.create_connection(("127.0.0.1", a.port), timeout=5) as s:
        s.sendall(upgrade_request() + frame)
        data = b""
        while b"eager" not in data:
            chunk = s.recv(4096)
            assert chunk, data
            data += chunk
    assert b'"type":"pong","ref":"eager"' in data


def test_unmasked_client_frame_closes_with_1002(instances):
    a, _ = instances
    with socket.create_connection(("127.0.0.1", a.port), timeout=5) as s:
        s.sendall(upgrade_request())
        s.recv(4096)  # 101 and welcome
        s.sendall(bytes([0x81, 0x02]) + b"hi")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    close = data[data.index(b"\x88"):]
    assert close[2:4] == (1002).to_bytes(2, "big")


def test_healthz_and_index(instances):
    a, _ = instances
    status, body = a.health()
    assert status == 200 and body["status"] == "ok" and body["redis"] is True and body["instance"] == "inst-a"
    response = exchange(a.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(response) == 200 and b"text/html" in response and b"/js/main.mjs" in response  # the web client


def test_slow_request_head_is_dropped(redis):
    """A connection that never finishes its request head is closed (slowloris bound)."""
    from harness import ChatServer
    server = ChatServer(redis, "slowloris", env={"HANDSHAKE_TIMEOUT": "0.5"})
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=15) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            assert s.recv(4096) == b""  # closed by the server after the handshake allowance
            assert "no complete request within 500 ms" in server.log()
    finally:
        server.stop()


def test_head_answers_carry_the_length_of_the_get(instances):
    a, _ = instances
    for path in ("/healthz", "/", "/js/main.mjs"):
        get = exchange(a.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = exchange(a.port, f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert status_of(head) == status_of(get) == 200, (path, head[:200])
        body = get.split(b"\r\n\r\n", 1)[1]
        assert int(headers_of(head)["content-length"]) == len(body) > 0, path
        assert head.endswith(b"\r\n\r\n"), path  # no body


def test_client_that_half_closes_after_its_request_gets_the_answer(instances):
    """`nc -N` and friends send the request, then shutdown(SHUT_WR), then read."""
    a, _ = instances
    with socket.create_connection(("127.0.0.1", a.port), timeout=5) as s:
        s.sendall(b"GET /api/channels HTTP/1.1\r\nHost: x\r\n\r\n")  # answered after a Redis round trip
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert status_of(data) == 200, data[:200]
    assert "channels" in json.loads(data.split(b"\r\n\r\n", 1)[1])


def test_big_answer_to_a_slow_reader_is_not_cut_off(redis):
    """The 2 s linger after an answer runs from the last bytes the client took, not from
    the answer: a big history read slowly at first arrives whole, while a client that
    reads nothing is let go (the answer's memory with it)."""
    import time
    from harness import API_KEY, ChatServer, http, unique
    # History answers are bounded by OUTPUT_BUFFER_LIMIT: a high one lets this one be big.
    a = ChatServer(redis, "bigans", env={"OUTPUT_BUFFER_LIMIT": str(16 << 20), "API_KEY": API_KEY})
    try:
        big_answer(a)
    finally:
        a.stop()


def big_answer(a):
    import time
    from harness import API_KEY, http, metrics, unique, wait_until
    channel = unique("big")
    text = "\U0001F600" * 2_000  # 8 KB of UTF-8
    for _ in range(700):  # 5.6 MB of history: more than the kernel's socket buffers take
        assert http(a, "POST", "/api/publish", {"channel": channel, "message": text, "sender": "filler"}, key=API_KEY)[0] == 200
    request = f"GET /api/channels/{channel}/history?limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n".encode()

    def ask():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the answer waits in the server
        s.settimeout(10)
        s.connect(("127.0.0.1", a.port))
        s.sendall(request)
        return s

    def read_all(s):
        chunks = []
        while chunk := s.recv(65_536):
            chunks.append(chunk)
            if time.monotonic() - started < 3:
                time.sleep(0.02)  # slowly (~200 KB/s) past the 2 s linger, then at full speed
        s.close()
        data = b"".join(chunks)
        return int(headers_of(data)["content-length"]), data.split(b"\r\n\r\n", 1)[1]

    started = time.monotonic()
    stalled, reader = ask(), ask()
    length, body = read_all(reader)
    assert length == len(body), len(body)
    assert len(json.loads(body)["messages"]) == 700
    # The stalled client, which took nothing, is let go after its linger: the server then
    # holds no connection but the one asking for /metrics.
    wait_until(lambda: metrics(a)["chat_connections"] == 1, timeout=30, what="the stalled client let go")
    length, body = read_all(stalled)
    assert len(body) < length  # what the kernel held, then the end
