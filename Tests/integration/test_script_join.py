"""join.lua against a real redis-server: checks (new channel, password, backoff,
nickname), what a join writes and replies (member list, replay, quiet notices), and
that it touches the channel's keys only."""
import json
import time

import pytest

from harness import unique
from lua import Channel, Resp, Subscriber, join, leave, publish


@pytest.fixture
def r(redis):
    client = Resp(redis.port)
    yield client
    client.close()


def test_a_new_channel_is_only_created_when_the_caller_may(r):
    ch = Channel(unique())
    assert join(r, ch, "i1:1:1", "ann", may_create=False) == ["!new"]
    assert r.call("EXISTS", *ch.keys) == 0, "nothing written"
    reply = join(r, ch, "i1:1:1", "ann")
    entry_id, count, quiet, protected, members, replay, truncated, oldest = reply
    assert (count, quiet, protected, members, replay, truncated, oldest) == (1, 0, 0, ["ann"], [], 0, "")
    assert r.call("HGETALL", ch.members) == ["i1:1:1", "ann"]
    assert r.call("HGET", ch.nicknames, "ann") == "i1:1:1"
    assert r.call("HGET", ch.meta, "created") == entry_id.split("-")[0]
    (stored_id, fields), = r.call("XRANGE", ch.stream, "-", "+")
    assert stored_id == entry_id and json.loads("{" + fields[1])["count"] == 1
    # An existing channel needs no allowance.
    assert join(r, ch, "i1:2:2", "bob", may_create=False)[1] == 2


def test_only_the_channels_keys_are_touched(r):
    before = set(r.call("KEYS", "*"))
    ch = Channel(unique())
    join(r, ch, "i1:1:1", "ann", new_password="$6$hash")
    join(r, ch, "i1:2:2", "bob", new_password="wrong-hash")
    written = set(r.call("KEYS", "*")) - before
    assert all(k.startswith(f"chat:{{{ch.name}}}:") for k in written), written
    assert r.call("EXISTS", "chat:channels", "chat:channels:protected") == 0, "the caller lists channels"


def test_a_nickname_held_by_another_connection_is_taken(r):
    ch = Channel(unique())
    join(r, ch, "i1:1:1", "ann")
    assert join(r, ch, "i2:9:1", "ann") == ["!taken"]
    # The same connection may join again (a later join of its own).
    assert join(r, ch, "i1:1:2", "ann")[0] != "!taken"


def test_only_a_channel_that_never_existed_is_claimed(r):
    ch = Channel(unique())
    assert join(r, ch, "i1:1:1", "ann", new_password="?") == ["!claim"]
    assert join(r, ch, "i1:1:1", "ann", new_password="$6$h")[3] == 1
    assert r.call("HGET", ch.meta, "pw") == "$6$h"
    assert r.call("PTTL", ch.meta) == -1

    established = Channel(unique())
    publish(r, established)
    reply = join(r, established, "i1:1:1", "ann", new_password="$6$h")
    assert reply[3] == 0 and r.call("HEXISTS", established.meta, "pw") == 0


def test_wrong_passwords_count_and_back_off(r):
    ch = Channel(unique())
    join(r, ch, "i1:1:1", "owner", new_password="$6$right")
    # Without a verified hash: the hash to verify against.
    assert join(r, ch, "i2:1:1", "ann", address="10.0.0.9", new_password="?") == ["!pw", "$6$right"]
    failures = ch.failures_prefix + "10.0.0.9"
    assert r.call("HGET", failures, "n") == "1", "a check counts as wrong until taken back"
    assert 0 < r.call("PTTL", failures) <= 600_000
    r.call("HSET", failures, "n", 5, "at", int(time.time() * 1000))
    kind, wait = join(r, ch, "i2:1:1", "ann", address="10.0.0.9", new_password="?", failure_limit=5)
    assert kind == "!limited" and 0 < wait <= 1000
    # The right hash, verified: joined, whatever the counter.
    assert join(r, ch, "i2:1:1", "ann", address="10.0.0.9", verified="$6$right")[3] == 1


