"""Issue 5: presence and counts, nickname rules, channel passwords, history and
resume, offline delivery, the HTTP API, and no ghosts after an instance is killed.
Two instances share one real redis-server throughout."""
import asyncio
import signal

import pytest

from harness import API_KEY, ChatServer, Client, RedisServer, SeedClient, http, metrics, run, unique, wait_until


def hlen(redis, channel):
    return int(redis.cli("HLEN", f"chat:{{{channel}}}:members"))


def test_joined_lists_members_and_presence_and_api_agree(instances, redis):
    a, b = instances
    channel = unique()

    async def body():
        ann = await Client.connect(f"{a.url}/ws?nickname=ann")
        await ann.expect("welcome")
        j = await ann.join(channel)
        assert j["members"] == ["ann"] and j["count"] == 1 and j["protected"] is False
        bo = await Client.connect(f"{b.url}/ws?nickname=Bo")
        await bo.expect("welcome")
        j = await bo.join(channel)
        assert j["members"] == ["ann", "Bo"] and j["count"] == 2
        await ann.expect("system", event="join", nickname="Bo", count=2)
        await ann.send({"op": "presence", "channel": channel, "ref": 7})
        p = await ann.expect("presence", channel=channel)
        assert p["members"] == ["ann", "Bo"] and p["count"] == 2 and p["ref"] == 7 and p["truncated"] is False
        status, members = http(a, "GET", f"/api/channels/{channel}/members")
        assert status == 200 and members["members"] == ["ann", "Bo"] and members["count"] == 2
        status, listing = http(b, "GET", "/api/channels?limit=10000")
        assert status == 200 and {"name": channel, "count": 2} in listing["channels"]
        await bo.close()
        await ann.expect("system", event="leave", nickname="Bo", count=1)
        wait_until(lambda: http(a, "GET", f"/api/channels/{channel}/members")[1]["members"] == ["ann"], what="members API after leave")
        await ann.close()
        wait_until(lambda: all(c["name"] != channel for c in http(a, "GET", "/api/channels?limit=10000")[1]["channels"]),
                   what="empty channel gone from the list")

    run(body())


def test_nicknames_are_unique_per_channel_across_instances(instances):
    a, b = instances
    channel = unique()

    async def body():
        alice = await Client.connect(f"{a.url}/ws?nickname=Alice")
        await alice.join(channel)
        # Same name in other case, and with a Cyrillic а, on the other instance.
        for nick in ("alice", "\u0430lice", "ALICE"):
            c = await Client.connect(f"{b.url}/ws?nickname={nick}")
            await c.expect("welcome")
            await c.send({"op": "join", "channel": channel, "ref": "j"})
            e = await c.expect("error")
            assert e["code"] == "nickname_taken" and e["channel"] == channel and e["ref"] == "j"
            # Nothing was joined: sending there is refused, and the connection is still usable.
            await c.send({"op": "send", "channel": channel, "message": "hi"})
            assert (await c.expect("error"))["code"] == "not_joined"
            other = unique()
            await c.join(other)
            await c.close()
        # The seed endpoint: an error event, then close 1008.
        seed = await SeedClient.connect(f"{b.url}/chat/join?channel={channel}&nickname=aLiCe")
        e = await seed.expect("error")
        assert e["code"] == "nickname_taken"
        await seed.ws.wait_closed()
        assert seed.ws.close_code == 1008
        await alice.send({"op": "presence", "channel": channel})
        assert (await alice.expect("presence"))["count"] == 1
        # Once Alice leaves, the name is free.
        await alice.send({"op": "leave", "channel": channel})
        await alice.expect("left")
        again = await Client.connect(f"{b.url}/ws?nickname=alice")
        await again.join(channel)
        await again.close()
        await alice.close()

    run(body())


def test_nicknames_are_unique_per_channel_on_one_instance(instances):
    """Two connections of one instance cannot share a (folded) nickname in a channel
    either; only the same connection may join, leave and join again."""
    a, _ = instances
    channel = unique()

    async def body():
        alice = await Client.connect(f"{a.url}/ws?nickname=Alice")
        await alice.join(channel)
        for nick in ("Alice", "alice", "\u0430lice"):
            c = await Client.connect(f"{a.url}/ws?nickname={nick}")
            await c.expect("welcome")
            await c.send({"op": "join", "channel": channel, "ref": "j"})
            e = await c.recv_until(lambda e: e["type"] in ("error", "joined"))
            assert (e["type"], e.get("code"), e["channel"], e["ref"]) == ("error", "nickname_taken", channel, "j"), (nick, e)
            await c.close()
        seed = await SeedClient.connect(f"{a.url}/chat/join?channel={channel}&nickname=ALICE")
        e = await seed.recv()
        assert (e["type"], e.get("code")) == ("error", "nickname_taken"), e
        await seed.ws.wait_closed()
        assert seed.ws.close_code == 1008
        await alice.send({"op": "presence", "channel": channel})
        p = await alice.expect("presence")
        assert p["members"] == ["Alice"] and p["count"] == 1
        # The holder itself may leave and come back.
        await alice.send({"op": "leave", "channel": channel})
        await alice.expect("left")
        assert (await alice.join(channel))["members"] == ["Alice"]
        await alice.close()


