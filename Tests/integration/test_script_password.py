"""password.lua against a real redis-server: a channel's password set and removed,
with the settings' lifetime; the directory is the caller's."""
import pytest

from harness import unique
from lua import Channel, Resp


@pytest.fixture
def r(redis):
    client = Resp(redis.port)
    yield client
    client.close()


def password(r, ch, hash_, ttl=5_000, pttl=60_000):
    return r.eval("password", [ch.meta, ch.members], [hash_, ttl, pttl])


def test_set_and_remove_on_an_empty_channel(r):
    ch = Channel(unique())
    assert password(r, ch, "$6$h") == [0, 1]
    assert r.call("HGET", ch.meta, "pw") == "$6$h" and r.call("HEXISTS", ch.meta, "created") == 1
    assert 5_000 < r.call("PTTL", ch.meta) <= 60_000, "a protected channel's settings: PROTECTED_CHANNEL_TTL"
    assert password(r, ch, "") == [0, 0]
    assert r.call("HEXISTS", ch.meta, "pw") == 0 and r.call("HEXISTS", ch.meta, "opened") == 1
    assert 0 < r.call("PTTL", ch.meta) <= 5_000
    assert password(r, ch, "$6$new")[1] == 1
    assert r.call("HEXISTS", ch.meta, "opened") == 0


def test_a_channel_with_members_keeps_its_settings(r):
    ch = Channel(unique())
    r.call("HSET", ch.members, "i1:1:1", "ann")
    assert password(r, ch, "$6$h") == [1, 1]
    assert r.call("PTTL", ch.meta) == -1


def test_forever_when_the_ttls_say_so(r):
    ch = Channel(unique())
    password(r, ch, "$6$h", ttl=5_000, pttl=0)
    assert r.call("PTTL", ch.meta) == -1
    other = Channel(unique())
    password(r, other, "", ttl=0)
    assert r.call("PTTL", other.meta) == -1


def test_only_the_channels_keys(r):
    before = set(r.call("KEYS", "*"))
    ch = Channel(unique())
    password(r, ch, "$6$h")
    assert all(k.startswith(f"chat:{{{ch.name}}}:") for k in set(r.call("KEYS", "*")) - before)
