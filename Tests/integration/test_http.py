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
])
def test_http_errors(instances, request_bytes, status):
    a, _ = instances
    response = exchange(a.port, request_bytes)
    assert status_of(response) == status, response[:200]
    headers = headers_of(response)
    assert "close" in headers["connection"].lower()
    body = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert body["error"] and body["message"]
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
    assert status_of(response) == 200 and b"text/html" in response and b"/app.js" in response  # the web client


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
