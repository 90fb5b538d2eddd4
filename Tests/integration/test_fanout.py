"""Fan-out writes: a channel's batch goes to its members through io_uring (one system
call for many sends) where the kernel allows it, else one send() per member
(IO_URING=false, or io_uring forbidden). Both writers must deliver the same bytes."""
import ctypes
import json
import os
import resource

import pytest

from harness import ChatServer, Client, RawClient, metrics, run, unique

WRITERS = ["true", "false"]


def kernel_allows_io_uring() -> bool:
    """io_uring_setup(2) (system call 425 on every Linux architecture) as this process sees it."""
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)  # struct io_uring_params
    fd = libc.syscall(425, 4, params)
    if fd < 0:
        return False
    os.close(fd)
    return True


@pytest.fixture
def server(redis, request):
    s = ChatServer(redis, f"fanout-{request.node.callspec.params['io_uring']}",
                   env={"RATE_LIMIT": "0", "ALLOW_BROADCAST": "true", "IO_URING": request.node.callspec.params["io_uring"]})
    yield s
    s.stop()


def check_writer(server, io_uring: str, sends_at_least: int):
    """The writer in use is the one configured (or send() where the kernel says no)."""
    m = metrics(server)
    ring = io_uring == "true" and kernel_allows_io_uring()
    assert m["chat_io_uring"] == (1 if ring else 0)
    if ring:
        assert "fan-out writes: io_uring" in server.log()
        assert m["chat_io_uring_sends_total"] >= sends_at_least
        # Batched: far fewer system calls than sends.
        assert 0 < m["chat_io_uring_submits_total"] * 4 <= m["chat_io_uring_sends_total"]
    else:
        assert "fan-out writes: send() per member" in server.log()
        assert m["chat_io_uring_sends_total"] == 0 and m["chat_io_uring_submits_total"] == 0
    return m


@pytest.mark.parametrize("io_uring", WRITERS)
def test_every_member_gets_every_message_once_in_order(server, io_uring):
    channel, members, count = unique(), 30, 60

    async def body():
        clients = [await Client.connect(f"{server.url}/ws?nickname=m{k}") for k in range(members)]
        for c in clients:
            await c.join(channel)
        talker = clients[0]
        for k in range(count):
            await talker.send({"op": "send", "channel": channel, "message": f"{k}:{'y' * (k * 37 % 500)}"})
        for c in clients:
            got = []
            while len(got) < count:
                e = await c.recv(10)
                if e["type"] == "message" and e["channel"] == channel:
                    got.append(int(e["message"].split(":")[0]))
            assert got == list(range(count))
            await c.no_event(0.05 if c is not talker else 0.2)  # nothing twice
        for c in clients:
            await c.close()

    run(body())
    check_writer(server, io_uring, sends_at_least=members)  # messages of one turn share a send


@pytest.mark.parametrize("io_uring", WRITERS)
def test_a_broadcast_larger_than_one_ring_submission_reaches_everyone(server, io_uring):
    """1,100 connections: more sends than one submission holds (1,024), so the ring is
    submitted in parts, each send's bytes still valid until its part is made."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4096)), hard))
    many = 1_100
    raws = []
    try:
        for k in range(many):
            raw = RawClient(server.port, f"/ws?nickname=r{k}")
            assert raw.status == 101
            raws.append(raw)
        text = f"to all {unique()}"

        async def body():
            sender = await Client.connect(f"{server.url}/ws?nickname=announcer")
            await sender.send({"op": "broadcast", "message": text})
            await sender.expect("broadcast", message=text)
            await sender.close()

        run(body())

        def got_it(frames):
            return any(op == 1 and json.loads(p).get("message") == text for op, p in frames)

        for raw in raws:
            frames = raw.read_frames(got_it, 10)
            assert got_it(frames), frames[-3:]
    finally:
        for raw in raws:
            raw.close()
    m = check_writer(server, io_uring, sends_at_least=many)
    if io_uring == "true" and m["chat_io_uring"] == 1:
        assert m["chat_io_uring_submits_total"] >= 2
