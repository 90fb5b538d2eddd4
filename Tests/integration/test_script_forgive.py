"""forgive.lua against a real redis-server: one wrong password taken back, never
below zero."""
import pytest

from harness import unique
from lua import Channel, Resp


@pytest.fixture
def r(redis):
    client = Resp(redis.port)
    yield client
    client.close()


def test_takes_one_back_and_stops_at_zero(r):
    key = Channel(unique()).failures_prefix + "10.0.0.1"
    r.call("HSET", key, "n", 2, "at", 1)
    r.call("PEXPIRE", key, 600_000)
    assert r.eval("forgive", [key], []) == 0
    assert r.call("HGET", key, "n") == "1"
    r.eval("forgive", [key], [])
    r.eval("forgive", [key], [])
    assert r.call("HGET", key, "n") == "0"
    assert 0 < r.call("PTTL", key) <= 600_000, "its lifetime stays"


def test_nothing_to_forgive_writes_nothing(r):
    key = Channel(unique()).failures_prefix + "10.0.0.1"
    r.eval("forgive", [key], [])
    assert r.call("EXISTS", key) == 0
