"""An instance's membership set (`chat:instance:ID:members`) is written beside the join
and leave scripts, not inside them (every script's keys in one slot): the entry goes in
before a join's script and out after a refused join or a leave, so the set holds
exactly the members the instance has in Redis, which the cleanup after a crash uses."""
import pytest

from harness import ChatServer, Client, RedisServer, run, unique, wait_until


@pytest.fixture
def own():
    redis = RedisServer()
    server = ChatServer(redis, "setcheck")
    yield redis, server
    server.stop()
    redis.stop()


def test_refused_joins_leave_no_entry_and_leaves_remove_theirs(own):
    redis, server = own
    channel, locked = unique(), unique("locked")

    async def body():
        ann = await Client.connect(f"{server.url}/ws?nickname=ann")
        await ann.join(channel)
        await ann.join(locked, password="hunter2")
        wait_until(lambda: redis.cli("SCARD", f"chat:instance:{entries_id()}:members") == "2", what="two entries")
        twin = await Client.connect(f"{server.url}/ws?nickname=ann")
        await twin.expect("welcome")
        await twin.send({"op": "join", "channel": channel})
        assert (await twin.expect("error"))["code"] == "nickname_taken"
        bob = await Client.connect(f"{server.url}/ws?nickname=bob")
        await bob.expect("welcome")
        await bob.send({"op": "join", "channel": locked, "password": "wrong"})
        assert (await bob.expect("error"))["code"] == "wrong_password"
        assert redis.cli("SCARD", f"chat:instance:{entries_id()}:members") == "2", "no entry for refused joins"
        await ann.send({"op": "leave", "channel": channel})
        await ann.expect("left")
        wait_until(lambda: redis.cli("SCARD", f"chat:instance:{entries_id()}:members") == "1", what="the leave's entry removed")
        for c in (ann, twin, bob):
            await c.close()
        wait_until(lambda: redis.cli("EXISTS", f"chat:instance:{entries_id()}:members") == "0", what="empty set")

    def entries_id():
        return next(i for i in redis.cli("SMEMBERS", "chat:instances").split() if i.startswith("setcheck."))

    run(body())
