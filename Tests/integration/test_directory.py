"""The channel directories (`chat:channels`, `chat:channels:protected`) are written
outside the per-channel scripts, from their replies; replies of two instances can
reach Redis in the other order than their scripts ran, so every instance checks a
few random entries a second against their channels and corrects them: a stale count
or an entry for a channel nobody is in does not stay."""
import pytest

from harness import API_KEY, ChatServer, Client, RedisServer, run, unique, wait_until


@pytest.fixture
def own():
    redis = RedisServer()
    server = ChatServer(redis, "dir", env={"API_KEY": API_KEY})
    yield redis, server
    server.stop()
    redis.stop()


def test_ghost_entries_and_stale_counts_are_repaired(own):
    redis, server = own
    ghost, stale, locked = unique(), unique(), unique()

    async def body():
        ann = await Client.connect(f"{server.url}/ws?nickname=ann")
        await ann.join(stale)
        wait_until(lambda: redis.cli("ZSCORE", "chat:channels", stale) == "1", what="listed")
        redis.cli("ZADD", "chat:channels", "7", stale)        # a count from a reply that came late
        redis.cli("ZADD", "chat:channels", "3", ghost)        # nobody is in it
        redis.cli("HSET", f"chat:{{{locked}}}:meta", "pw", "$6$x")
        redis.cli("HSET", f"chat:{{{locked}}}:members", "i9:1:1", "bob")
        redis.cli("ZADD", "chat:channels", "1", locked)       # protected, listed as public
        wait_until(lambda: redis.cli("ZSCORE", "chat:channels", stale) == "1"
                   and redis.cli("ZSCORE", "chat:channels", ghost) == ""
                   and redis.cli("ZSCORE", "chat:channels", locked) == ""
                   and redis.cli("ZSCORE", "chat:channels:protected", locked) == "1",
                   timeout=15, what="directory repaired")
        await ann.close()
        wait_until(lambda: redis.cli("ZCARD", "chat:channels") == "0", what="empty directory")

    run(body(), timeout=40)
