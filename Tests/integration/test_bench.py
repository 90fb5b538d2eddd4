"""chat-bench, the benchmark tool, against a real chat-server: what it reports must be
true (every message counted once, nothing invented), with both of its readers."""
import json
import subprocess

import pytest

from harness import BENCH_BIN, ChatServer, unique

from test_fanout import kernel_allows_io_uring


@pytest.fixture(scope="module")
def server(redis):
    s = ChatServer(redis, "bench", env={"RATE_LIMIT": "0", "MAX_CHANNELS_PER_CONNECTION": "1000"})
    yield s
    s.stop()


def chat_bench(*args, timeout=120) -> dict:
    out = subprocess.run([str(BENCH_BIN), *args], capture_output=True, text=True, timeout=timeout)
    assert out.stdout.strip(), out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("reads", ["ring", "read"])
def test_pubsub_counts_every_delivery_once(server, reads):
    prefix = unique("b")
    subscribers, channels, rate, seconds = 60, 4, 40, 1.5
    r = chat_bench("pubsub", "--subscribers", str(subscribers), "--channels", str(channels), "--channel-prefix", prefix,
                   "--rate", str(rate), "--duration", str(seconds), "--drain", "2", "--settle", "0.5",
                   "--url", f"ws://127.0.0.1:{server.port}/ws?nickname={prefix}s{{i}}",
                   "--join", '{"op":"join","channel":"{ch}"}', "--ready", '"type":"joined"',
                   "--publish", "ws", "--publish-url", f"ws://127.0.0.1:{server.port}/ws?nickname={prefix}pub",
                   "--reads", reads, "--server-pids", str(server.proc.pid))
    ring = reads == "ring" and kernel_allows_io_uring()
    assert r["reads"] == ("ring" if ring else "read")
    assert (r["ring_reads"] > r["expected"] // 2) if ring else (r["ring_reads"] == 0)  # most reads carry one message
    assert r["connected"] == r["ready"] == subscribers
    assert r["published"] == int(rate * seconds)
    # Round-robin over the channels, 15 subscribers each: every message to 15.
    assert r["expected"] == r["published"] * subscribers // channels
    assert r["delivered"] == r["expected"] and r["lost"] == 0 and r["duplicates"] == 0
    assert r["failures"] == 0
    assert 0 <= r["publish_late"] <= r["published"]
    lat = r["latency_ms"]
    assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]
    assert r["server_cpu_us_per_delivery"] > 0 and r["tool_cpu_cores"] > 0


def test_idle_reports_memory_per_connection(server):
    r = chat_bench("idle", "--subscribers", "300", "--hold", "1",
                   "--url", f"ws://127.0.0.1:{server.port}/ws?nickname={unique('i')}{{i}}",
                   "--server-pids", str(server.proc.pid))
    assert r["connected"] == r["ready"] == 300
    assert r["server_kib_per_connection"] > 0


@pytest.mark.parametrize("args,mentions", [
    (["pubsub", "--url", "ws://localhost:1/ws", "--publish", "ws", "--publish-url", "ws://127.0.0.1:1/ws"], "numeric IPv4 host"),
    (["pubsub", "--rate", "inf", "--publish", "ws", "--publish-url", "ws://127.0.0.1:1/ws"], "--rate"),
    (["pubsub", "--shard", "0/0", "--publish", "ws", "--publish-url", "ws://127.0.0.1:1/ws"], "--shard"),
    (["idle", "--server-pids", "abc"], "--server-pids"),
    (["idle", "--bogus", "1"], "unknown option --bogus"),
    (["idle", "--bogus"], "not an option"),
])
def test_bad_command_lines_are_usage_errors_not_crashes(args, mentions):
    out = subprocess.run([str(BENCH_BIN), *args], capture_output=True, text=True, timeout=10)
    assert out.returncode == 2 and mentions in out.stderr, out


def test_a_run_that_loses_a_process_says_so(redis):
    """A subscriber process (the tool splits) or the server dying mid-run: a JSON line
    with "error" and exit status 1, not a hang or numbers from a dead server."""
    import os
    import signal
    from harness import metrics, wait_until
    server = ChatServer(redis, "bench-loss", env={"RATE_LIMIT": "0", "MAX_CHANNELS_PER_CONNECTION": "1000"})
    prefix = unique("k")
    cmd = [str(BENCH_BIN), "pubsub", "--subscribers", "200", "--per-process", "100", "--rate", "20", "--duration", "4", "--timeout", "20",
           "--channel-prefix", prefix, "--url", f"ws://127.0.0.1:{server.port}/ws?nickname={prefix}s{{i}}",
           "--join", '{"op":"join","channel":"{ch}"}', "--ready", '"type":"joined"',
           "--publish", "ws", "--publish-url", f"ws://127.0.0.1:{server.port}/ws?nickname={prefix}pub", "--server-pids", str(server.proc.pid)]
    try:
        def published():
            return metrics(server)["chat_messages_published_total"]

        def run_and(kill):
            before = published()
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)

            def publishing():  # the publisher starts once every subscriber is ready
                assert p.poll() is None, f"chat-bench ended before it published: {p.communicate()[0]}"
                return published() > before
            wait_until(publishing, timeout=30, what="every subscriber ready and the publisher publishing")
            kill(p)
            out, _ = p.communicate(timeout=60)
            return p.returncode, json.loads(out.strip().splitlines()[-1])

        rc, r = run_and(lambda p: os.kill(int(open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()[0]), signal.SIGKILL))
        assert rc == 1 and "exited before it reported" in r["error"], r
        rc, r = run_and(lambda p: server.proc.kill())
        assert rc == 1 and "went away" in r["error"], r
    finally:
        server.stop()


def test_subscribers_that_cannot_all_connect_end_the_run_at_once(redis):
    """Refused upgrades are not retried, so once every subscriber is ready or failed the
    tool says so instead of waiting out --timeout (120 s here)."""
    server = ChatServer(redis, "bench-full", env={"MAX_CONNECTIONS": "50"})
    prefix = unique("f")
    try:
        out = subprocess.run([str(BENCH_BIN), "idle", "--subscribers", "80", "--timeout", "120",
                              "--url", f"ws://127.0.0.1:{server.port}/ws?nickname={prefix}s{{i}}"],
                             capture_output=True, text=True, timeout=60)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        assert out.returncode == 1 and "subscribers failed before all were ready" in r["error"], r
        assert r["ready"] == 50 and r["failures"] == 30 and "503" in r["first_error"], r
    finally:
        server.stop()


def test_join_without_a_ready_marker_means_ready_once_sent(server):
    """--join without --ready: subscribers and publisher are ready once their join is
    sent (as --help says), and the run is measured (the settle time covers the joins)."""
    prefix = unique("n")
    r = chat_bench("pubsub", "--subscribers", "20", "--channels", "2", "--channel-prefix", prefix, "--rate", "20", "--duration", "1",
                   "--settle", "1", "--drain", "1", "--timeout", "20",
                   "--url", f"ws://127.0.0.1:{server.port}/ws?nickname={prefix}s{{i}}", "--join", '{"op":"join","channel":"{ch}"}',
                   "--publish", "ws", "--publish-url", f"ws://127.0.0.1:{server.port}/ws?nickname={prefix}pub", timeout=60)
    assert "error" not in r and r["ready"] == 20 and r["published"] == 20 and r["delivered_ratio"] == 1, r
