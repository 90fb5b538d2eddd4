"""The server's Lua scripts run directly against a real redis-server (the
test_script_*.py files): a small RESP client, and the scripts loaded the way the
EmbedLua plugin embeds them (`--@include` lines replaced by the named file)."""
import socket
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "Sources" / "ChatServer" / "Redis" / "Scripts"


def source(name: str) -> str:
    """The script `name` as Redis runs it (includes expanded, like EmbedLuaTool)."""
    def expand(path: Path, depth=0) -> str:
        assert depth < 8
        out = []
        for line in path.read_text().split("\n"):
            if line.startswith("--@include "):
                included = expand(path.parent / line[len("--@include "):].strip(), depth + 1)
                out.append(included[:-1] if included.endswith("\n") else included)
            else:
                out.append(line)
        return "\n".join(out)
    text = expand(SCRIPTS / f"{name}.lua")
    return text[:-1] if text.endswith("\n") else text


class RedisError(Exception):
    pass


class Resp:
    """A blocking RESP2 client: bytes in, Python values out (bulk strings as str when
    they are UTF-8, else bytes; nil as None; errors raised)."""

    def __init__(self, port: int, password: str | None = None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        if password:
            self.call("AUTH", password)

    def close(self):
        self.sock.close()

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self._read()

    def eval(self, name: str, keys: list, args: list):
        return self.call("EVAL", source(name), len(keys), *keys, *args)

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self._exact(n)
            try:
                return data.decode()
            except UnicodeDecodeError:
                return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RedisError(f"unexpected reply {line!r}")


class Channel:
    """A channel's keys, as Keyspace builds them."""

    def __init__(self, name: str, prefix: str = "chat"):
        self.name = name
        tag = f"{prefix}:{{{name}}}"
        self.stream = f"{tag}:stream"
        self.members = f"{tag}:members"
        self.presence = f"{tag}:presence"
        self.nicknames = f"{tag}:nicknames"
        self.meta = f"{tag}:meta"
        self.topic = f"{tag}:pub"
        self.failures_prefix = f"{tag}:pwfails:"

    @property
    def keys(self) -> list:
        """The five keys of publish, leave and restore."""
        return [self.stream, self.members, self.presence, self.nicknames, self.meta]


DAY = 86_400_000


def limits(ch: Channel, maxlen=500, max_age=0, ttl=DAY, pttl=0) -> list:
    """ARGV 1-5 of publish, join and leave (StreamLimits)."""
    return [ch.topic, maxlen, max_age, ttl, pttl]


def join_args(ch: Channel, field: str, nickname: str, *, notice_limit=100, verified="", new_password="", replay=("", ""),
              replay_limit=100, list_limit=1000, failure_limit=5, budget=1 << 20, known="", may_create=True,
              maxlen=500, max_age=0, ttl=DAY, pttl=0) -> list:
    """join.lua's ARGV in the order of its named locals (JoinCall)."""
    body = f'"type":"system","event":"join","channel":"{ch.name}","sender":"System","nickname":"{nickname}","message":"{nickname} joined the chat.","count":'
    return limits(ch, maxlen, max_age, ttl, pttl) + [body, field, nickname, notice_limit, nickname.lower(), verified, new_password,
                                                     replay[0], replay[1], replay_limit, list_limit, failure_limit, budget, known,
                                                     "1" if may_create else "0"]


def join(r: Resp, ch: Channel, field: str, nickname: str, address="10.0.0.1", **kw):
    return r.eval("join", ch.keys + [ch.failures_prefix + address], join_args(ch, field, nickname, **kw))


def leave(r: Resp, ch: Channel, field: str, nickname: str, *, notice_limit=100, **kw):
    body = f'"type":"system","event":"leave","channel":"{ch.name}","sender":"System","nickname":"{nickname}","message":"{nickname} left the chat.","count":'
    return r.eval("leave", ch.keys, limits(ch, **kw) + [body, field, notice_limit, nickname.lower()])


def publish(r: Resp, ch: Channel, text="hi", **kw):
    body = f'"type":"message","channel":"{ch.name}","sender":"ann","message":"{text}"}}'
    return r.eval("publish", ch.keys, limits(ch, **kw) + [body])


class Subscriber:
    """A second connection subscribed to one topic."""

    def __init__(self, port: int, topic: str):
        self.r = Resp(port)
        assert self.r.call("SUBSCRIBE", topic)[0] == "subscribe"

    def next(self) -> str:
        kind, _, payload = self.r._read()
        assert kind == "message"
        return payload

    def close(self):
        self.r.close()


def instance_keys(instance):
    return {part: f"chat:instance:{instance}:{part}" for part in ("alive", "reaper", "reaped", "members")}


def claim(r, dead, by):
    k = instance_keys(dead)
    return r.eval("claim", [k["alive"], k["reaper"], k["reaped"]], [by])


def finish(r, dead):
    k = instance_keys(dead)
    return r.eval("finish", [k["alive"], "chat:instances", k["members"], k["reaped"], k["reaper"]], [dead])
