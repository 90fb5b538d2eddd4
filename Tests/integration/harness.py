"""Test harness: real redis-server and chat-server processes on free 127.0.0.1 ports.

Everything a test starts is stopped by the fixture that started it; logs go to
build/test-logs/ so a failure can be read after the run.
"""
import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / "build" / "test-logs"
SERVER_BIN = (ROOT / os.environ.get("CHAT_SERVER_BIN", ".build/debug/chat-server")).resolve()
BENCH_BIN = (ROOT / os.environ.get("CHAT_BENCH_BIN", ".build/debug/chat-bench")).resolve()
REDIS_BIN = os.environ.get("REDIS_SERVER_BIN", "redis-server")
API_KEY = "test-api-key"


def run(coro, timeout: float = 90):
    """Runs a test's async body with an overall deadline."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str = "ch") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class RedisServer:
    """A private redis-server (no persistence) for the tests."""

    def __init__(self, password: str | None = None):
        self.port = free_port()
        self.password = password
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"redis-{self.port}.log"
        args = [REDIS_BIN, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--logfile", str(self.log_path)]
        if password:
            args += ["--requirepass", password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(self._pings, what=f"redis-server on {self.port}")

    def _pings(self) -> bool:
        try:
            return self.cli("PING") == "PONG"
        except Exception:
            return False

    def cli(self, *args: str, db: int = 0) -> str:
        cmd = ["redis-cli", "-p", str(self.port), "-n", str(db)]
        if self.password:
            cmd += ["--no-auth-warning", "-a", self.password]
        out = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=10)
        return out.stdout.strip()

    def stall(self):
        """SIGSTOP, and wait until the kernel has stopped it (delivery is asynchronous):
        every command sent to it now waits until `resume`."""
        self.proc.send_signal(signal.SIGSTOP)

        def stopped():
            with open(f"/proc/{self.proc.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "T"
        wait_until(stopped, what="redis-server stopped")

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a stalled one must run to exit
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class ChatServer:
    """One chat-server process (one instance towards Redis)."""

    def __init__(self, redis: RedisServer | None, name: str, env: dict | None = None, args: list | None = None,
                 wait_ready: bool = True, port: int | None = None, files_limit: int | None = None):
        self.port = port or free_port()
        self.name = name
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"chat-{name}-{self.port}.log"
        full_env = {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST") and not k.startswith("REDIS_")}
        full_env.update({"HOST": "127.0.0.1", "PORT": str(self.port), "INSTANCE_ID": name, "APP_DEBUG": "true",
                         "WEB_ROOT": str(ROOT / "web"),
                         # Every test client comes from 127.0.0.1: the per-address bounds
                         # are off unless a test sets them (test_hostile.py does).
                         "MAX_CONNECTIONS_PER_ADDRESS": "0", "MAX_HANDSHAKES_PER_ADDRESS": "0", "CHANNEL_CREATE_RATE": "0"})
        if redis is not None:
            full_env["REDIS_PORT"] = str(redis.port)
            full_env["REDIS_HOST"] = "127.0.0.1"
            if redis.password:
                full_env["REDIS_PASSWORD"] = redis.password
        full_env.update(env or {})
        self._log = open(self.log_path, "w")
        # The working directory is the log folder so that no stray .env is read.
        def limit_files():  # `files_limit`: the process's descriptor limit, soft and hard
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (files_limit, files_limit))
        self.proc = subprocess.Popen([str(SERVER_BIN)] + (args or []), env=full_env, cwd=LOG_DIR,
                                     stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=limit_files if files_limit else None)
        if wait_ready:
            try:
                wait_until(lambda: self.health()[0] == 200, timeout=15, what=f"chat-server {name} ready")
            except BaseException:
                self.stop()  # a server that never became ready must not outlive the test
                raise

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def health(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")
        except Exception:
            return None, None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def masked_text_frame(payload: bytes) -> bytes:
    """One client-to-server text frame (masked, as RFC 6455 requires), for raw writes."""
    mask = os.urandom(4)
    n = len(payload)
    assert n < 65536
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126, n >> 8, n & 0xFF])
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


class Client:
    """A WebSocket chat client (the `websockets` package) that reads JSON events."""

    def __init__(self, ws):
        self.ws = ws

    @classmethod
    async def connect(cls, url: str, **kwargs) -> "Client":
        # max_queue=None: the library keeps reading whatever the test has not consumed
        # yet, so that a test client is never a slow consumer by accident (and its
        # close handshake never waits behind unread messages).
        kwargs.setdefault("max_queue", None)
        return cls(await websockets.connect(url, open_timeout=10, max_size=2**24, **kwargs))

    async def send(self, obj) -> None:
        await self.ws.send(obj if isinstance(obj, (str, bytes)) else json.dumps(obj))

    def send_together(self, ops) -> None:
        """Writes the ops' frames with one write, so that they arrive (and are read, and
        timed) together."""
        self.ws.transport.write(b"".join(masked_text_frame(json.dumps(op).encode()) for op in ops))

    async def recv(self, timeout: float = 5.0) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def recv_until(self, predicate, timeout: float = 5.0) -> dict:
        """Next event matching `predicate`, skipping the others."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError("no matching event before the timeout")
            event = await self.recv(left)
            if predicate(event):
                return event

    async def expect(self, type_: str, timeout: float = 5.0, **fields) -> dict:
        return await self.recv_until(lambda e: e.get("type") == type_ and all(e.get(k) == v for k, v in fields.items()),
                                     timeout)

    async def join(self, channel: str, **extra) -> dict:
        await self.send({"op": "join", "channel": channel, **extra})
        return await self.expect("joined", channel=channel)

    async def no_event(self, timeout: float = 0.5) -> None:
        """Asserts that nothing arrives within `timeout`."""
        try:
            event = await asyncio.wait_for(self.ws.recv(), timeout)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected event: {event}")

    async def close(self) -> None:
        await self.ws.close()


