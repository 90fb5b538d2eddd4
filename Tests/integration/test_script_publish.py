"""publish.lua against a real redis-server: what it stores, publishes and replies,
and its bounds (MAXLEN, the exact age limit, the channel's lifetime)."""
import json

import pytest

from harness import unique
from lua import DAY, Channel, Resp, Subscriber, join, publish


@pytest.fixture
def r(redis):
    client = Resp(redis.port)
    yield client
    client.close()


def test_appends_publishes_and_answers_the_id(r, redis):
    ch = Channel(unique())
    sub = Subscriber(redis.port, ch.topic)
    try:
        reply = publish(r, ch, "hello")
        assert len(reply) == 1
        event = json.loads(sub.next())
    finally:
        sub.close()
    (entry_id, fields), = r.call("XRANGE", ch.stream, "-", "+")
    assert reply[0] == entry_id == event["id"]
    assert event["ts"] == int(entry_id.split("-")[0])
    assert event["message"] == "hello" and event["type"] == "message"
    assert fields[0] == "d" and json.loads("{" + fields[1])["message"] == "hello"
    assert r.call("HGET", ch.presence, "notices") == "0", "a message resets the stored-notice count"


def test_no_key_outside_the_channel_is_written(r):
    before = set(r.call("KEYS", "*"))
    ch = Channel(unique())
    publish(r, ch)
    written = set(r.call("KEYS", "*")) - before
    assert written and all(k.startswith(f"chat:{{{ch.name}}}:") for k in written)


def test_maxlen_trims_the_stream(r):
    ch = Channel(unique())
    for k in range(400):
        publish(r, ch, f"m{k}", maxlen=20)
    # MAXLEN ~ trims whole nodes (stream-node-max-entries, 100 by default).
    assert 20 <= r.call("XLEN", ch.stream) <= 120
    assert r.call("XINFO", "STREAM", ch.stream)[r.call("XINFO", "STREAM", ch.stream).index("entries-added") + 1] == 400


def test_max_age_trims_exactly(r):
    ch = Channel(unique())
    r.call("XADD", ch.stream, "1-0", "d", '"type":"message"}')
    publish(r, ch, "now", max_age=60_000)
    entries = r.call("XRANGE", ch.stream, "-", "+")
    assert [json.loads("{" + e[1][1])["message"] for e in entries] == ["now"]


def test_an_empty_channel_expires_and_one_with_members_does_not(r):
    ch = Channel(unique())
    publish(r, ch, ttl=5_000)
    assert 0 < r.call("PTTL", ch.stream) <= 5_000
    assert 0 < r.call("PTTL", ch.presence) <= 5_000
    join(r, ch, "i1:1:1", "ann", ttl=5_000)
    publish(r, ch, ttl=5_000)
    assert r.call("PTTL", ch.stream) == -1 and r.call("PTTL", ch.meta) == -1


def test_ttl_zero_keeps_everything(r):
    ch = Channel(unique())
    publish(r, ch, ttl=0)
    assert r.call("PTTL", ch.stream) == -1