def test_lookalike_nicknames_are_one_name_in_a_channel(instances, redis):
    """aIice (capital i) looks like alice: refused in alice's channel, on either
    instance; names that only differ (bob and rob) are not; every key of a nickname
    leaves the index with its member."""
    a, b = instances
    channel = unique()
    nicknames = f"chat:{{{channel}}}:nicknames"

    async def body():
        alice = await Client.connect(f"{a.url}/ws?nickname=alice")
        await alice.expect("welcome")
        await alice.join(channel)
        for server, nick in ((b, "aIice"), (a, "aIice"), (b, "AIice"), (b, "\u0251lice")):
            c = await Client.connect(f"{server.url}/ws?nickname={nick}")
            await c.expect("welcome")
            await c.send({"op": "join", "channel": channel, "ref": "j"})
            e = await c.expect("error")
            assert e["code"] == "nickname_taken" and e["channel"] == channel and e["ref"] == "j", nick
            await c.close()
        others = []
        for server, nick in ((b, "bob"), (a, "rob"), (b, "anna"), (a, "ana")):
            c = await Client.connect(f"{server.url}/ws?nickname={nick}")
            await c.expect("welcome")
            await c.join(channel)
            others.append(c)
        await alice.send({"op": "leave", "channel": channel})
        await alice.expect("left")
        wait_until(lambda: all(redis.cli("HGET", nicknames, key) == "" for key in ("alice", "ALlCE", "Alice")),
                   what="alice's nickname keys removed")
        again = await Client.connect(f"{b.url}/ws?nickname=aIice")
        await again.expect("welcome")
        await again.join(channel)
        for c in [again, alice, *others]:
            await c.close()
        wait_until(lambda: redis.cli("HLEN", nicknames) == "0", what="nickname index empty")

    run(body())


# Lookalikes of reserved names (UTS #39 confusables, small capitals, a combining mark) are reserved too.
@pytest.mark.parametrize("nick", ["System", "\u0405ystem", "ＡＤＭＩＮ", "bad\u200bname", "a\tb", "x" * 33,
                                  "\u1d00\u1d05\u1d0d\u026a\u0274", "\ua4eedmin", "\u2c6ddmin", "\u13aadmin", "Admin\u0332",
                                  "\u039coderator"])
def test_bad_nicknames_get_invalid_nickname(instances, nick):
    a, _ = instances

    async def body():
        import urllib.parse
        c = await Client.connect(f"{a.url}/ws?nickname={urllib.parse.quote(nick)}")
        e = await c.expect("error")
        assert e["code"] == "invalid_nickname"
        await c.ws.wait_closed()
        assert c.ws.close_code == 1008

    run(body())


def test_channel_passwords(instances):
    a, b = instances
    channel = unique("secret")

    async def body():
        owner = await Client.connect(f"{a.url}/ws?nickname=owner")
        await owner.expect("welcome")
        j = await owner.join(channel, password="s3cret!")
        assert j["protected"] is True
        guest = await Client.connect(f"{b.url}/ws?nickname=guest")
        await guest.expect("welcome")
        await guest.send({"op": "join", "channel": channel})
        assert (await guest.expect("error"))["code"] == "wrong_password"
        await guest.send({"op": "join", "channel": channel, "password": "nope"})
        assert (await guest.expect("error"))["code"] == "wrong_password"
        await guest.send({"op": "presence", "channel": channel})
        assert (await guest.expect("error"))["code"] == "forbidden"
        j = await guest.join(channel, password="s3cret!")
        assert j["protected"] is True and j["count"] == 2
        await owner.expect("system", event="join", nickname="guest")
        # The seed endpoint takes &password=.
        seed = await SeedClient.connect(f"{b.url}/chat/join?channel={channel}&nickname=seedling&password=wrong")
        assert (await seed.expect("error"))["code"] == "wrong_password"
        await seed.ws.wait_closed()
        seed = await SeedClient.connect(f"{b.url}/chat/join?channel={channel}&nickname=seedling&password=s3cret!")
        await seed.expect("system", message="seedling joined the chat.")
        # Members and history of a protected channel need the API key.
        assert http(a, "GET", f"/api/channels/{channel}/members")[0] == 403
        assert http(a, "GET", f"/api/channels/{channel}/history")[0] == 403
        status, m = http(a, "GET", f"/api/channels/{channel}/members", key=API_KEY)
        assert status == 200 and m["protected"] is True and m["count"] == 3
        # Redis holds a salted slow hash, never the password.
        for c in (owner, guest, seed):
            await c.close()

    run(body())


def test_password_in_redis_is_a_salted_hash_and_api_can_change_it(instances, redis):
    a, b = instances
    channel = unique("locked")
    stored = None

    async def body():
        nonlocal stored
        status, r = http(a, "PUT", f"/api/channels/{channel}", {"password": "hunter2"})
        assert status == 401 and r["error"] == "unauthorized"
        status, r = http(a, "PUT", f"/api/channels/{channel}", {"password": "hunter2"}, key=API_KEY)
        assert status == 200 and r["protected"] is True
        stored = redis.cli("HGET", f"chat:{{{channel}}}:meta", "pw")
        assert stored.startswith("$y$") and "hunter2" not in stored
        c = await Client.connect(f"{b.url}/ws?nickname=carol")
        await c.expect("welcome")
        await c.send({"op": "join", "channel": channel, "password": "hunter3"})
        assert (await c.expect("error"))["code"] == "wrong_password"
        await c.join(channel, password="hunter2")
        await c.send({"op": "leave", "channel": channel})
        await c.expect("left")
        status, r = http(a, "PUT", f"/api/channels/{channel}", {"password": None}, key=API_KEY)
        assert status == 200 and r["protected"] is False
        j = await c.join(channel)
        assert j["protected"] is False
        await c.close()

    run(body())
    # Another channel with the same password gets another salt.
    other = unique("locked")
    assert http(a, "PUT", f"/api/channels/{other}", {"password": "hunter2"}, key=API_KEY)[0] == 200
    assert redis.cli("HGET", f"chat:{{{other}}}:meta", "pw") != stored


