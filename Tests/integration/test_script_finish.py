"""finish.lua (ending the cleanup after a dead instance) against a real redis-server."""
import pytest

from harness import unique
from lua import Resp, claim, finish, instance_keys


@pytest.fixture
def r(redis):
    client = Resp(redis.port)
    yield client
    client.close()


def test_finish_unregisters_the_dead_and_releases_the_lock(r):
    dead = unique("inst")
    k = instance_keys(dead)
    r.call("SADD", "chat:instances", dead)
    claim(r, dead, "a")
    assert finish(r, dead) == 0
    assert r.call("SISMEMBER", "chat:instances", dead) == 0
    assert r.call("EXISTS", k["reaper"], k["reaped"], k["members"]) == 0


def test_finish_keeps_an_instance_that_came_back(r):
    back = unique("inst")
    k = instance_keys(back)
    r.call("SADD", "chat:instances", back)
    claim(r, back, "a")
    r.call("SET", k["alive"], "1", "PX", 10_000)
    r.call("SADD", k["members"], "entry")
    finish(r, back)
    assert r.call("SISMEMBER", "chat:instances", back) == 1
    assert r.call("EXISTS", k["members"]) == 1
    assert r.call("EXISTS", k["reaper"]) == 0, "the lock goes either way"
