"""Hostile input over real sockets while a normal conversation goes on."""
import asyncio
import base64
import os
import random

import pytest

from harness import ChatServer, Client, metrics, unique


def masked(payload: bytes, opcode: int = 1, fin: bool = True, mask: bool = True, rsv: int = 0, length: int | None = None) -> bytes:
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([mbit | 127]) + n.to_bytes(8, "big")
    key = os.urandom(4) if mask else b""
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if mask else payload
    return head + key + body


def handshake(path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


def attack(rng: random.Random, k: int) -> bytes:
    """One malicious or broken client's bytes, of many kinds."""
    kind = k % 12
    if kind == 0:
        return rng.randbytes(rng.randint(1, 3000))
    if kind == 1:
        return b"GET /ws?nickname=x HTTP/1.1\r\n" + b"X: " + b"a" * rng.randint(9000, 20000) + b"\r\n\r\n"
    if kind == 2:
        return b"GET " + rng.randbytes(200) + b" HTTP/1.1\r\n\r\n"
    if kind == 3:
        return handshake("/ws?nickname=" + rng.choice(["", "%00", "System", "a%20%20b", "x" * 50]))
    if kind == 4:
        return handshake("/ws?nickname=f") + masked(b'{"op":"send"}', mask=False)
    if kind == 5:
        return handshake("/ws?nickname=f") + masked(rng.randbytes(40), opcode=rng.choice([3, 4, 5, 6, 7, 11, 15]))
    if kind == 6:
        return handshake("/ws?nickname=f") + masked(b"\xff\xfe bad utf-8 " + rng.randbytes(20))
    if kind == 7:
        return handshake("/ws?nickname=f") + masked(b"x" * 10, length=2**40)
    if kind == 8:
        return handshake("/ws?nickname=f") + masked(b"hello", rsv=rng.randint(1, 7))
    if kind == 9:
        return handshake("/ws?nickname=f") + masked(b"part", fin=False) + masked(b"new", opcode=1)
    if kind == 10:
        ops = [b'{"op":"join","channel":"' + rng.randbytes(8).hex().encode() + b'"}', b"{", b"[]", b'{"op":1}',
               b'{"op":"send","channel":"nope","message":"x"}', rng.randbytes(30).hex().encode()]
        return handshake("/ws?nickname=f") + b"".join(masked(rng.choice(ops)) for _ in range(20))
    return handshake("/echo") + rng.randbytes(rng.randint(1, 500))


async def hostile_client(port: int, data: bytes) -> None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    except OSError:
        return
    try:
        writer.write(data)
        await writer.drain()
        # Half-close, so that input the server is still waiting on (an unfinished head or
        # frame; the handshake timeout has its own test) ends here; then read what the
        # server answers until it closes (it must close).
        writer.write_eof()
        while await asyncio.wait_for(reader.read(65536), 5):
            pass
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


@pytest.mark.parametrize("attackers", [3000])
def test_malformed_storm_does_not_disturb_a_conversation(redis, attackers):
    server = ChatServer(redis, "storm", env={"RATE_LIMIT": "0", "APP_DEBUG": "false", "ECHO_ENABLED": "true"})
    channel = unique()
    rng = random.Random(20261129)
    total = 300

    async def body():
        alice = await Client.connect(f"{server.url}/ws?nickname=alice")
        bob = await Client.connect(f"{server.url}/ws?nickname=bob")
        await alice.join(channel)
        await bob.join(channel)

        async def converse():
            for k in range(total):
                await alice.send({"op": "send", "channel": channel, "message": f"m{k}"})
                await asyncio.sleep(0.005)

        async def storm():
            limit = asyncio.Semaphore(64)

            async def one(k):
                async with limit:
                    await hostile_client(server.port, attack(rng, k))

            await asyncio.gather(*(one(k) for k in range(attackers)))

        talking = asyncio.create_task(converse())
        storming = asyncio.create_task(storm())
        received = []
        while len(received) < total:
            e = await bob.recv(20)
            if e["type"] == "message":
                received.append(e["message"])
        assert received == [f"m{k}" for k in range(total)]
        await talking
        await storming
        await bob.send({"op": "ping", "ref": "after"})
        assert (await bob.expect("pong"))["ref"] == "after"
        await alice.close()
        await bob.close()

    try:
        asyncio.run(asyncio.wait_for(body(), 120))
        assert server.health()[0] == 200
        m = metrics(server)
        assert m["chat_connections_opened_total"] >= attackers
        assert m["chat_http_errors_total"] > attackers / 12
        assert m["chat_connections_closed_total{reason=protocol_error}"] > attackers / 12
        assert m["chat_connections"] <= 3  # everything hostile was closed
    finally:
        assert server.stop() == 0
