#!/usr/bin/env python3
"""`make bench`: chat-server and Nchan measured by the same tool in the same run.

Starts a private redis-server, then for every workload starts each server fresh,
pinned to CPU 0, and runs chat-bench pinned to CPU 1; prints a table of both with
the ratio ours/peer and writes docs/BENCHMARKS.md (results, machine, exact commands).

    python3 bench/run.py [--only W1,W3] [--seconds 20] [--out docs/BENCHMARKS.md]
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "build" / "bench"
SERVER = ROOT / ".build" / "release" / "chat-server"
BENCH = ROOT / ".build" / "release" / "chat-bench"
SERVER_CPU, TOOL_CPU = "0", "1"
REDIS_CPU = os.environ.get("BENCH_REDIS_CPU", TOOL_CPU)
LADDER = [10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120, 150, 200, 250, 300, 400, 500]
W6_CONNECTIONS, W6_WORKERS = 200_000, 14
# W3RT: W3 again with the server, Redis and the tool as real-time tasks (SCHED_FIFO),
# so that nothing else on the machine delays their wake-ups. Set while it runs.
REALTIME_PRIORITY = "10"
SCHED = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Redis:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(["taskset", "-c", REDIS_CPU, "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--maxclients", "100000", "--logfile", str(RUN / "redis.log")])
        wait_port(self.port)

    def flush(self):
        subprocess.run(["redis-cli", "-p", str(self.port), "FLUSHALL"], capture_output=True, check=True)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Ours:
    name = "chat-server"
    env_line_example = ("RATE_LIMIT=0 MAX_CHANNELS_PER_CONNECTION=10000 MAX_CONNECTIONS_PER_ADDRESS=0 MAX_HANDSHAKES_PER_ADDRESS=0 CHANNEL_CREATE_RATE=0 "
                        "ECHO_ENABLED=false (W6: WORKERS=14)")

    def __init__(self, redis, workers=1):
        self.port = free_port()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOST": "127.0.0.1", "PORT": str(self.port),
               "REDIS_PORT": str(redis.port), "RATE_LIMIT": "0", "MAX_CHANNELS_PER_CONNECTION": "10000",
               # every benchmark client comes from 127.0.0.1: no per-address bounds
               "MAX_CONNECTIONS_PER_ADDRESS": "0", "MAX_HANDSHAKES_PER_ADDRESS": "0", "CHANNEL_CREATE_RATE": "0",
               "ECHO_ENABLED": "false", "WORKERS": str(workers), "WEB_ROOT": ""}
        if "IO_URING" in os.environ:  # to compare the two fan-out writers
            env["IO_URING"] = os.environ["IO_URING"]
        self.env_line = " ".join(f"{k}={v}" for k, v in env.items() if k != "PATH")
        self.command = SCHED + ["taskset", "-c", SERVER_CPU, str(SERVER)]
        self.log = open(RUN / f"ours-{self.port}.log", "w")
        self.proc = subprocess.Popen(self.command, env=env, cwd=RUN, stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port)
        time.sleep(0.3)  # Redis connections

    def subscriber(self):
        return ["--url", f"ws://127.0.0.1:{self.port}/ws?nickname=s{{i}}", "--join", '{"op":"join","channel":"{ch}"}',
                "--ready", '"type":"joined"']

    def publisher(self):
        return ["--publish", "ws", "--publish-url", f"ws://127.0.0.1:{self.port}/ws?nickname=publisher"]

    def pids(self):
        return [self.proc.pid]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class Nchan:
    name = "nchan"
    redis_mode = True

    def __init__(self, redis, workers=1):
        self.port = free_port()
        self.dir = RUN / f"nchan-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        template = (ROOT / "bench" / "nchan.conf.in").read_text()
        conf = (template.replace("@MODULES@", "/usr/lib/nginx/modules").replace("@RUN@", str(self.dir))
                .replace("@UPSTREAM@", f"    upstream chat_redis {{\n        nchan_redis_server redis://127.0.0.1:{redis.port};\n    }}\n"
                         if self.redis_mode else "")
                .replace("@PORT@", str(self.port))
                .replace("@REDIS@", "nchan_redis_pass chat_redis;" if self.redis_mode else "")
                .replace("worker_processes 1;", f"worker_processes {workers};"))
        (self.dir / "nginx.conf").write_text(conf)
        self.command = SCHED + ["taskset", "-c", SERVER_CPU, "nginx", "-c", str(self.dir / "nginx.conf"), "-p", str(self.dir)]
        self.env_line = ""
        self.log = open(self.dir / "out.log", "w")
        self.proc = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port)
        time.sleep(0.3)

    def subscriber(self):
        return ["--url", f"ws://127.0.0.1:{self.port}/sub/{{ch}}"]

    def publisher(self):
        return ["--publish", "http", "--publish-url", f"http://127.0.0.1:{self.port}/pub/{{ch}}"]

    def pids(self):
        return [self.proc.pid]  # the master; chat-bench adds its worker children

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)  # graceful
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class NchanMemory(Nchan):
    """Nchan without Redis (messages in nginx's shared memory): the second column."""
    name = "nchan-memory"
    redis_mode = False


PEERS = ("nchan", "nchan-memory")
COMMANDS = []


def bench(server, args):
    reads = ["--reads", os.environ["BENCH_READS"]] if os.environ.get("BENCH_READS") else []  # to compare the tool's two readers
    cmd = SCHED + ["taskset", "-c", TOOL_CPU, str(BENCH)] + args + reads + ["--server-pids", ",".join(map(str, server.pids()))]
    shown = " ".join(("'" + a + "'") if any(c in a for c in ' {}"*') else a for a in cmd)
    COMMANDS.append((server.name, shown.replace(str(BENCH), "chat-bench")))
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
    result = json.loads(line)
    if out.returncode != 0 and "error" not in result:
        result["error"] = out.stderr.strip()[-300:] or "exit %d" % out.returncode
    return result


@contextlib.contextmanager
def realtime(redis):
    """Everything the run starts, and the running redis-server, as SCHED_FIFO tasks."""
    if subprocess.run(["chrt", "-f", REALTIME_PRIORITY, "true"], capture_output=True).returncode != 0:
        raise RuntimeError("real-time scheduling is not permitted here (needs root or CAP_SYS_NICE)")
    subprocess.run(["chrt", "-a", "-f", "-p", REALTIME_PRIORITY, str(redis.proc.pid)], check=True, capture_output=True)
    SCHED[:] = ["chrt", "-f", REALTIME_PRIORITY]
    try:
        yield
    finally:
        SCHED.clear()
        subprocess.run(["chrt", "-a", "-o", "-p", "0", str(redis.proc.pid)], capture_output=True)


def pubsub(server, subs, channels, rate, seconds, drain=2):
    return bench(server, ["pubsub", "--subscribers", str(subs), "--channels", str(channels), "--rate", str(rate),
                          "--duration", str(seconds), "--drain", str(drain), "--timeout", "300"] + server.subscriber() + server.publisher())


def passes(r):
    return "error" not in r and r.get("delivered_ratio", 0) >= 0.999 and r["latency_ms"]["p99"] <= 100


def run_workload(key, redis, kinds, seconds):
    results = {}
    for kind in kinds:
        started = []
        original = kind

        def kind(redis, workers=1, _k=original):  # remember what was started, to stop it on errors
            server = _k(redis, workers)
            started.append(server)
            return server
        kind.name = original.name
        try:
            run_kind(key, redis, kind, seconds, results)
        finally:
            for server in started:
                if server.proc.poll() is None:
                    server.stop()
    return results


def run_kind(key, redis, kind, seconds, results):
    if True:
        def fresh():
            redis.flush()
            return kind(redis)
        if key == "W1":
            s = fresh(); results[kind.name] = pubsub(s, 1000, 1, 100, seconds); s.stop()
        elif key == "W2":
            s = fresh(); results[kind.name] = pubsub(s, 10000, 1, 20, seconds); s.stop()
        elif key in ("W3", "W3RT"):
            with realtime(redis) if key == "W3RT" else contextlib.nullcontext():
                s = fresh(); results[kind.name] = pubsub(s, 10000, 1000, 1000, seconds); s.stop()
        elif key == "W4":
            steps = []
            for rate in LADDER:
                s = fresh()
                r = pubsub(s, 5000, 1, rate, min(seconds, 10))
                s.stop()
                r["step_passed"] = passes(r)
                steps.append(r)
                print(f"  {kind.name} W4 {rate} msg/s: delivered {r.get('delivered_ratio')} p99 {r.get('latency_ms', {}).get('p99')} ms"
                      f" -> {'pass' if r['step_passed'] else 'FAIL'}", flush=True)
                if not r["step_passed"]:
                    break
            best = max([r["rate"] for r in steps if r["step_passed"]], default=0)
            results[kind.name] = {"best_rate": best, "steps": steps,
                                  "cpu_us_at_10": steps[0].get("server_cpu_us_per_delivery") if steps else None}
        elif key == "W5":
            s = fresh()
            results[kind.name] = bench(s, ["idle", "--subscribers", "10000", "--hold", "3", "--timeout", "120"] + s.subscriber())
            s.stop()
        elif key == "W6":
            # 200,000 connections on one channel, each receiving three messages; as many
            # worker processes as that needs at ~19,700 descriptors each.
            redis.flush()
            s = kind(redis, workers=W6_WORKERS)
            results[kind.name] = bench(s, ["pubsub", "--subscribers", str(W6_CONNECTIONS), "--channels", "1", "--rate", "1",
                                           "--duration", "3", "--drain", "20", "--settle", "15", "--timeout", "900"]
                                       + s.subscriber() + s.publisher())
            s.stop()
        print(f"{key} {kind.name}: {json.dumps(results[kind.name])[:400]}", flush=True)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}"


