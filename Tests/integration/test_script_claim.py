"""claim.lua (taking the cleanup after a dead instance) against a real redis-server."""
import pytest

from harness import unique
from lua import Resp, claim, instance_keys


@pytest.fixture
def r(redis):
    client = Resp(redis.port)
    yield client
    client.close()


def test_claim_takes_a_dead_instances_cleanup_once(r):
    dead = unique("inst")
    assert claim(r, dead, "a") == 1
    k = instance_keys(dead)
    assert r.call("GET", k["reaper"]) == "a" and 0 < r.call("PTTL", k["reaper"]) <= 60_000
    assert r.call("GET", k["reaped"]) == "1"
    assert claim(r, dead, "b") == 0, "someone else cleans up"


def test_claim_leaves_a_live_instance_alone(r):
    live = unique("inst")
    r.call("SET", instance_keys(live)["alive"], "1", "PX", 10_000)
    assert claim(r, live, "a") == 0
    assert r.call("EXISTS", instance_keys(live)["reaper"], instance_keys(live)["reaped"]) == 0
