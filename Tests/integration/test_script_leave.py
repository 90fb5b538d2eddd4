"""leave.lua against a real redis-server: what a leave removes, publishes and
replies, a leave that finds nothing, and the lifetime of an emptied channel."""
import json

import pytest

from harness import unique
from lua import Channel, Resp, Subscriber, join, leave


@pytest.fixture
def r(redis):
    client = Resp(redis.port)
    yield client
    client.close()


def test_removes_the_member_and_publishes_its_notice(r, redis):
    ch = Channel(unique())
    join(r, ch, "i1:1:1", "ann")
    join(r, ch, "i1:2:2", "bob")
    sub = Subscriber(redis.port, ch.topic)
    try:
        entry_id, count, quiet, protected = leave(r, ch, "i1:1:1", "ann")
        event = json.loads(sub.next())
    finally:
        sub.close()
    assert (count, quiet, protected) == (1, 0, 0)
    assert event["id"] == entry_id and event["event"] == "leave" and event["count"] == 1
    assert r.call("HGETALL", ch.members) == ["i1:2:2", "bob"]
    assert r.call("HEXISTS", ch.nicknames, "ann") == 0


def test_a_leave_that_finds_nothing_publishes_nothing(r):
    ch = Channel(unique())
    join(r, ch, "i1:1:1", "ann")
    length = r.call("XLEN", ch.stream)
    assert leave(r, ch, "i9:9:9", "ghost") == [None, 1, 0, 0]
    assert r.call("XLEN", ch.stream) == length


def test_a_nickname_key_held_by_someone_else_stays(r):
    ch = Channel(unique())
    join(r, ch, "i1:1:1", "ann")
    r.call("HSET", ch.nicknames, "ann", "i2:5:5")  # the key passed to another member meanwhile
    leave(r, ch, "i1:1:1", "ann")
    assert r.call("HGET", ch.nicknames, "ann") == "i2:5:5"


def test_leaves_over_the_notice_limit_are_quiet(r):
    ch = Channel(unique())
    join(r, ch, "i1:1:1", "ann")
    join(r, ch, "i1:2:2", "bob")
    reply = leave(r, ch, "i1:1:1", "ann", notice_limit=1)
    assert reply[2] == 1 and r.call("HGET", ch.presence, "dirty") == "1"


def test_the_last_leave_starts_the_channels_lifetime(r):
    ch = Channel(unique())
    join(r, ch, "i1:1:1", "ann", ttl=5_000, new_password="$6$h", pttl=60_000)
    assert r.call("PTTL", ch.meta) == -1
    assert leave(r, ch, "i1:1:1", "ann", ttl=5_000, pttl=60_000)[3] == 1
    for key in (ch.stream, ch.presence):
        assert 0 < r.call("PTTL", key) <= 5_000
    assert 5_000 < r.call("PTTL", ch.meta) <= 60_000, "a protected channel's settings live longer"
    assert r.call("EXISTS", ch.members) == 0


def test_a_protected_channel_kept_forever_when_its_ttl_is_zero(r):
    ch = Channel(unique())
    join(r, ch, "i1:1:1", "ann", ttl=5_000, new_password="$6$h")
    leave(r, ch, "i1:1:1", "ann", ttl=5_000, pttl=0)
    assert r.call("PTTL", ch.meta) == -1
    assert 0 < r.call("PTTL", ch.stream) <= 5_000