def test_a_password_given_for_a_public_channel_with_members_is_ignored(instances, redis):
    """A late joiner's password cannot lock a public channel that already has members:
    it joins, the channel stays unprotected, and others still join without one."""
    a, b = instances
    channel = unique("open")

    async def body():
        first = await Client.connect(f"{a.url}/ws?nickname=first")
        assert (await first.join(channel))["protected"] is False
        late = await Client.connect(f"{b.url}/ws?nickname=late")
        await late.expect("welcome")
        await late.send({"op": "join", "channel": channel, "password": "mine now"})
        j = await late.recv_until(lambda e: e["type"] in ("joined", "error"))
        assert (j["type"], j.get("protected"), j.get("count")) == ("joined", False, 2), j
        third = await Client.connect(f"{a.url}/ws?nickname=third")
        await third.expect("welcome")
        await third.send({"op": "join", "channel": channel})  # no password
        j = await third.recv_until(lambda e: e["type"] in ("joined", "error"))
        assert (j["type"], j.get("protected"), j.get("count")) == ("joined", False, 3), j
        outsider = await Client.connect(f"{b.url}/ws?nickname=outsider")
        await outsider.expect("welcome")
        await outsider.send({"op": "presence", "channel": channel})  # open to anyone
        assert (await outsider.recv_until(lambda e: e["type"] in ("presence", "error")))["type"] == "presence"
        status, m = http(a, "GET", f"/api/channels/{channel}/members")  # no key needed
        assert status == 200 and m["protected"] is False and m["count"] == 3
        assert redis.cli("HEXISTS", f"chat:{{{channel}}}:meta", "pw") == "0"
        for c in (first, late, third, outsider):
            await c.close()

    run(body())


def test_a_protected_channel_keeps_its_password_when_everyone_leaves(instances, redis):
    a, b = instances
    channel = unique("vault")

    async def body():
        owner = await Client.connect(f"{a.url}/ws?nickname=owner")
        assert (await owner.join(channel, password="k33p"))["protected"] is True
        guest = await Client.connect(f"{b.url}/ws?nickname=guest")
        assert (await guest.join(channel, password="k33p"))["protected"] is True
        await owner.send({"op": "leave", "channel": channel})
        await owner.expect("left")
        await guest.close()
        wait_until(lambda: hlen(redis, channel) == 0, what="the channel empty")
        newcomer = await Client.connect(f"{a.url}/ws?nickname=newcomer")
        await newcomer.expect("welcome")
        for extra in ({}, {"password": "guess"}):
            await newcomer.send({"op": "join", "channel": channel, **extra})
            e = await newcomer.recv_until(lambda e: e["type"] in ("joined", "error"))
            assert (e["type"], e.get("code")) == ("error", "wrong_password"), (extra, e)
        # Its first joiner did not set a new password: the channel is still protected.
        assert http(a, "GET", f"/api/channels/{channel}/members")[0] == 403
        status, m = http(a, "GET", f"/api/channels/{channel}/members", key=API_KEY)
        assert status == 200 and m["protected"] is True and m["count"] == 0
        seed = await SeedClient.connect(f"{b.url}/chat/join?channel={channel}&nickname=seedling")
        assert (await seed.recv()).get("code") == "wrong_password"
        await seed.ws.wait_closed()
        j = await newcomer.join(channel, password="k33p")
        assert j["protected"] is True and j["count"] == 1
        for c in (owner, newcomer):
            await c.close()

    run(body())


def test_password_attempts_are_rate_limited(redis):
    # Creating a protected channel counts as an attempt too (hashing is costly on purpose).
    server = ChatServer(redis, "pw-limit", env={"PASSWORD_ATTEMPTS": "4", "RATE_LIMIT": "0"})
    channel = unique("vault")
    try:
        async def body():
            owner = await Client.connect(f"{server.url}/ws?nickname=keeper")
            await owner.join(channel, password="right")
            codes = []
            for k in range(5):
                c = await Client.connect(f"{server.url}/ws?nickname=guesser{k}")  # reconnecting does not help
                await c.expect("welcome")
                await c.send({"op": "join", "channel": channel, "password": f"guess{k}"})
                codes.append((await c.expect("error"))["code"])
                await c.close()
            assert codes[:3] == ["wrong_password"] * 3 and codes[3:] == ["rate_limited"] * 2
            await owner.close()

        run(body())
    finally:
        server.stop()


def test_wrong_passwords_are_counted_across_instances(redis):
    """Wrong passwords for a channel from one address are counted in Redis, so that
    more instances (or WORKERS) do not multiply a guesser's budget."""
    env = {"PASSWORD_ATTEMPTS": "3", "RATE_LIMIT": "0", "API_KEY": API_KEY}
    a, b = ChatServer(redis, "pw-a", env=env), ChatServer(redis, "pw-b", env=env)
    channel = unique("vault")
    try:
        assert http(a, "PUT", f"/api/channels/{channel}", {"password": "right"}, key=API_KEY)[0] == 200

        async def guess(server, k, password):
            c = await Client.connect(f"{server.url}/ws?nickname=guesser{k}")
            await c.expect("welcome")
            await c.send({"op": "join", "channel": channel, "password": password})
            e = await c.recv_until(lambda e: e["type"] in ("error", "joined"))
            await c.close()
            return e.get("code", e["type"])

        async def body():
            codes = [await guess(a, 0, "guess0"), await guess(a, 1, "guess1"), await guess(b, 2, "guess2")]
            assert codes == ["wrong_password"] * 3
            # b has checked one password of its three a minute, but the channel has had
            # three wrong ones from this address: the next check waits (a backoff from
            # the last wrong one), for the right password too — and then it is checked.
            assert await guess(b, 3, "guess3") == "rate_limited"
            assert await guess(b, 4, "right") == "rate_limited"
            deadline = asyncio.get_running_loop().time() + 60
            while (code := await guess(b, 5, "right")) == "rate_limited":
                assert asyncio.get_running_loop().time() < deadline, "the right password never got through"
                await asyncio.sleep(0.2)
            assert code == "joined"

        run(body())
    finally:
        a.stop()
        b.stop()