def machine():
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except Exception:
            return "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "os": version(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
            "redis": version(["redis-server", "--version"]), "nginx": version(["sh", "-c", "nginx -v 2>&1"]),
            "nchan": version(["sh", "-c", "dpkg-query -W -f '${Version}' libnginx-mod-nchan"]),
            "swift": version(["swift", "--version"])}


# What each step of the fan-out work bought, measured with bench/callgrind.sh at the time
# (user-space instructions per delivery; 200 subscribers, one channel). The current value
# is measured again by every `make bench` (below the table).
OPTIMIZATION_LOG = [
    ("first version: each recipient's copy appended to its libevent buffer (malloc, memcpy, writev, free)", 1808),
    ("one batch per channel per loop turn, written to every member with one send() from the shared bytes", 507),
    ("fan-out loop without reference counting; ASCII fast paths for name checks and message length", 376),
    ("sends queued on an io_uring ring, one system call per batch (queueing and reaping cost ~50 instructions, "
     "the system calls they save cost far more in the kernel); member-list sorting counted in this figure too", 427),
]


def callgrind():
    out = subprocess.run([str(ROOT / "bench" / "callgrind.sh")], capture_output=True, text=True, timeout=900)
    line = (out.stdout.strip().splitlines() or [""])[-1]
    return line.replace("callgrind: ", "") if line.startswith("callgrind:") else f"(failed: {out.stderr.strip()[-200:]})"