def test_a_lost_password_is_written_back_unless_it_was_removed(r):
    ch = Channel(unique())
    join(r, ch, "i1:1:1", "ann", new_password="$6$h")
    r.call("DEL", ch.meta)  # Redis lost the settings
    assert join(r, ch, "i1:2:2", "bob", known="$6$h") == ["!pw", "$6$h"]
    assert r.call("HGET", ch.meta, "pw") == "$6$h"

    opened = Channel(unique())
    join(r, opened, "i1:1:1", "ann")
    r.call("HSET", opened.meta, "opened", 1)  # removed through the API
    assert join(r, opened, "i1:2:2", "bob", known="$6$old")[3] == 0


def test_the_member_list_stops_at_its_limit(r):
    ch = Channel(unique())
    join(r, ch, "i1:1:1", "ann", list_limit=1)
    assert join(r, ch, "i1:2:2", "bob", list_limit=1)[4] is None


def test_replay_of_the_last_n_within_limit_and_budget(r):
    ch = Channel(unique())
    join(r, ch, "i1:1:1", "ann")
    for k in range(5):
        publish(r, ch, f"m{k}")
    replay = join(r, ch, "i1:2:2", "bob", replay=("h", 3))[5]
    assert [json.loads("{" + b)["message"] for b in replay[1::2]] == ["m2", "m3", "m4"], "oldest first"
    assert len(join(r, ch, "i1:3:3", "cid", replay=("h", 3), replay_limit=2)[5]) == 4
    # A budget smaller than one event still gives one.
    assert len(join(r, ch, "i1:4:4", "dan", replay=("h", 5), budget=1)[5]) == 2


def test_replay_since_an_id_says_when_history_was_trimmed(r):
    ch = Channel(unique())
    join(r, ch, "i1:1:1", "ann")
    first = publish(r, ch, "first")[0]
    second = publish(r, ch, "second")[0]
    reply = join(r, ch, "i1:2:2", "bob", replay=("s", first))
    assert [json.loads("{" + b)["message"] for b in reply[5][1::2]] == ["second"]
    assert reply[6] == 0 and reply[7] != ""
    r.call("XTRIM", ch.stream, "MAXLEN", 0)  # everything gone
    publish(r, ch, "third")
    assert join(r, ch, "i1:3:3", "cid", replay=("s", second))[6] == 1


def test_joins_over_the_notice_limit_are_quiet(r, redis):
    ch = Channel(unique())
    join(r, ch, "i1:1:1", "ann", notice_limit=1)
    length = r.call("XLEN", ch.stream)
    sub = Subscriber(redis.port, ch.topic)
    try:
        reply = join(r, ch, "i1:2:2", "bob", notice_limit=1)
        marker = sub.next()
    finally:
        sub.close()
    assert reply[2] == 1
    assert marker == '{"id":"%s","quiet":true}' % reply[0]
    assert r.call("XLEN", ch.stream) == length, "a quiet notice is not stored"
    info = r.call("XINFO", "STREAM", ch.stream)
    assert info[info.index("last-generated-id") + 1] == reply[0], "but takes its place in the order"
    assert r.call("HGET", ch.presence, "dirty") == "1"


def test_notices_after_a_message_are_stored_four_at_most(r):
    ch = Channel(unique())
    join(r, ch, "i1:0:0", "zed")
    publish(r, ch)
    length = r.call("XLEN", ch.stream)
    for k in range(6):
        join(r, ch, f"i1:{k + 1}:1", f"user{k}")
    assert r.call("XLEN", ch.stream) == length + 4


def test_a_join_after_a_leave_persists_the_channel(r):
    ch = Channel(unique())
    join(r, ch, "i1:1:1", "ann", ttl=5_000)
    leave(r, ch, "i1:1:1", "ann", ttl=5_000)
    assert 0 < r.call("PTTL", ch.stream) <= 5_000
    join(r, ch, "i1:2:2", "ann", ttl=5_000)
    assert r.call("PTTL", ch.stream) == -1 and r.call("PTTL", ch.nicknames) == -1