def test_history_join_replays_the_last_n_then_live(instances):
    a, b = instances
    channel = unique()

    async def body():
        talker = await Client.connect(f"{a.url}/ws?nickname=talker")
        await talker.join(channel)
        for k in range(10):
            await talker.send({"op": "send", "channel": channel, "message": f"h{k}"})
        await talker.expect("message", message="h9")
        late = await Client.connect(f"{b.url}/ws?nickname=late")
        await late.expect("welcome")
        j = await late.join(channel, history=4)
        assert j["replayed"] == 4
        replay = [await late.recv() for _ in range(4)]
        assert [e["message"] for e in replay] == ["h6", "h7", "h8", "h9"]
        assert all(e["replay"] is True and e["sender"] == "talker" for e in replay)
        notice = await late.recv()
        assert notice["type"] == "system" and notice["event"] == "join" and notice["id"] == j["id"] and "replay" not in notice
        await talker.send({"op": "send", "channel": channel, "message": "live"})
        live = await late.expect("message")
        assert live["message"] == "live" and "replay" not in live
        status, h = http(a, "GET", f"/api/channels/{channel}/history?limit=3")
        assert status == 200 and [e.get("message") for e in h["messages"]][-1] == "live" and len(h["messages"]) == 3
        status, h = http(a, "GET", f"/api/channels/{channel}/history?since={replay[0]['id']}&limit=2")
        assert [e["message"] for e in h["messages"]] == ["h7", "h8"]
        status, h = http(a, "GET", f"/api/channels/{channel}/history?before={replay[1]['id']}&limit=1")
        assert [e["message"] for e in h["messages"]] == ["h6"]
        assert http(a, "GET", f"/api/channels/{channel}/history?since=bogus")[0] == 400
        for c in (talker, late):
            await c.close()

    run(body())


def test_reconnect_with_since_misses_nothing_and_repeats_nothing(instances):
    """A client is cut, 100 messages are sent while it is away (some while it comes
    back), and it rejoins with the last id it saw: every message once, in order."""
    a, b = instances
    channel = unique()

    async def body():
        sender = await Client.connect(f"{a.url}/ws?nickname=sender")
        await sender.join(channel)
        reader = await Client.connect(f"{b.url}/ws?nickname=reader")
        await reader.expect("welcome")
        await reader.join(channel)
        await sender.send({"op": "send", "channel": channel, "message": "before"})
        last = (await reader.expect("message", message="before"))["id"]
        reader.ws.transport.abort()  # a network cut: no close handshake
        for k in range(80):
            await sender.send({"op": "send", "channel": channel, "message": f"m{k}"})
        await sender.expect("message", message="m79")

        async def keep_sending():
            for k in range(80, 100):
                await sender.send({"op": "send", "channel": channel, "message": f"m{k}"})
                await asyncio.sleep(0.002)

        back = await Client.connect(f"{b.url}/ws?nickname=reader2")
        await back.expect("welcome")
        task = asyncio.create_task(keep_sending())
        await back.send({"op": "join", "channel": channel, "since": last})
        got = []
        while len(got) < 100:
            e = await back.recv_until(lambda e: e.get("type") in ("message", "history_truncated", "joined"))
            assert e["type"] != "history_truncated"
            if e["type"] == "message":
                got.append(e["message"])
        await task
        assert got == [f"m{k}" for k in range(100)]
        await sender.send({"op": "send", "channel": channel, "message": "after"})
        e = await back.expect("message")
        assert e["message"] == "after"
        for c in (sender, back):
            await c.close()

    run(body())


def test_offline_client_told_when_history_no_longer_holds_its_id(redis):
    server = ChatServer(redis, "short-history", env={"HISTORY_SIZE": "10", "REPLAY_LIMIT": "50", "RATE_LIMIT": "0"})
    channel = unique()
    try:
        async def body():
            s = await Client.connect(f"{server.url}/ws?nickname=writer")
            await s.join(channel)
            await s.send({"op": "send", "channel": channel, "message": "first"})
            first = (await s.expect("message", message="first"))["id"]
            for k in range(400):
                await s.send({"op": "send", "channel": channel, "message": f"n{k}"})
            await s.expect("message", message="n399", timeout=15)
            back = await Client.connect(f"{server.url}/ws?nickname=returning")
            await back.expect("welcome")
            await back.send({"op": "join", "channel": channel, "since": first})
            j = await back.expect("joined")
            t = await back.expect("history_truncated")
            assert t["since"] == first and t["oldest"] > first and t["channel"] == channel
            replay = [await back.recv() for _ in range(j["replayed"])]
            assert 0 < len(replay) <= 50 and all(e["replay"] for e in replay)
            assert replay[-1]["message"] == "n399"
            await s.close()
            await back.close()

        run(body())
    finally:
        server.stop()


async def until_own_join_notice(client, nickname):
    """Every event up to and including the client's own join notice."""
    events = []
    while not events or (events[-1]["type"], events[-1].get("event"), events[-1].get("nickname")) != ("system", "join", nickname):
        events.append(await client.recv())
    return events


