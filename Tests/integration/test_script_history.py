"""history.lua against a real redis-server: directions, limit, byte budget, old
quiet entries skipped, nothing of a protected channel without the API key."""
import json

import pytest

from harness import unique
from lua import Channel, Resp, publish


@pytest.fixture
def r(redis):
    client = Resp(redis.port)
    yield client
    client.close()


def history(r, ch, direction="l", from_id="", limit=100, budget=1 << 20, keyed=False):
    return r.eval("history", [ch.stream, ch.meta], [direction, from_id, limit, budget, "1" if keyed else "0"])


def texts(entries):
    return [json.loads("{" + b)["message"] for b in entries[1::2]]


def test_directions_and_limit(r):
    ch = Channel(unique())
    ids = [publish(r, ch, f"m{k}")[0] for k in range(6)]
    protected, entries, cut = history(r, ch, limit=3)
    assert (protected, cut) == (0, 0)
    assert texts(entries) == ["m5", "m4", "m3"], "the latest, newest first"
    assert texts(history(r, ch, "s", ids[1], limit=2)[1]) == ["m2", "m3"], "after an id, oldest first"
    assert texts(history(r, ch, "b", ids[4])[1]) == ["m3", "m2", "m1", "m0"], "before an id, newest first"
    assert history(r, ch, "s", ids[5])[1] == []


def test_reads_past_one_page(r):
    ch = Channel(unique())
    for k in range(120):
        publish(r, ch, f"m{k}")
    assert len(history(r, ch, limit=110)[1]) == 220


def test_the_byte_budget_cuts_short_but_gives_one(r):
    ch = Channel(unique())
    for k in range(10):
        publish(r, ch, "x" * 1000 + str(k))
    _, entries, cut = history(r, ch, budget=3_500)
    assert len(entries) == 6 and cut == 1
    _, entries, cut = history(r, ch, budget=1)
    assert len(entries) == 2 and cut == 1


def test_old_quiet_entries_are_skipped(r):
    ch = Channel(unique())
    publish(r, ch, "before")
    r.call("XADD", ch.stream, "*", "d", '"type":"system","event":"join","count":9,"quiet":true}')
    publish(r, ch, "after")
    assert texts(history(r, ch)[1]) == ["after", "before"]


def test_a_protected_channel_needs_the_key(r):
    ch = Channel(unique())
    publish(r, ch, "secret")
    r.call("HSET", ch.meta, "pw", "$6$h")
    assert history(r, ch) == [1]
    protected, entries, _ = history(r, ch, keyed=True)
    assert protected == 1 and texts(entries) == ["secret"]
