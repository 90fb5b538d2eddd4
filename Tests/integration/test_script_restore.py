"""restore.lua against a real redis-server: members written back without notices,
nickname keys not taken from a present holder, the fail-closed password."""
import pytest

from harness import unique
from lua import DAY, Channel, Resp, join


@pytest.fixture
def r(redis):
    client = Resp(redis.port)
    yield client
    client.close()


def restore(r, ch, known, members, ttl=DAY, pttl=0):
    args = [ttl, pttl, known]
    for field, nickname in members:
        args += [field, nickname, nickname.lower()]
    return r.eval("restore", ch.keys, args)


def test_writes_members_back_without_a_notice(r):
    ch = Channel(unique())
    assert restore(r, ch, "", [("i1:1:1", "ann"), ("i1:2:2", "bob")]) == [None, 2, 0, 0]
    assert sorted(r.call("HVALS", ch.members)) == ["ann", "bob"]
    assert r.call("HGET", ch.nicknames, "bob") == "i1:2:2"
    assert r.call("EXISTS", ch.stream) == 0, "nothing published or stored"
    assert r.call("EXISTS", "chat:channels") == 0, "the caller lists the channel"


def test_a_nickname_key_held_by_a_present_member_stays(r):
    ch = Channel(unique())
    join(r, ch, "i2:1:1", "ann")
    restore(r, ch, "", [("i1:9:9", "ann")])
    assert r.call("HGET", ch.nicknames, "ann") == "i2:1:1"


def test_a_lost_password_comes_back_unless_removed(r):
    ch = Channel(unique())
    assert restore(r, ch, "$6$h", [("i1:1:1", "ann")]) == [None, 1, 1, 1]
    assert r.call("HGET", ch.meta, "pw") == "$6$h"
    assert restore(r, ch, "$6$h", [("i1:1:1", "ann")])[2] == 0, "only once"
    opened = Channel(unique())
    r.call("HSET", opened.meta, "opened", 1)
    assert restore(r, opened, "$6$h", [("i1:1:1", "ann")])[2:] == [0, 0]


def test_restored_channels_with_members_do_not_expire(r):
    ch = Channel(unique())
    r.call("XADD", ch.stream, "*", "d", "x}")
    r.call("PEXPIRE", ch.stream, 5_000)
    restore(r, ch, "", [("i1:1:1", "ann")], ttl=5_000)
    assert r.call("PTTL", ch.stream) == -1