def test_a_resume_beyond_one_replay_is_told_history_truncated(redis):
    """More than REPLAY_LIMIT events after `since`: history_truncated first, then the
    newest REPLAY_LIMIT; exactly REPLAY_LIMIT of them, or fewer: all, and no such event."""
    server = ChatServer(redis, "replay-limit", env={"REPLAY_LIMIT": "5", "RATE_LIMIT": "0"})
    try:
        async def body():
            writer = await Client.connect(f"{server.url}/ws?nickname=writer")
            await writer.expect("welcome")
            # A channel per case, so that no resumer's own notices follow `since` in another case.
            for n, (after, expected) in enumerate([(0, range(7, 12)), (6, range(7, 12)), (7, range(8, 12))]):
                channel = unique()
                await writer.join(channel)
                ids = []
                for k in range(12):
                    await writer.send({"op": "send", "channel": channel, "message": f"m{k}"})
                    ids.append((await writer.expect("message", message=f"m{k}"))["id"])
                since = ids[after]
                truncated = 11 - after > 5
                oldest = redis.cli("XRANGE", f"chat:{{{channel}}}:stream", "-", "+", "COUNT", "1").split()[0]
                c = await Client.connect(f"{server.url}/ws?nickname=back{n}")
                await c.expect("welcome")
                await c.send({"op": "join", "channel": channel, "since": since, "ref": n})
                events = await until_own_join_notice(c, f"back{n}")
                assert events[0]["type"] == "joined" and events[0]["replayed"] == len(expected), events[0]
                assert [e["type"] for e in events[1:2 + truncated]] == ["history_truncated"] * truncated + ["message"], events
                if truncated:  # 11 events follow m0, the newest 5 are replayed
                    t = events.pop(1)
                    assert (t["channel"], t["since"], t["oldest"], t["ref"]) == (channel, since, oldest, n)
                replay, notice = events[1:-1], events[-1]
                assert [(e["type"], e.get("message"), e.get("replay")) for e in replay] == [("message", f"m{k}", True) for k in expected], after
                assert (notice["type"], notice["event"], notice["nickname"], notice["id"]) == ("system", "join", f"back{n}", events[0]["id"])
                await c.close()
            await writer.close()

        run(body())
    finally:
        server.stop()


def test_since_0_on_a_trimmed_channel_is_told_history_truncated(redis):
    """`since=0` asks for everything kept: on a channel whose history was trimmed
    (HISTORY_SIZE) that is not everything, so history_truncated comes first; on one
    that lost nothing, no such event."""
    server = ChatServer(redis, "since-zero", env={"HISTORY_SIZE": "10", "RATE_LIMIT": "0"})
    trimmed, intact = unique(), unique()
    stream = f"chat:{{{trimmed}}}:stream"
    try:
        async def body():
            writer = await Client.connect(f"{server.url}/ws?nickname=writer")
            await writer.join(trimmed)
            await writer.join(intact)
            for k in range(5):
                await writer.send({"op": "send", "channel": intact, "message": f"i{k}"})
            for k in range(300):  # trimming with MAXLEN ~ drops whole nodes of 100 entries
                await writer.send({"op": "send", "channel": trimmed, "message": f"t{k}"})
            await writer.expect("message", message="t299", timeout=20)
            kept = int(redis.cli("XLEN", stream))
            assert kept < 301  # trimmed: the join notice and the first messages are gone
            oldest = redis.cli("XRANGE", stream, "-", "+", "COUNT", "1").split()[0]

            c = await Client.connect(f"{server.url}/ws?nickname=everything")
            await c.expect("welcome")
            await c.send({"op": "join", "channel": trimmed, "since": "0", "ref": "all"})
            events = await until_own_join_notice(c, "everything")
            assert [e["type"] for e in events[:2]] == ["joined", "history_truncated"], events[:3]
            j, t, replay = events[0], events[1], events[2:-1]
            assert j["replayed"] == kept, j
            assert (t["channel"], t["since"], t["oldest"], t["ref"]) == (trimmed, "0-0", oldest, "all")
            assert [e["message"] for e in replay] == [f"t{k}" for k in range(300 - kept, 300)]

            await c.send({"op": "join", "channel": intact, "since": "0", "ref": "few"})
            events = await until_own_join_notice(c, "everything")
            assert [e["type"] for e in events[:2]] == ["joined", "system"], events[:3]  # no history_truncated
            assert events[0]["replayed"] == 6  # the writer's join notice and five messages
            assert [e.get("message") for e in events[1:-1]] == ["writer joined the chat."] + [f"i{k}" for k in range(5)]
            for x in (writer, c):
                await x.close()

        run(body())
    finally:
        server.stop()


def test_seed_endpoint_takes_since_and_history(instances):
    """/chat/join?…&history=N and &since=ID replay like the join op (seed clients get
    no `joined`: the replay, then their own join notice); both at once is a bad request."""
    a, b = instances
    channel = unique()

    async def body():
        talker = await Client.connect(f"{a.url}/ws?nickname=talker")
        await talker.join(channel)
        ids = []
        for k in range(10):
            await talker.send({"op": "send", "channel": channel, "message": f"h{k}"})
            ids.append((await talker.expect("message", message=f"h{k}"))["id"])
        for query, expected in [("history=3", range(7, 10)), (f"since={ids[5]}", range(6, 10))]:
            seed = await SeedClient.connect(f"{b.url}/chat/join?channel={channel}&nickname=seed&{query}")
            events = await until_own_join_notice(seed, "seed")
            assert [(e["type"], e.get("message"), e.get("replay")) for e in events[:-1]] == [("message", f"h{k}", True) for k in expected], query
            await seed.close()
        seed = await SeedClient.connect(f"{b.url}/chat/join?channel={channel}&nickname=seed&since={ids[5]}&history=3")
        assert (await seed.recv()).get("code") == "bad_request"
        await seed.ws.wait_closed()
        assert seed.ws.close_code == 1008
        await talker.close()

    run(body())


