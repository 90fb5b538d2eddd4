"""count.lua against a real redis-server: the coalesced count update goes out once
per change, at most once a second across all callers."""
import json

import pytest

from harness import unique
from lua import Channel, Resp, Subscriber

PREFIX = '{"type":"system","event":"count","channel":"%s","sender":"System","message":"'


@pytest.fixture
def r(redis):
    client = Resp(redis.port)
    yield client
    client.close()


def count(r, ch):
    return r.eval("count", [ch.members, ch.presence], [ch.topic, PREFIX % ch.name])


def test_publishes_once_per_change_and_at_most_once_a_second(r, redis):
    ch = Channel(unique())
    r.call("HSET", ch.members, "i1:1:1", "ann", "i1:2:2", "bob")
    assert count(r, ch) == [None, None], "nothing changed"
    r.call("HSET", ch.presence, "dirty", "1")
    sub = Subscriber(redis.port, ch.topic)
    try:
        assert count(r, ch) == [None, 2]
        event = json.loads(sub.next())
    finally:
        sub.close()
    assert event["count"] == 2 and event["message"] == "Members: 2" and event["event"] == "count"
    assert r.call("HGET", ch.presence, "dirty") == "0"
    r.call("HSET", ch.presence, "dirty", "1")
    assert count(r, ch) == [None, None, 1], "due, but too soon"
    assert r.call("HGET", ch.presence, "dirty") == "1", "still due"


def test_only_the_channels_keys(r):
    before = set(r.call("KEYS", "*"))
    ch = Channel(unique())
    r.call("HSET", ch.presence, "dirty", "1")
    count(r, ch)
    assert all(k.startswith(f"chat:{{{ch.name}}}:") for k in set(r.call("KEYS", "*")) - before)
