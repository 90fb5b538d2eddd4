"""WORKERS=N: a supervisor and N worker processes sharing one port."""
import asyncio
import json
import os
import signal
import subprocess
import time

from harness import ChatServer, Client, free_port, metrics, run, unique, wait_until


def port_open(port):
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False



def children(pid):
    text = open(f"/proc/{pid}/task/{pid}/children").read().split()
    return [int(p) for p in text]


def free_ports(n):
    """A base port with the n ports from it free (for WORKER_PORTS)."""
    import socket
    for _ in range(50):
        base, held = free_port(), []
        try:
            for p in range(base, base + n):
                sock = socket.socket()
                held.append(sock)
                sock.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    raise RuntimeError("no run of free ports")


def test_workers_share_the_port_restart_and_drain(redis, tmp_path):
    log = tmp_path / "chat.log"
    env_file = tmp_path / "settings.env"
    env_file.write_text("RATE_LIMIT=50\n")
    own = free_ports(3)
    s = ChatServer(redis, "sup", env={"WORKERS": "3", "LOG_TO_FILE": "true", "LOG_FILE_PATH": str(log),
                                      "LOG_ERROR_FILE_PATH": str(tmp_path / "error.log"), "WORKER_PORTS": str(own)},
                   args=["--env-file", str(env_file)])
    channel = unique()
    try:
        wait_until(lambda: len(children(s.proc.pid)) == 3, what="three workers")
        workers = children(s.proc.pid)
        # Workers show up under the server's name, not as "exe" (/proc/self/exe).
        assert all(open(f"/proc/{w}/comm").read().strip() == "chat-server" for w in workers)
        # WORKER_PORTS: each worker also answers alone on its own port (to scrape it).
        import urllib.request
        def health(port):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                return json.loads(r.read())["instance"]
        wait_until(lambda: all(port_open(own + i) for i in range(3)), what="the workers' own ports")
        assert [health(own + i) for i in range(3)] == ["sup-0", "sup-1", "sup-2"]
        # A worker restarted later runs with the settings the server started with,
        # whatever the file says by then.
        env_file.write_text("RATE_LIMIT=fast\n")

        async def chat():
            # Connections spread over the workers (distinct instances), and a message
            # crosses from one worker to the others through Redis.
            clients = [await Client.connect(f"{s.url}/ws?nickname=u{i}") for i in range(12)]
            instances = {(await c.expect("welcome"))["instance"] for c in clients}
            assert len(instances) >= 2, instances
            assert all(i.startswith("sup-") for i in instances)
            for c in clients:
                # A worker listens before its Redis connections are up: a join that lands
                # there first is refused as `unavailable` (the documented retry case).
                while True:
                    await c.send({"op": "join", "channel": channel})
                    e = await c.recv_until(lambda e: e["type"] in ("joined", "error"))
                    if e["type"] == "joined":
                        break
                    assert e["code"] == "unavailable", e
                    await asyncio.sleep(0.1)
            await clients[0].send({"op": "send", "channel": channel, "message": "to all workers"})
            for c in clients:
                await c.expect("message", message="to all workers")
            for c in clients:
                await c.close()

        run(chat())

        # A worker that dies is replaced.
        os.kill(workers[0], signal.SIGKILL)
        wait_until(lambda: len(children(s.proc.pid)) == 3 and workers[0] not in children(s.proc.pid), timeout=10,
                   what="the dead worker replaced")
        assert "worker died, restarting" in s.log()
        wait_until(lambda: s.log().count(" INFO  listening ") == 4, what="the new worker listening")
        assert "refused its configuration" not in s.log()

        # SIGHUP: the supervisor and every worker reopen their log files.
        os.rename(log, tmp_path / "chat.log.1")
        s.signal(signal.SIGHUP)
        wait_until(lambda: log.exists() and log.read_text().count("log files reopened") == 4, what="logs reopened")

        # SIGTERM drains every worker and the supervisor exits 0.
        async def drained():
            c = await Client.connect(f"{s.url}/ws?nickname=last")
            await c.expect("welcome")
            s.signal(signal.SIGTERM)
            try:
                while True:
                    await c.recv()
            except Exception as e:
                assert e.rcvd.code == 1001

        run(drained())
        assert s.proc.wait(15) == 0
        assert "supervisor stopped" in s.log()
    finally:
        s.stop()


def test_workers_die_with_the_supervisor(redis):
    s = ChatServer(redis, "orphan", env={"WORKERS": "2"})
    try:
        wait_until(lambda: len(children(s.proc.pid)) == 2, what="two workers")
        workers = children(s.proc.pid)
        s.proc.kill()
        s.proc.wait()
        wait_until(lambda: not any(os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z"
                                   for p in workers), timeout=10, what="workers gone")
    finally:
        s.stop()


def test_a_port_in_use_is_one_clear_error():
    """A port held by another program (without SO_REUSEPORT): the supervisor says so
    once and exits, instead of workers restarting forever."""
    from test_config import run_binary
    import socket
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        out = run_binary(["--workers", "2", "--host", "127.0.0.1", "--port", str(port)], {})
        assert out.returncode == 1
        assert "cannot start" in out.stdout + out.stderr
    finally:
        holder.close()