def test_member_list_limit_in_joined_and_presence(redis):
    """Up to MEMBER_LIST_LIMIT members `joined` lists them; past it the list is left
    out, and `presence` gives that many names with `truncated`."""
    server = ChatServer(redis, "list-limit", env={"MEMBER_LIST_LIMIT": "2"})
    channel = unique()
    try:
        async def body():
            clients, replies = [], []
            for name in ("cleo", "Bram", "ada"):
                c = await Client.connect(f"{server.url}/ws?nickname={name}")
                replies.append(await c.join(channel))
                clients.append(c)
            assert [r.get("members") for r in replies[:2]] == [["cleo"], ["Bram", "cleo"]]
            assert "members" not in replies[2] and replies[2]["count"] == 3
            await clients[0].send({"op": "presence", "channel": channel})
            p = await clients[0].expect("presence")
            assert (p["count"], p["members"], p["truncated"]) == (3, ["ada", "Bram"], True)  # the first two, sorted
            await clients[2].close()
            await clients[0].expect("system", event="leave", nickname="ada")
            await clients[0].send({"op": "presence", "channel": channel})
            p = await clients[0].expect("presence")
            assert (p["count"], p["members"], p["truncated"]) == (2, ["Bram", "cleo"], False)
            for c in clients[:2]:
                await c.close()

        run(body())
    finally:
        server.stop()


def test_backend_publish_and_broadcast(instances):
    a, b = instances
    channel = unique()

    async def body():
        member = await Client.connect(f"{b.url}/ws?nickname=member")
        await member.join(channel)
        assert http(a, "POST", "/api/publish", {"channel": channel, "message": "x"})[0] == 401
        assert http(a, "POST", "/api/publish", {"channel": channel, "message": "x"}, key="wrong")[0] == 401
        status, r = http(a, "POST", "/api/publish", b"{not json", key=API_KEY)
        assert status == 400 and r["error"] == "bad_json"
        body = b'{"channel":"' + channel.encode() + b'","message":"\xff"}'  # not UTF-8
        status, r = http(a, "POST", "/api/publish", body, key=API_KEY)
        assert status == 400 and r["error"] == "bad_json"
        dup = b'{"channel":"' + channel.encode() + b'","message":"first","message":"last"}'
        status, r = http(a, "POST", "/api/publish", dup, key=API_KEY)
        assert status == 200 and (await member.expect("message"))["message"] == "last"  # as on WebSocket
        status, r = http(a, "POST", "/api/publish", {"channel": "bad channel", "message": "x"}, key=API_KEY)
        assert status == 400 and r["error"] == "invalid_channel"
        status, r = http(a, "POST", "/api/publish", {"channel": channel, "message": "  "}, key=API_KEY)
        assert status == 400 and r["error"] == "empty_message"
        status, r = http(a, "POST", "/api/publish", {"channel": channel, "message": "from backend", "sender": "billing"}, key=API_KEY)
        assert status == 200 and r["channel"] == channel
        e = await member.expect("message", message="from backend")
        assert e["sender"] == "billing" and e["id"] == r["id"]
        status, r = http(a, "POST", "/api/broadcast", {"message": "maintenance at 5"}, key=API_KEY)
        assert status == 200
        e = await member.expect("broadcast", message="maintenance at 5")
        assert e["sender"] == "System"
        assert http(a, "GET", "/api/publish")[0] == 405
        assert http(a, "GET", "/api/nothing")[0] == 404
        await member.close()

    run(body())


def test_write_api_is_off_without_a_key(redis):
    server = ChatServer(redis, "no-key")
    try:
        status, r = http(server, "POST", "/api/publish", {"channel": "x", "message": "y"}, key="anything")
        assert status == 403 and r["error"] == "api_disabled"
    finally:
        server.stop()


def test_a_killed_instance_leaves_no_ghosts(redis, instances):
    """kill -9 an instance: within 30 s (INSTANCE_TTL 15 s by default) another instance
    removes its members, with leave notices and correct counts everywhere."""
    _, b = instances
    doomed = ChatServer(redis, "doomed")
    channel = unique()

    async def body():
        watcher = await Client.connect(f"{b.url}/ws?nickname=watcher")
        await watcher.join(channel)
        ghosts = []
        for k in range(3):
            g = await Client.connect(f"{doomed.url}/ws?nickname=ghost{k}")
            await g.join(channel)
            ghosts.append(g)
        seed = await SeedClient.connect(f"{doomed.url}/chat/join?channel={channel}&nickname=ghostseed")
        await seed.expect("system")
        wait_until(lambda: hlen(redis, channel) == 5, what="five members")
        doomed.proc.send_signal(signal.SIGKILL)
        doomed.proc.wait()
        left = set()
        while len(left) < 4:
            e = await watcher.expect("system", event="leave", timeout=60)
            left.add(e["nickname"])
        assert left == {"ghost0", "ghost1", "ghost2", "ghostseed"}
        assert hlen(redis, channel) == 1
        await watcher.send({"op": "presence", "channel": channel})
        p = await watcher.expect("presence")
        assert p["members"] == ["watcher"] and p["count"] == 1
        # Its registry entries are gone too.
        # (The registry entry goes after the last leave: a couple of round trips later.)
        wait_until(lambda: not any(i.startswith("doomed.") for i in redis.cli("SMEMBERS", "chat:instances").split()),
                   what="the dead instance unregistered")
        await watcher.close()

    try:
        run(body(), timeout=60)
    finally:
        doomed.stop()


