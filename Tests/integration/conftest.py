import shutil

import pytest

from harness import API_KEY, LOG_DIR, ChatServer, RedisServer


def pytest_sessionstart(session):
    shutil.rmtree(LOG_DIR, ignore_errors=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)


def pytest_sessionfinish(session, exitstatus):
    """Fails the run when a server under a sanitizer reported anything (`make test-asan`)."""
    reports = [p.name for p in LOG_DIR.glob("chat-*.log") if "Sanitizer" in p.read_text(errors="replace")]
    if reports:
        print(f"\nsanitizer reports in {LOG_DIR}: {', '.join(sorted(reports))}")
        session.exitstatus = 1


@pytest.fixture(scope="session")
def redis():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def instances(redis):
    """Two chat-server instances (A and B) sharing one redis-server. Tests here send
    as fast as they can, so the message rate limit is off (it has its own test); the
    broadcast op is on (off by default)."""
    env = {"RATE_LIMIT": "0", "API_KEY": API_KEY, "ALLOW_BROADCAST": "true"}
    a = ChatServer(redis, "inst-a", env=env)
    b = ChatServer(redis, "inst-b", env=env)
    yield a, b
    a.stop()
    b.stop()
