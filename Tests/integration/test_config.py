"""Configuration, command line and logs of the real binary."""
import subprocess

from harness import LOG_DIR, SERVER_BIN, ChatServer, RedisServer, wait_until


def run_binary(args, env=None, cwd=None):
    return subprocess.run([str(SERVER_BIN)] + args, capture_output=True, text=True, timeout=10,
                          env={"PATH": "/usr/bin:/bin", **(env or {})}, cwd=cwd or LOG_DIR)


def test_help_and_version():
    out = run_binary(["--help"])
    assert out.returncode == 0
    for key in ("REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB", "PORT", "APP_DEBUG", "LOG_TO_FILE",
                "LOG_FILE_PATH", "LOG_ERROR_FILE_PATH", "--redis-host"):
        assert key in out.stdout
    out = run_binary(["--version"])
    assert out.returncode == 0 and out.stdout.startswith("chat-server ")


def test_invalid_values_exit_2_naming_the_key():
    cases = [
        ([], {"PORT": "abc"}, "PORT"),
        (["--port", "70000"], {}, "PORT"),
        (["--redis-db=-1"], {}, "REDIS_DB"),
        ([], {"APP_DEBUG": "maybe"}, "APP_DEBUG"),
        (["--no-such-flag"], {}, "--no-such-flag"),
        (["--env-file", "/nonexistent/.env"], {}, "/nonexistent/.env"),
    ]
    for args, env, name in cases:
        out = run_binary(args, env)
        assert out.returncode == 2, (args, env, out)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and name in lines[0], out.stderr


def test_env_file_then_environment_then_flags(tmp_path, redis):
    """`.env` < environment < flags, checked on a running server."""
    (tmp_path / ".env").write_text(f"# local settings\nREDIS_PORT={redis.port}\nINSTANCE_ID=from-dotenv\nPORT=1\n")
    server = ChatServer(redis, "precedence", env={"INSTANCE_ID": "from-env"}, args=["--env-file", str(tmp_path / ".env")])
    try:
        # PORT=1 from .env lost to the environment's PORT; INSTANCE_ID from the environment won over .env.
        assert server.health()[1]["instance"] == "from-env"
    finally:
        server.stop()
    flagged = ChatServer(redis, "precedence2", env={"INSTANCE_ID": "from-env"}, args=["--instance-id", "from-flag"])
    try:
        assert flagged.health()[1]["instance"] == "from-flag"
    finally:
        flagged.stop()


def test_healthcheck_mode_finds_the_port_wherever_it_was_set(tmp_path, redis):
    """`chat-server --healthcheck` (the container's HEALTHCHECK) reads the settings like
    the server, so a PORT set only in .env is probed too; 1 when nothing answers 200."""
    from harness import free_port
    port = free_port()
    (tmp_path / ".env").write_text(f"PORT={port}\nREDIS_PORT={redis.port}\n")
    server = ChatServer(redis, "probe", port=port, args=["--env-file", str(tmp_path / ".env")])
    try:
        out = run_binary(["--healthcheck"], cwd=tmp_path)  # PORT only from ./.env here
        assert out.returncode == 0 and f"127.0.0.1:{port}: 200" in out.stdout, out
    finally:
        server.stop()
    out = run_binary(["--healthcheck"], cwd=tmp_path)  # stopped: nothing answers
    assert out.returncode == 1 and "no answer" in out.stdout, out


def test_logs_to_files_with_folders_created(tmp_path):
    redis = RedisServer(password="s3cret")
    log = tmp_path / "nested" / "dir" / "chat.log"
    errors = tmp_path / "other" / "errors.log"
    # A wrong password: the server keeps running, reports 503 and logs the error.
    server = ChatServer(None, "logs", env={"REDIS_PORT": str(redis.port), "REDIS_PASSWORD": "wrong",
                                           "LOG_TO_FILE": "true", "LOG_FILE_PATH": str(log),
                                           "LOG_ERROR_FILE_PATH": str(errors), "APP_DEBUG": "false"},
                        wait_ready=False)
    try:
        wait_until(lambda: server.health()[0] == 503, what="healthz 503")
        wait_until(lambda: errors.exists() and "redis setup command refused" in errors.read_text(), what="error log line")
        text = log.read_text()
        assert " INFO  listening" in text and " ERROR " in text
        assert " DEBUG " not in text  # APP_DEBUG off
        assert " INFO " not in errors.read_text()
    finally:
        server.stop()
        redis.stop()


def test_make_run_script_honours_flags_and_stops_gracefully_on_ctrl_c(tmp_path):
    """scripts/run-local.sh (`make run`): the Redis flags win over .env when it decides
    where to start a private redis-server, whose own output goes to a log file, and a Ctrl-C (SIGINT to the terminal's
    process group) stops the server once, gracefully, then that Redis."""
    import asyncio
    import os
    import signal

    import websockets
    from harness import ROOT, free_port
    port, redis_port = free_port(), free_port()
    (tmp_path / ".env").write_text("REDIS_PORT=1\n")  # the flag below must win
    log = open(tmp_path / "run.log", "w")
    proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "run-local.sh"), "--port", str(port), f"--redis-port={redis_port}",
                             "--host", "127.0.0.1"], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "RUN_BIN": str(SERVER_BIN)}, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as at a terminal
    try:
        def healthy():
            try:
                import urllib.request
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200
            except Exception:
                return False
        wait_until(healthy, timeout=15, what="make run's server ready")

        async def client():
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws?nickname=a") as ws:
                await ws.recv()  # welcome
                os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
                events = []
                try:
                    while True:
                        events.append(await ws.recv())
                except websockets.ConnectionClosed as e:
                    return events, e.rcvd.code

        events, code = asyncio.run(asyncio.wait_for(client(), 15))
        assert code == 1001 and any('"event":"shutdown"' in e for e in events)
        assert proc.wait(15) == 0
        text = (tmp_path / "run.log").read_text()
        assert f"starting redis-server there" in text and f":{redis_port}" in text
        # Redis's banner and warnings go to its own log, named in that line, not to the terminal.
        redis_log = ROOT / "build" / "run" / f"redis-{redis_port}.log"
        assert f"its log: {redis_log}" in text and "Redis version=" in redis_log.read_text()
        assert "Redis is starting" not in text and "overcommit" not in text and "Redis version" not in text
        assert "second signal" not in text and " INFO  stopped " in text
        wait_until(lambda: subprocess.run(["redis-cli", "-p", str(redis_port), "ping"], capture_output=True).stdout.strip() != b"PONG",
                   what="the session's redis-server stopped")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