def test_a_killed_instance_with_more_members_than_one_cleanup_batch_leaves_no_ghosts():
    """The cleanup after a crash goes in batches of 200 members: an instance killed
    with 450 members in 150 channels is cleaned up completely, and every count is
    exact afterwards (a private Redis, so that the survivor is the only cleaner)."""
    redis = RedisServer()
    env = {"INSTANCE_TTL": "2", "RATE_LIMIT": "0", "MAX_CHANNELS_PER_CONNECTION": "150"}
    survivor = ChatServer(redis, "survivor", env=env)
    doomed = ChatServer(redis, "crowded", env=env)
    channels = [unique(f"g{k}") for k in range(150)]
    watched = channels[:3]

    def doomed_id():
        return next(i for i in redis.cli("SMEMBERS", "chat:instances").split() if i.startswith("crowded."))

    async def body():
        watcher = await Client.connect(f"{survivor.url}/ws?nickname=watcher")
        for channel in watched:
            await watcher.join(channel)
        for k in range(3):
            c = await Client.connect(f"{doomed.url}/ws?nickname=ghost{k}")
            await c.expect("welcome")
            c.send_together([{"op": "join", "channel": channel} for channel in channels])
            for _ in channels:
                await c.expect("joined", timeout=15)
        wait_until(lambda: redis.cli("SCARD", f"chat:instance:{doomed_id()}:members") == "450", what="450 members recorded")
        assert all(hlen(redis, ch) == 4 for ch in watched)
        gone = doomed_id()
        doomed.proc.send_signal(signal.SIGKILL)
        doomed.proc.wait()

        def clean():
            return (redis.cli("ZCARD", "chat:channels") == "3" and redis.cli("EXISTS", f"chat:instance:{gone}:members") == "0"
                    and gone not in redis.cli("SMEMBERS", "chat:instances").split())

        wait_until(clean, timeout=30, interval=0.2, what="the dead instance's 450 members removed")
        assert all(hlen(redis, ch) == 0 for ch in channels[3:])
        assert all(hlen(redis, ch) == 1 for ch in watched)
        scores = redis.cli("ZRANGE", "chat:channels", "0", "-1", "WITHSCORES").split()
        assert dict(zip(scores[0::2], scores[1::2])) == {ch: "1" for ch in watched}
        # The watcher saw each ghost leave each of its channels, down to itself alone.
        notices = [await watcher.expect("system", event="leave") for _ in range(9)]
        assert {(e["channel"], e["nickname"]) for e in notices} == {(ch, f"ghost{k}") for ch in watched for k in range(3)}
        assert {ch: min(e["count"] for e in notices if e["channel"] == ch) for ch in watched} == {ch: 1 for ch in watched}
        for channel in watched:
            await watcher.send({"op": "presence", "channel": channel})
            p = await watcher.expect("presence", channel=channel)
            assert (p["count"], p["members"]) == (1, ["watcher"])
        assert metrics(survivor)["chat_dead_instance_members_removed_total"] == 450
        await watcher.close()

    try:
        run(body(), timeout=90)
    finally:
        doomed.stop()
        survivor.stop()
        redis.stop()


def test_two_live_processes_with_one_instance_id_keep_their_members(redis, instances):
    """A restart without a gap (start the new process, then stop the old) with a fixed
    INSTANCE_ID: the new one must not take the old, still alive, for its dead previous
    life and remove its members (the two used to do that to each other every sweep)."""
    _, b = instances
    env = {"INSTANCE_ID": "twin", "INSTANCE_TTL": "1"}  # sweeps every 1/3 s, a second after start
    old = ChatServer(redis, "twin-old", env=env)
    new = None
    channel = unique()

    async def body():
        nonlocal new
        watcher = await Client.connect(f"{b.url}/ws?nickname=watcher")
        await watcher.join(channel)
        users = [await Client.connect(f"{old.url}/ws?nickname=user{k}") for k in range(2)]
        for u in users:
            await u.join(channel)
        for k in range(2):
            await watcher.expect("system", event="join", nickname=f"user{k}")
        new = ChatServer(redis, "twin-new", env=env)
        await watcher.no_event(4)  # a dozen sweeps of the new process: no leave notices
        assert hlen(redis, channel) == 3
        old.stop()  # now the old one goes, cleanly
        left = {(await watcher.expect("system", event="leave"))["nickname"] for _ in range(2)}
        assert left == {"user0", "user1"} and hlen(redis, channel) == 1
        await watcher.close()

    try:
        run(body(), timeout=60)
    finally:
        old.stop()
        if new:
            new.stop()


def test_history_max_age_drops_old_messages(redis):
    age = 3
    server = ChatServer(redis, "aging", env={"HISTORY_MAX_AGE": str(age), "RATE_LIMIT": "0"})
    channel = unique()

    def redis_millis():
        seconds, micros = redis.cli("TIME").split()
        return int(seconds) * 1000 + int(micros) // 1000

    try:
        async def body():
            s = await Client.connect(f"{server.url}/ws?nickname=ager")
            await s.join(channel)
            for k in range(3):
                await s.send({"op": "send", "channel": channel, "message": f"old{k}"})
            old = int((await s.expect("message", message="old2"))["id"].split("-")[0])
            # The old ones are past the age by Redis's clock (which stamps the ids): the next
            # event trims them. ("fresh" then has `age` seconds to stay young while the late
            # joiner and the API look.)
            await asyncio.to_thread(wait_until, lambda: redis_millis() - old > age * 1000, age + 10, 0.05,
                                    "the old messages past HISTORY_MAX_AGE")
            await s.send({"op": "send", "channel": channel, "message": "fresh"})
            await s.expect("message", message="fresh")
            late = await Client.connect(f"{server.url}/ws?nickname=later")
            await late.expect("welcome")
            j = await late.join(channel, history=10)
            replay = [await late.recv() for _ in range(j["replayed"])]
            assert [e.get("message") for e in replay] == ["fresh"]
            status, h = http(server, "GET", f"/api/channels/{channel}/history")
            assert [e["message"] for e in h["messages"] if e["type"] == "message"] == ["fresh"]
            await s.close()
            await late.close()

        run(body())
    finally:
        server.stop()