def report(results, seconds, out_path, instructions=None):
    m = machine()
    rows = []
    def row(name, ours, peer, better, memory=None):
        rows.append((name, ours, peer, better, memory))
    def get(w, server, *path):
        r = results.get(w, {}).get(server)
        for p in path:
            if not isinstance(r, dict) or p not in r:
                return None
            r = r[p]
        return r
    for w, label in [("W1", "W1 1×1,000 subs, 100 msg/s"), ("W2", "W2 1×10,000 subs, 20 msg/s"), ("W3", "W3 1,000 ch × 10 subs, 1,000 msg/s"),
                     ("W3RT", f"W3 again, server + Redis + tool real-time (chrt -f {REALTIME_PRIORITY})")]:
        if w not in results:
            continue
        for field, name, better in [("delivered_ratio", "delivered", "higher"), (("latency_ms", "p50"), "p50 ms", "lower"),
                                    (("latency_ms", "p99"), "p99 ms", "lower"), (("latency_ms", "p999"), "p99.9 ms", "lower"),
                                    ("server_cpu_us_per_delivery", "server CPU µs/delivery", "lower"), ("tool_cpu_cores", "tool CPU (cores)", "")]:
            path = field if isinstance(field, tuple) else (field,)
            row(f"{label}: {name}", get(w, "chat-server", *path), get(w, "nchan", *path), better, get(w, "nchan-memory", *path))
    if "W4" in results:
        row("W4 1×5,000 subs: highest rate with ≥99.9% delivered and p99 ≤ 100 ms (msg/s)", get("W4", "chat-server", "best_rate"), get("W4", "nchan", "best_rate"), "higher",
            get("W4", "nchan-memory", "best_rate"))
        row("W4 server CPU µs/delivery at 10 msg/s", get("W4", "chat-server", "cpu_us_at_10"), get("W4", "nchan", "cpu_us_at_10"), "lower",
            get("W4", "nchan-memory", "cpu_us_at_10"))
    if "W5" in results:
        row("W5 10,000 idle connections: server KiB per connection", get("W5", "chat-server", "server_kib_per_connection"),
            get("W5", "nchan", "server_kib_per_connection"), "lower", get("W5", "nchan-memory", "server_kib_per_connection"))
    if "W6" in results:
        row(f"W6 connections held ({W6_WORKERS} worker processes; target {W6_CONNECTIONS:,})", get("W6", "chat-server", "ready"), get("W6", "nchan", "ready"), "higher")
        row("W6 deliveries received / expected", get("W6", "chat-server", "delivered_ratio"), get("W6", "nchan", "delivered_ratio"), "higher")
        row("W6 p99 ms of a message to every connection", get("W6", "chat-server", "latency_ms", "p99"), get("W6", "nchan", "latency_ms", "p99"), "lower")

    def fmt(v):
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:.3f}".rstrip("0").rstrip(".")
        return str(v)

    lines = ["# Benchmarks", "",
             "Generated by `make bench` (bench/run.py); do not edit by hand. chat-server and its peer, "
             "[Nchan](https://nchan.io) (nginx + libnginx-mod-nchan, Redis mode), are measured by the same tool "
             "(`chat-bench`) in the same run, each server pinned to CPU 0 and the tool to CPU 1, one server worker "
             "process each, both going through the same redis-server. Ratio = chat-server / Nchan. The last two columns "
             "are Nchan keeping messages in nginx's shared memory only (no Redis, so a single server; W1–W5), for "
             "reference: chat-server always goes through Redis.", "",
             f"Run: {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}; {seconds} s per workload (W4: 10 s per step); payloads 64 bytes.", "",
             "| measure | chat-server | Nchan (Redis) | ratio | better | Nchan (memory) | ratio |", "|---|---|---|---|---|---|---|"]
    for name, ours, peer, better, memory in rows:
        numeric = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
        r = ratio(ours, peer) if numeric(ours) and numeric(peer) else "–"
        rm = ratio(ours, memory) if numeric(ours) and numeric(memory) else "–"
        lines.append(f"| {name} | {fmt(ours)} | {fmt(peer)} | {r} | {better} | {fmt(memory)} | {rm} |")
    if "W4" in results:
        lines += ["", "W4 ladder (rate: delivered ratio / p99 ms / server CPU µs per delivery):", ""]
        for server in ("chat-server",) + PEERS:
            steps = get("W4", server, "steps") or []
            if not steps:
                continue
            text = "; ".join(f"{s.get('rate')}: {s.get('delivered_ratio')} / {s.get('latency_ms', {}).get('p99')} / {s.get('server_cpu_us_per_delivery')}" for s in steps)
            lines.append(f"- {server}: {text}")
    limited = [f"{w} {srv}" for w in results for srv in ("chat-server",) + PEERS
               if isinstance(results[w].get(srv), dict) and (results[w][srv].get("tool_cpu_cores") or 0) >= 0.85]
    if limited:
        lines += ["", f"Tool near saturation (≥ 0.85 cores) in: {', '.join(limited)}; those numbers may be limited by the tool."]
    late = [f"{w} {srv}" for w in results for srv in ("chat-server",) + PEERS
            if isinstance(results[w].get(srv), dict) and (results[w][srv].get("publish_late") or 0) > 0.01 * (results[w][srv].get("published") or 0)]
    if late:
        lines += ["", f"Publisher late (over 1% of the messages sent 2 ms or more after they were due) in: {', '.join(late)}; "
                  "those went out in bursts, not at the fixed rate."]
    lines += ["", "## Instructions per delivery (callgrind)", "",
              "User-space instructions per delivery on the fan-out path, counted by `bench/callgrind.sh` "
              "(valgrind; repeatable whatever else the machine does). About nine tenths of the CPU per delivery is "
              "the kernel's TCP send path, which this does not count.", ""]
    lines += [f"| step | instructions per delivery |", "|---|---|"]
    lines += [f"| {what} | {n:,} |" for what, n in OPTIMIZATION_LOG]
    if instructions:
        lines += [f"| this run | {instructions} |"]
    lines += ["", "## Where the server's CPU goes at low rates", "",
              "Measured separately (2026-11-29 and -30, W1 against chat-server, 100,000 deliveries/s) with "
              "`perf record -e cpu-clock -F 4000 -g -p <server pid> -- sleep 8`. With one `send()` per delivery, "
              "94.6% of the server's CPU time was in the kernel and 5.4% in chat-server itself: the send path "
              "(`tcp_sendmsg` → `tcp_write_xmit` → loopback) and, because loopback delivers inline on the sending "
              "CPU, the *receiving* side's TCP work too (`tcp_v4_rcv`, `tcp_data_queue`, waking the reader in "
              "`sock_def_readable`). System calls are dear on this virtual machine (its kernel runs with the "
              "Spectre/Meltdown mitigations), so the fan-out now queues every member's send on an io_uring ring "
              "and makes them with one `io_uring_enter` per batch (up to 1,024 sends; `IO_URING`, "
              "docs/ARCHITECTURE.md). Same workload, same session, alternating runs of "
              "`IO_URING=true|false python3 bench/run.py --only W1 --seconds 10 --peer none`: 4.15 and 4.22 µs "
              "per delivery with the ring, 5.34 and 5.43 µs with `send()` — a fifth less. With the ring, 96% is "
              "still kernel time, of which about 40 points are the receiving side's softirq (work a remote "
              "client would do on its own machine) and 2% is chat-server's own code; what remains is TCP's "
              "per-packet work, the same for Nchan. A lower figure at low rates would take fewer packets per "
              "delivery, i.e. delaying messages on purpose to merge them, which this server does not do "
              "(latency first); under load (W2) one loop turn merges messages by itself.", "",
              "Side by side (2026-11-30, the same perf command on each server's process during W1 and during W4 at "
              "10 msg/s, 8 s each): per delivery, chat-server spent 5.21 µs (W1) and 5.70 µs (W4) in the kernel and "
              "0.11 µs in its own code; Nchan 5.39 and 6.13 µs in the kernel and 1.47 and 1.67 µs in nginx and "
              "its module. The kernel's share is the same TCP-over-loopback work for both (io_uring saves "
              "chat-server the system call per send, 3–7% of it). So these two "
              "workloads cannot go much below 0.65 of Nchan on this machine (single runs move by a few hundredths either way): the chat-bench runs in the same session measured 0.66 (W1) "
              "and 0.68 (W4), and a server whose own code cost nothing would have measured 0.65 and 0.67. "
              "Tried and dropped: io_uring's registered files (W1; the cache miss on "
              "the socket's file moves from `fget` to `sock_from_file`, no gain); in W4, 64 sends per `io_uring_enter` "
              "instead of 1,024 (no difference); the system's congestion control `cubic` instead of `bbr` "
              "(within noise); RFS on `lo` so that each side's receive work runs on its own CPU, as with remote "
              "clients (both servers' CPU per delivery rose by about half: a cross-CPU interrupt per packet "
              "on this virtual machine).", ""]
    lines += ["", "## W3's latency tail", "",
              "Until 2026-11-30 chat-bench's publisher ran on libevent's default clock (CLOCK_MONOTONIC_COARSE, which "
              "moves in 4 ms scheduler ticks here), so its 1 ms pacing timer fired every 4 ms and W3's 1,000 msg/s went "
              "out as 250 bursts of four a second, for both servers: the last message of a burst waited behind the "
              "fan-outs of the other three. On the precise clock (`publish_late` in the tool's JSON counts messages "
              "sent 2 ms or more after they were due) chat-server's W3 p50 went from 0.40–0.46 to about 0.2 ms and its "
              "p99 from 1.4–2.2 to 0.63–1.35 ms (alternating 15 s runs, chat-server only). Its CPU per delivery rose "
              "(~11.7 to 12.5–14.5 µs; Nchan's 18.1 to 19.4–22.3), since a burst had shared each wake-up among four messages.",
              "",
              "What is left of the tail is other work on this machine. Lining up the tool's slow deliveries with "
              "`perf record -k CLOCK_MONOTONIC -e sched:sched_switch -a`: every episode of 5–15 ms latencies coincides "
              "with the sandbox's own agent (PID 1, a tokio worker at nice -10) taking 3–7 ms slices for 30–60 ms every "
              "~3.1 s on both CPUs; a DAMON kernel thread also runs 2–3 ms every 0.5 s on CPU 0. A SCHED_FIFO probe "
              "waking every 1 ms on each CPU was not delayed in those episodes, so the virtual CPUs kept running: "
              "ordinary tasks were waiting for the agent. Hence the W3RT rows: the same workload with the server, Redis "
              "and the tool as real-time tasks (`chrt -f 10`), for every server alike, so that nothing else delays "
              "their wake-ups. (Running them at nice -15 instead helped less: p99 0.76–0.87 ms, p99.9 8–11 ms.) "
              "Per message chat-server makes one `io_uring_enter` (the fan-out), one `write` (the script call to "
              "Redis), three `read`s (the publisher's frame, the script's reply, the published message) and two "
              "`epoll_wait`s (strace).", ""]
    lines += ["", "## How it was measured", "",
              "- Each workload starts the server fresh (and FLUSHALL on Redis), waits until every subscriber is connected "
              "and subscribed, waits 1 s, publishes at the fixed rate, then waits 2 s for deliveries.",
              "- chat-server subscribers use `/ws` and the `join` op; its publisher is one WebSocket connection in the chat "
              "protocol that joins every channel, so it also receives its own messages (`publisher_echoes`, counted as "
              "deliveries in the CPU figure). Nchan subscribers use WebSocket at `/sub/<ch>`; its publisher POSTs to "
              "`/pub/<ch>` on keep-alive connections.",
              "- The tool's subscribers read through io_uring: every socket that became readable in a loop turn gets a "
              "queued `recv`, and one system call makes them all (`--reads ring`, the default; `--reads read` is one "
              "`read()` per socket). Same reader for both servers; it took the tool from 0.80 to 0.75 cores in W2 "
              "(alternating 10 s runs, 2026-11-30), where one `read()` per socket had it near saturation. Most of what "
              "is left is the kernel's: each read of pushed data sends an ACK at once, and on loopback that ACK's "
              "processing runs on the tool's CPU too.",
              "- The publisher sends when a 1 ms timer on the precise monotonic clock finds messages due (rate × elapsed "
              "time), so a late tick sends what is due at once; `publish_late` counts messages sent 2 ms or more "
              "after they were due, and the report flags a run where that is over 1% of them.",
              "- Latency: from the publisher's send to the subscriber's read (monotonic clock in the payload). Server CPU: "
              "user+system time of the server processes (their CPU-time clocks, to the nanosecond) over the measured interval, divided by deliveries. "
              "Tool CPU: the benchmark's own CPU in cores; near 1.0 would mean the tool limits the result.",
              "- W5 is the growth of the server's RSS (user space; kernel socket buffers are not included for either) "
              "divided by the number of connections.",
              "", "Machine:", ""]
    lines += [f"- {k}: {v}" for k, v in m.items()]
    lines += ["", "Server commands:", "",
              "```", f"chat-server: {Ours.env_line_example} taskset -c 0 .build/release/chat-server",
              "nchan: taskset -c 0 nginx -c build/bench/nchan-PORT/nginx.conf (from bench/nchan.conf.in; the memory "
              "column without the upstream and nchan_redis_pass lines)",
              f"W3RT: the same commands under chrt -f {REALTIME_PRIORITY}, and the running redis-server switched with "
              f"chrt -a -f -p {REALTIME_PRIORITY} PID (back with chrt -a -o -p 0 PID afterwards)", "```", "",
              "Benchmark commands (ports vary per run):", "", "```"]
    seen = set()
    for name, cmd in COMMANDS:
        key = (name, cmd.split(" --server-pids")[0])
        if key in seen:
            continue
        seen.add(key)
        lines.append(f"# {name}\n{key[1]}")
    lines += ["```", ""]
    text = "\n".join(lines)
    if out_path:
        Path(out_path).write_text(text)
    print("\n".join(l for l in lines if l.startswith("|")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="W1,W2,W3,W3RT,W4,W5,W6")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    ap.add_argument("--peer", default="both", choices=["both", "nchan", "none"],
                    help="both = Nchan with Redis and (W1-W5) Nchan in memory")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from build/bench/results.json")
    args = ap.parse_args()
    RUN.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        saved = json.loads((RUN / "results.json").read_text())
        COMMANDS.extend(tuple(c) for c in saved["commands"])
        report(saved["results"], saved["seconds"], args.out, saved.get("instructions"))
        return
    for tool in ("taskset", "redis-server", "nginx"):
        if not shutil.which(tool) and not (tool == "nginx" and args.peer == "none"):
            sys.exit(f"bench: {tool} is missing (make bench installs it)")
    redis = Redis()
    kinds = [Ours] + ([Nchan] if args.peer != "none" else [])
    results = {}
    try:
        for key in args.only.split(","):
            try:
                extra = [NchanMemory] if args.peer == "both" and key != "W6" else []
                results[key] = run_workload(key, redis, kinds + extra, args.seconds)
            except Exception as e:  # one broken workload must not lose the others
                print(f"{key}: failed: {e!r}", file=sys.stderr, flush=True)
                results[key] = {"error": repr(e)}
    finally:
        redis.stop()
        subprocess.run(["pkill", "-f", str(RUN)], capture_output=True)  # nothing of ours outlives the run
    instructions = callgrind() if not args.no_callgrind and shutil.which("valgrind") else None
    (RUN / "results.json").write_text(json.dumps({"results": results, "commands": COMMANDS, "seconds": args.seconds,
                                                  "instructions": instructions}, indent=1))
    report(results, args.seconds, args.out, instructions)


if __name__ == "__main__":
    main()