def seed_data(event: dict) -> tuple[str, str]:
    """What a client of the original (Go) server reads from an event: `data`, base64
    (Go's encoding of a []byte) of exactly {"sender": …, "message": …}."""
    raw = base64.b64decode(event["data"], validate=True)
    payload = json.loads(raw)
    assert isinstance(payload, dict) and list(payload) == ["sender", "message"], raw
    assert all(isinstance(v, str) for v in payload.values()), raw
    return payload["sender"], payload["message"]


class SeedClient(Client):
    """A /chat/join client. Every event it reads must come in the original server's
    envelope, {"channel": …, "data": …} first, with the event's own members beside
    them: `data` decodes to the event's sender and message (System and "" for a reply
    that has none)."""

    async def recv(self, timeout: float = 5.0) -> dict:
        event = await super().recv(timeout)
        assert list(event)[:2] == ["channel", "data"], event
        assert isinstance(event["channel"], str), event
        assert seed_data(event) == (event.get("sender", "System"), event.get("message", "")), event
        return event


class RawClient:
    """A hand-made WebSocket client on a plain socket, for what a well-behaved library
    will not do: never read, never answer pings, send garbage."""

    def __init__(self, port: int, path: str, rcvbuf: int | None = None, extra_headers: str = ""):
        import base64
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra_headers}\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1]) if head else 0

    @staticmethod
    def frame(payload: bytes, opcode: int = 1, fin: bool = True, mask: bytes | None = None) -> bytes:
        mask = os.urandom(4) if mask is None else mask
        n = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    def send_json(self, obj) -> None:
        self.sock.sendall(self.frame(json.dumps(obj).encode()))

    def read_frames(self, until=lambda frames: False, timeout: float = 5.0):
        """Reads frames (opcode, payload) until `until(frames)` or EOF or timeout."""
        frames = []
        self.sock.settimeout(timeout)
        try:
            while not until(frames):
                while True:
                    parsed = self._parse_one()
                    if parsed is None:
                        break
                    frames.append(parsed)
                    if until(frames):
                        return frames
                chunk = self.sock.recv(65536)
                if not chunk:
                    frames.append(("eof", b""))
                    return frames
                self.buffer += chunk
        except (socket.timeout, ConnectionResetError):
            frames.append(("timeout", b""))
        return frames

    def _parse_one(self):
        b = self.buffer
        if len(b) < 2:
            return None
        n, i = b[1] & 0x7F, 2
        if n == 126:
            if len(b) < 4:
                return None
            n, i = int.from_bytes(b[2:4], "big"), 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, i = int.from_bytes(b[2:10], "big"), 10
        if len(b) < i + n:
            return None
        self.buffer = b[i + n:]
        return b[0] & 0x0F, b[i:i + n]

    def close(self):
        self.sock.close()


def metrics(server: "ChatServer") -> dict:
    """The server's /metrics, parsed by prometheus_client: {sample name + labels: value}."""
    from prometheus_client.parser import text_string_to_metric_families
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name + "".join(f"{{{k}={v}}}" for k, v in sorted(sample.labels.items()))
            values[key] = sample.value
    return values


def http(server: "ChatServer", method: str, path: str, body=None, key: str | None = None):
    """(status, parsed JSON) of an HTTP API call."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