def test_a_stalled_instance_taken_for_dead_writes_its_members_back(redis, instances):
    """SIGSTOP an instance past its INSTANCE_TTL: the others remove its members (leave
    notices); when it resumes it finds itself marked and writes them back."""
    _, b = instances
    stalled = ChatServer(redis, "stalled", env={"INSTANCE_TTL": "2"})
    channel = unique()

    async def body():
        watcher = await Client.connect(f"{b.url}/ws?nickname=watcher")
        await watcher.join(channel)
        sleeper = await Client.connect(f"{stalled.url}/ws?nickname=sleeper")
        await sleeper.join(channel)
        wait_until(lambda: hlen(redis, channel) == 2, what="two members")
        stalled.proc.send_signal(signal.SIGSTOP)
        try:
            await watcher.expect("system", event="leave", nickname="sleeper", timeout=25)
            assert hlen(redis, channel) == 1
        finally:
            stalled.proc.send_signal(signal.SIGCONT)
        wait_until(lambda: hlen(redis, channel) == 2, timeout=10, what="members written back")
        log = stalled.log()
        assert "writing them back" in log or "writing its members back" in log
        # Still a working member.
        await sleeper.send({"op": "send", "channel": channel, "message": "I was asleep"})
        await watcher.expect("message", message="I was asleep")
        await sleeper.close()
        await watcher.expect("system", event="leave", nickname="sleeper")
        await watcher.close()

    try:
        run(body(), timeout=60)
    finally:
        stalled.stop()


def test_replays_and_history_answers_of_big_messages_stay_within_the_output_limit(redis):
    """A channel of big messages: a join's replay holds the newest that fit in half of
    OUTPUT_BUFFER_LIMIT (the joiner is not cut off as too slow), a resume is told that
    it did not get everything, and the history API pages through all of it in answers
    of at most OUTPUT_BUFFER_LIMIT."""
    limit = 262_144
    server = ChatServer(redis, "bigreplay", env={"OUTPUT_BUFFER_LIMIT": str(limit), "RATE_LIMIT": "0", "API_KEY": API_KEY})
    channel = unique()
    text = "\U0001F600" * 1_990  # 8 KB of UTF-8 each; 60 of them are almost twice the limit
    ids = []
    try:
        for k in range(60):
            status, reply = http(server, "POST", "/api/publish", {"channel": channel, "message": f"{k}:{text}", "sender": "filler"}, key=API_KEY)
            assert status == 200
            ids.append(reply["id"])

        async def body():
            for how in ({"history": 60}, {"since": ids[0]}):
                c = await Client.connect(f"{server.url}/ws?nickname=joiner")
                await c.expect("welcome")
                await c.send({"op": "join", "channel": channel, "ref": 7, **how})
                joined = await c.expect("joined")
                n = joined["replayed"]
                assert 10 <= n < 59, n  # ~15 fit in 128 KiB
                if "since" in how:
                    cut = await c.expect("history_truncated")
                    assert cut["since"] == ids[0] and cut["ref"] == 7
                replay = [await c.recv() for _ in range(n)]
                fillers = [e["id"] for e in replay if e.get("sender") == "filler"]
                assert fillers == ids[-len(fillers):] and len(fillers) >= n - 3 and all(e["replay"] for e in replay)  # the newest, in order
                await c.expect("system", event="join", nickname="joiner")
                await c.send({"op": "send", "channel": channel, "message": "still here"})
                await c.expect("message", message="still here")  # not cut off as too slow
                await c.close()

        run(body())

        got, since = [], ids[0]
        while True:  # forward from the first id, as a client catching up would
            status, h = http(server, "GET", f"/api/channels/{channel}/history?since={since}&limit=1000")
            assert status == 200 and h["messages"], h.get("truncated")
            assert sum(len(str(e).encode()) for e in h["messages"]) < limit * 1.2
            got += [e["id"] for e in h["messages"] if e.get("sender") == "filler"]
            if not h["truncated"]:
                break
            since = h["messages"][-1]["id"]
        assert got == ids[1:]
        status, h = http(server, "GET", f"/api/channels/{channel}/history?limit=1000")  # the latest: the newest that fit
        fillers = [e["id"] for e in h["messages"] if e.get("sender") == "filler"]
        assert h["truncated"] is True and fillers == ids[-len(fillers):] and 10 <= len(fillers) < 59
        assert "slow consumer" not in server.log()
    finally:
        server.stop()


def test_a_name_typed_two_ways_is_one_channel_on_every_instance(instances):
    """`é` as one character or as `e` and a combining accent: one channel (NFC), on both
    instances, under one name (the two spellings used to be one channel in a server's
    tables but two in Redis)."""
    a, b = instances
    tag = unique("caf")

    async def body():
        x = await Client.connect(f"{a.url}/ws?nickname=x")
        y = await Client.connect(f"{b.url}/ws?nickname=y")
        jx = await x.join(tag + "\u00e9")
        await y.expect("welcome")
        await y.send({"op": "join", "channel": tag + "e\u0301"})
        jy = await y.expect("joined")  # under the one-character spelling
        assert jx["channel"] == jy["channel"] and jy["channel"].encode() == (tag + "\u00e9").encode()
        assert jy["count"] == 2 and jy["members"] == ["x", "y"]
        await y.send({"op": "send", "channel": tag + "e\u0301", "message": "hello"})
        assert (await x.expect("message", message="hello"))["channel"].encode() == (tag + "\u00e9").encode()
        for c in (x, y):
            await c.close()

    run(body())
