import pytest

from harness import ChatServer, RedisServer


@pytest.fixture(scope="session")
def redis():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def instances(redis):
    """Two chat-server instances (A and B) sharing one redis-server."""
    a = ChatServer(redis, "inst-a")
    b = ChatServer(redis, "inst-b")
    yield a, b
    a.stop()
    b.stop()
