"""Chat behaviour across two instances sharing one Redis (issue: core)."""
import asyncio
import base64

from harness import API_KEY, Client, SeedClient, http, run, seed_data, unique, wait_until



def test_messages_reach_members_on_both_instances_in_one_order(instances):
    a, b = instances
    channel = unique()

    async def body():
        members = [await Client.connect(f"{a.url}/ws?nickname=a{i}") for i in range(2)]
        members += [await Client.connect(f"{b.url}/ws?nickname=b{i}") for i in range(2)]
        for m in members:
            await m.expect("welcome")
            await m.join(channel)
        per_sender = 15

        async def chat(client, name):
            for k in range(per_sender):
                await client.send({"op": "send", "channel": channel, "message": f"{name}:{k}"})

        await asyncio.gather(*(chat(m, f"s{i}") for i, m in enumerate(members)))
        total = per_sender * len(members)
        seen = []
        for m in members:
            got = []
            while len(got) < total:
                e = await m.expect("message", channel=channel)
                got.append((e["id"], e["sender"], e["message"]))
            seen.append(got)
        # Everyone saw every message, in the same order, with strictly increasing ids.
        assert all(s == seen[0] for s in seen)
        assert len({m for _, _, m in seen[0]}) == total
        ids = [tuple(map(int, i.split("-"))) for i, _, _ in seen[0]]
        assert ids == sorted(ids) and len(set(ids)) == total
        # Per sender, messages keep the order they were sent in.
        for i in range(len(members)):
            mine = [int(m.split(":")[1]) for _, _, m in seen[0] if m.startswith(f"s{i}:")]
            assert mine == list(range(per_sender))
        for m in members:
            await m.close()

    run(body())


def test_message_event_fields_and_stream_storage(instances, redis):
    a, b = instances
    channel = unique()

    async def body():
        alice = await Client.connect(f"{a.url}/ws?nickname=alice")
        bob = await Client.connect(f"{b.url}/ws?nickname=bob")
        await alice.join(channel)
        await bob.join(channel)
        await alice.send({"op": "send", "channel": channel, "message": "héllo \"quoted\" <b>x</b>"})
        event = await bob.expect("message", channel=channel)
        assert event["sender"] == "alice"
        assert event["message"] == "héllo \"quoted\" <b>x</b>"
        assert event["channel"] == channel
        assert isinstance(event["ts"], int) and event["ts"] > 1_600_000_000_000
        assert event["id"].startswith(str(event["ts"]) + "-")
        # The id is the entry id in the channel's Redis Stream.
        stream = redis.cli("XRANGE", f"chat:{{{channel}}}:stream", event["id"], event["id"])
        assert event["id"] in stream and "héllo" in stream
        await alice.close()
        await bob.close()

    run(body())


def test_join_and_leave_notices_carry_the_global_count(instances):
    a, b = instances
    channel = unique()

    async def body():
        alice = await Client.connect(f"{a.url}/ws?nickname=alice")
        joined = await alice.join(channel)
        assert joined["count"] == 1
        notice = await alice.expect("system", channel=channel)
        assert notice == {**notice, "event": "join", "sender": "System", "message": "alice joined the chat.", "count": 1}

        bob = await Client.connect(f"{b.url}/ws?nickname=bob")
        assert (await bob.join(channel))["count"] == 2
        notice = await alice.expect("system", channel=channel)
        assert (notice["message"], notice["count"], notice["nickname"]) == ("bob joined the chat.", 2, "bob")

        carol = await Client.connect(f"{b.url}/ws?nickname=carol")
        await carol.join(channel)
        assert (await alice.expect("system", channel=channel))["count"] == 3

        await bob.send({"op": "leave", "channel": channel, "ref": "bye"})
        left = await bob.expect("left", channel=channel)
        assert (left["count"], left["ref"]) == (2, "bye")
        notice = await alice.expect("system", channel=channel)
        assert (notice["event"], notice["message"], notice["count"]) == ("leave", "bob left the chat.", 2)

        # Closing the socket leaves every channel too.
        await carol.close()
        notice = await alice.expect("system", channel=channel)
        assert (notice["message"], notice["count"]) == ("carol left the chat.", 1)
        await alice.close()
        await bob.close()

    run(body())


def test_one_connection_in_several_channels(instances):
    a, b = instances
    ch1, ch2 = unique(), unique()

    async def body():
        multi = await Client.connect(f"{a.url}/ws?nickname=multi")
        other = await Client.connect(f"{b.url}/ws?nickname=other")
        await multi.join(ch1)
        await multi.join(ch2)
        await other.join(ch1)
        await other.join(ch2)
        await other.send({"op": "send", "channel": ch1, "message": "to one"})
        await other.send({"op": "send", "channel": ch2, "message": "to two"})
        got = {}
        while len(got) < 2:
            e = await multi.expect("message")
            got[e["channel"]] = e["message"]
        assert got == {ch1: "to one", ch2: "to two"}

        await multi.send({"op": "leave", "channel": ch1})
        await multi.expect("left", channel=ch1)
        await other.send({"op": "send", "channel": ch1, "message": "after leave"})
        await other.send({"op": "send", "channel": ch2, "message": "still here"})
        e = await multi.expect("message")
        assert (e["channel"], e["message"]) == (ch2, "still here")
        await multi.send({"op": "send", "channel": ch1, "message": "x", "ref": 7})
        err = await multi.expect("error")
        assert (err["code"], err["channel"], err["ref"]) == ("not_joined", ch1, 7)
        await multi.close()
        await other.close()

    run(body())


def test_broadcast_reaches_every_client_on_every_instance(instances):
    a, b = instances

    async def body():
        sender = await Client.connect(f"{a.url}/ws?nickname=announcer")
        lonely = await Client.connect(f"{b.url}/ws?nickname=lonely")  # in no channel
        seed = await SeedClient.connect(f"{b.url}/chat/join?channel={unique()}&nickname=seedy")
        await lonely.expect("welcome")
        await seed.expect("system")
        text = unique("news")
        await sender.send({"op": "broadcast", "message": text})
        for c in (sender, lonely, seed):
            e = await c.expect("broadcast", message=text)
            assert e["sender"] == "announcer" and "id" in e and "ts" in e
        for c in (sender, lonely, seed):
            await c.close()

    run(body())


def test_broadcast_op_is_forbidden_with_allow_broadcast_false(redis):
    """ALLOW_BROADCAST=false (set explicitly: the default may change): the op gets
    `forbidden` and reaches nobody; the backend's API broadcast still works."""
    from harness import API_KEY, ChatServer, http
    server = ChatServer(redis, "no-broadcast", env={"ALLOW_BROADCAST": "false", "API_KEY": API_KEY})

    async def body():
        sender = await Client.connect(f"{server.url}/ws?nickname=announcer")
        listener = await Client.connect(f"{server.url}/ws?nickname=listener")
        for c in (sender, listener):
            await c.expect("welcome")
        await sender.send({"op": "broadcast", "message": "to everyone", "ref": "b1"})
        e = await sender.recv_until(lambda e: e["type"] in ("error", "broadcast"))
        assert (e["type"], e.get("code"), e.get("ref")) == ("error", "forbidden", "b1"), e
        await sender.send({"op": "ping", "ref": "still"})  # the connection stays usable
        assert (await sender.expect("pong"))["ref"] == "still"
        # Broadcasts keep one order: the first that reaches anyone is the backend's.
        assert http(server, "POST", "/api/broadcast", {"message": "from the backend"}, key=API_KEY)[0] == 200
        for c in (sender, listener):
            e = await c.expect("broadcast")
            assert (e["message"], e["sender"]) == ("from the backend", "System"), e
        for c in (sender, listener):
            await c.close()

    try:
        run(body())
    finally:
        server.stop()


def test_broadcasts_and_channel_messages_keep_one_order(instances):
    """Channel messages and broadcasts arriving from Redis in one read go out in Redis's
    order (they are batched separately, so a mix-up would put all broadcasts last)."""
    a, b = instances
    channel = unique()

    async def body():
        sender = await Client.connect(f"{a.url}/ws?nickname=mixer")
        readers = [await Client.connect(f"{srv.url}/ws?nickname=mixreader{i}") for i, srv in enumerate((a, b))]
        for c in [sender] + readers:
            await c.expect("welcome")
            await c.join(channel)
        expected = []
        for k in range(40):
            if k % 2:
                await sender.send({"op": "broadcast", "message": f"b{k}"})
            else:
                await sender.send({"op": "send", "channel": channel, "message": f"m{k}"})
            expected.append(k)
        for c in readers:
            got = []
            while len(got) < len(expected):
                e = await c.recv_until(lambda e: e.get("type") in ("message", "broadcast") and e.get("sender") == "mixer")
                got.append(int(e["message"][1:]))
            assert got == expected
        for c in [sender] + readers:
            await c.close()

    run(body())


def test_seed_endpoint_contract(instances):
    a, b = instances
    channel = unique()

    async def body():
        watcher = await Client.connect(f"{a.url}/ws?nickname=watcher")
        await watcher.join(channel)
        carol = await SeedClient.connect(f"{b.url}/chat/join?channel={channel}&nickname=carol")
        # Every event a seed client gets is in the original envelope (SeedClient checks
        # each), with sender and message beside it; the first is its own join.
        first = await carol.recv()
        assert (first["sender"], first["message"], first["count"]) == ("System", "carol joined the chat.", 2)
        assert (first["channel"], seed_data(first)) == (channel, ("System", "carol joined the chat."))
        await watcher.expect("system", message="carol joined the chat.")
        await carol.send({"message": "hi from the seed protocol"})
        for c in (carol, watcher):
            e = await c.expect("message", channel=channel)
            assert (e["sender"], e["message"]) == ("carol", "hi from the seed protocol")
            assert "id" in e and "ts" in e
        await carol.send({"message": ""})
        err = await carol.recv()
        assert (err["type"], err["code"], err["sender"]) == ("error", "empty_message", "System")
        await carol.close()
        notice = await watcher.expect("system", channel=channel)
        assert (notice["message"], notice["count"]) == ("carol left the chat.", 1)
        await watcher.close()

    run(body())


def test_seed_clients_read_the_original_envelope(instances):
    """/chat/join clients read every event as the original (Go) server sent it:
    {"channel": …, "data": base64 of {"sender": …, "message": …}}, decoded here exactly
    as its clients do. Messages from /ws clients and from seed clients, join notices,
    broadcasts and replies, on two instances; /ws clients keep the flat events."""
    a, b = instances
    channel = unique()

    async def body():
        watcher = await Client.connect(f"{a.url}/ws?nickname=watcher")
        await watcher.join(channel)
        dora = await SeedClient.connect(f"{a.url}/chat/join?channel={channel}&nickname=dora")
        first = await dora.recv()
        assert first["channel"] == channel and seed_data(first) == ("System", "dora joined the chat.")
        assert (first["type"], first["event"], first["count"]) == ("system", "join", 2)
        await watcher.expect("system", message="dora joined the chat.")
        erin = await SeedClient.connect(f"{b.url}/chat/join?channel={channel}&nickname=erin")
        assert seed_data(await erin.recv()) == ("System", "erin joined the chat.")
        e = await dora.recv()
        assert (e["channel"], seed_data(e)) == (channel, ("System", "erin joined the chat."))
        # A message from a /ws client reaches both seed clients (one per instance).
        text = "hello <seeds> & \"friends\" \u00e9\u2028\n"
        await watcher.send({"op": "send", "channel": channel, "message": text})
        flat = await watcher.expect("message", channel=channel)
        assert "data" not in flat and flat["message"] == text
        for c in (dora, erin):
            e = await c.recv()
            assert (e["channel"], seed_data(e)) == (channel, ("watcher", text)), e
            assert (e["type"], e["id"], e["ts"]) == ("message", flat["id"], flat["ts"])
        # Go's encoding/json escapes <, > and & (and U+2028) in `data`.
        raw = base64.b64decode(e["data"]).decode()
        assert "\\u003cseeds\\u003e \\u0026" in raw and "\\u2028" in raw and "<" not in raw, raw
        # A message from a seed client (the original's {"message": …}), across instances.
        await erin.send({"message": "from the seed side"})
        for c in (dora, erin):
            e = await c.recv()
            assert (e["channel"], seed_data(e)) == (channel, ("erin", "from the seed side")), e
        e = await watcher.expect("message", channel=channel)
        assert (e["sender"], e["message"]) == ("erin", "from the seed side") and "data" not in e
        # An error for the seed client alone.
        await dora.send({"message": " "})
        e = await dora.recv()
        assert (e["type"], e["code"], e["channel"], seed_data(e)[0]) == ("error", "empty_message", channel, "System")
        # A reply to an op (no sender, no message): from System, empty.
        await dora.send({"op": "ping", "ref": "p"})
        e = await dora.recv()
        assert (e["type"], e["ref"], e["channel"], seed_data(e)) == ("pong", "p", channel, ("System", ""))
        # A leave notice.
        await erin.close()
        e = await dora.recv()
        assert seed_data(e) == ("System", "erin left the chat.") and e["count"] == 2
        for c in (dora, watcher):
            await c.close()

    run(body())


def test_seed_replay_arrives_in_the_original_envelope(instances):
    """/chat/join?…&history=N: the replayed events, then the join notice, all in the
    envelope (a seed client's own earlier message among them), on either instance."""
    from harness import http
    a, b = instances
    channel = unique()

    async def body():
        talker = await Client.connect(f"{a.url}/ws?nickname=talker")
        await talker.join(channel)
        early = await SeedClient.connect(f"{b.url}/chat/join?channel={channel}&nickname=early")
        await early.recv()
        await early.send({"message": "seeded"})
        await talker.expect("message", message="seeded")
        for k in range(3):
            await talker.send({"op": "send", "channel": channel, "message": f"h{k} <&>"})
        await talker.expect("message", message="h2 <&>")
        await early.close()
        await talker.expect("system", event="leave")
        for k, server in enumerate((a, b)):
            # The replay is the channel's last five events before the join notice.
            status, history = http(a, "GET", f"/api/channels/{channel}/history?limit=5")
            assert status == 200
            expected = [(e["sender"], e["message"]) for e in history["messages"]]
            if k == 0:
                assert expected == [("early", "seeded"), ("talker", "h0 <&>"), ("talker", "h1 <&>"), ("talker", "h2 <&>"),
                                    ("System", "early left the chat.")]
            late = await SeedClient.connect(f"{server.url}/chat/join?channel={channel}&nickname=late&history=5")
            events = []
            while not events or events[-1].get("event") != "join" or events[-1].get("replay"):  # to its own notice
                events.append(await late.recv())
            assert [seed_data(e) for e in events] == expected + [("System", "late joined the chat.")], events
            assert all(e["channel"] == channel for e in events)
            assert all(e.get("replay") is True for e in events[:-1]) and "replay" not in events[-1]
            await late.close()
            await talker.expect("system", event="leave", nickname="late")
        await talker.close()

    run(body())


def test_seed_clients_get_broadcasts_in_the_envelope_of_their_channel(redis):
    """A broadcast has no channel: each seed client's envelope names its own seed
    channel (made once per channel on each worker), /ws clients get it flat."""
    from harness import API_KEY, ChatServer, http
    server = ChatServer(redis, "seed-broadcast", env={"ALLOW_BROADCAST": "true", "API_KEY": API_KEY})
    one, two = unique(), unique()

    async def body():
        plain = await Client.connect(f"{server.url}/ws?nickname=plain")
        await plain.expect("welcome")
        seeds = []
        for channel, nick in ((one, "s1"), (one, "s2"), (two, "s3")):
            c = await SeedClient.connect(f"{server.url}/chat/join?channel={channel}&nickname={nick}")
            await c.expect("system", nickname=nick)
            seeds.append((channel, c))
        await plain.send({"op": "broadcast", "message": "to all & everyone"})
        assert http(server, "POST", "/api/broadcast", {"message": "from ops", "sender": "ops"}, key=API_KEY)[0] == 200
        for expected in (("plain", "to all & everyone"), ("ops", "from ops")):
            e = await plain.expect("broadcast")
            assert (e["sender"], e["message"]) == expected and "data" not in e
            for channel, c in seeds:
                e = await c.expect("broadcast")
                assert (e["channel"], seed_data(e)) == (channel, expected), e
        for _, c in seeds:
            await c.close()
        await plain.close()

    try:
        run(body())
    finally:
        server.stop()


def test_bad_ops_get_error_events_and_the_connection_stays_usable(instances):
    a, _ = instances
    channel = unique()

    async def body():
        c = await Client.connect(f"{a.url}/ws?nickname=tester")
        await c.expect("welcome")
        cases = [
            ("{not json", "bad_json"),
            ('{"op":"dance"}', "unknown_op"),
            ('{"channel":"x"}', "bad_request"),
            ('{"op":"join"}', "bad_request"),
            ('{"op":"join","channel":"bad name!"}', "invalid_channel"),
            ('{"op":"join","channel":42}', "bad_request"),
            (f'{{"op":"send","channel":"{channel}","message":"hi"}}', "not_joined"),
            (f'{{"op":"leave","channel":"{channel}"}}', "not_joined"),
            ('{"op":"send","channel":"x","message":"   "}', "empty_message"),
            ('{"op":"broadcast","message":"' + "é" * 2001 + '"}', "message_too_long"),
        ]
        for raw, code in cases:
            await c.send(raw)
            err = await c.expect("error")
            assert err["code"] == code, (raw, err)
        await c.ws.send(b"\x00\x01binary")
        assert (await c.expect("error"))["code"] == "unsupported_data"
        await c.send({"op": "ping", "ref": "p1"})
        assert (await c.expect("pong"))["ref"] == "p1"
        # Still fully usable.
        await c.join(channel)
        await c.send({"op": "join", "channel": channel, "ref": 2})
        err = await c.expect("error")
        assert (err["code"], err["ref"]) == ("already_joined", 2)
        await c.send({"op": "send", "channel": channel, "message": "works"})
        assert (await c.expect("message", channel=channel))["message"] == "works"
        await c.close()

    run(body())


def test_invalid_names_are_refused_after_the_upgrade(instances):
    a, _ = instances

    async def body():
        for path, code in [("/ws?nickname=", "invalid_nickname"), ("/ws", "invalid_nickname"),
                           ("/ws?nickname=System", "invalid_nickname"),
                           ("/chat/join?channel=&nickname=dan", "invalid_channel"),
                           ("/chat/join?channel=ok&nickname=a%20%20b", "invalid_nickname")]:
            seed = path.startswith("/chat/join")
            c = await (SeedClient if seed else Client).connect(a.url + path)
            err = await c.recv()
            assert (err["type"], err["code"]) == ("error", code), path
            if seed:  # refused in the seed envelope too, naming the channel asked for
                assert err["channel"] == ("" if code == "invalid_channel" else "ok"), err
            try:
                await c.recv()
                raise AssertionError("connection stayed open")
            except Exception as e:  # ConnectionClosed
                assert getattr(e, "rcvd", None) is not None and e.rcvd.code == 1008, e

    run(body())


def test_oversized_websocket_message_closes_with_1009(redis):
    from harness import ChatServer
    server = ChatServer(redis, "small-limit", env={"MAX_MESSAGE_SIZE": "1024"})

    async def body():
        c = await Client.connect(f"{server.url}/ws?nickname=big")
        await c.expect("welcome")
        await c.send('{"op":"ping","pad":"' + "x" * 2000 + '"}')
        try:
            await c.recv()
            raise AssertionError("connection stayed open")
        except Exception as e:
            assert e.rcvd.code == 1009, e

    try:
        run(body())
    finally:
        server.stop()


def test_topic_subscriptions_follow_local_members(instances, redis):
    a, b = instances
    channel = unique()
    topic = f"chat:{{{channel}}}:pub"

    def subscribers():
        return int(redis.cli("PUBSUB", "NUMSUB", topic).split()[-1])

    async def body():
        assert subscribers() == 0
        x = await Client.connect(f"{a.url}/ws?nickname=x")
        y = await Client.connect(f"{a.url}/ws?nickname=y")
        z = await Client.connect(f"{b.url}/ws?nickname=z")
        await x.join(channel)
        await y.join(channel)
        assert subscribers() == 1  # one subscription per instance, not per member
        await z.join(channel)
        assert subscribers() == 2
        await x.send({"op": "leave", "channel": channel})
        await x.expect("left")
        assert subscribers() == 2
        await y.close()
        await z.send({"op": "leave", "channel": channel})
        await z.expect("left")
        # The unsubscriptions follow the last local member's leave, asynchronously.
        await asyncio.to_thread(wait_until, lambda: subscribers() == 0, 10, 0.05, "no subscriber left")
        await x.close()
        await z.close()

    run(body())


def test_joiner_sees_exactly_what_follows_its_join_while_traffic_flows(instances, redis):
    """The `joined` reply comes first, then the joiner's own notice, then every later
    event of the channel with no gap and nothing from before, although the join reply
    and the Pub/Sub stream arrive on two different Redis connections. The same for
    seed joiners (no `joined`; every event in the seed envelope)."""
    a, b = instances
    channel = unique()
    stream = f"chat:{{{channel}}}:stream"

    async def body():
        talker = await Client.connect(f"{a.url}/ws?nickname=talker")
        await talker.join(channel)
        stop = asyncio.Event()

        async def talk():
            k = 0
            while not stop.is_set():
                await talker.send({"op": "send", "channel": channel, "message": f"m{k}"})
                k += 1
                await asyncio.sleep(0.002)

        talking = asyncio.create_task(talk())
        joiners = []
        for i in range(8):
            await asyncio.sleep(0.02)
            c = await Client.connect(f"{(a if i % 2 else b).url}/ws?nickname=j{i}")
            await c.expect("welcome")
            await c.send({"op": "join", "channel": channel})
            joiners.append(c)
            # Seed joiners too (their events in the seed envelope: SeedClient checks each).
            if i % 2:
                await asyncio.sleep(0.01)
                joiners.append(await SeedClient.connect(f"{(b if i % 4 == 1 else a).url}/chat/join?channel={channel}&nickname=s{i}"))
        # Every join through (the talker, eight joiners and four seed joiners in the member
        # hash) before the talking stops, so that "last" comes after each join on any machine.
        await asyncio.to_thread(wait_until, lambda: int(redis.cli("HLEN", f"chat:{{{channel}}}:members")) == 13, 15, 0.05,
                                "every join in the member hash")
        await asyncio.sleep(0.05)  # (a little more traffic after the last join)
        stop.set()
        await talking
        await talker.send({"op": "send", "channel": channel, "message": "last"})
        for c in joiners:
            first = await c.recv()
            if isinstance(c, SeedClient):  # no `joined`: its own notice comes first
                received = [first]
                assert first["nickname"].startswith("s") and first["event"] == "join", first
            else:
                assert first["type"] == "joined", first
                received = [await c.recv()]
                assert received[0]["id"] == first["id"] and received[0]["nickname"].startswith("j")
            while received[-1].get("message") != "last":
                received.append(await c.recv())
            expected = redis.cli("XRANGE", stream, first["id"], "+").split("\n")
            expected_ids = [line for line in expected if "-" in line and line[0].isdigit()]
            assert [e["id"] for e in received] == expected_ids
        for c in joiners + [talker]:
            await c.close()

    run(body())


def test_script_is_reloaded_after_redis_forgets_it(instances, redis):
    """EVALSHA falls back to EVAL on NOSCRIPT (a restarted or flushed Redis)."""
    a, b = instances
    channel = unique()

    async def body():
        x = await Client.connect(f"{a.url}/ws?nickname=x")
        y = await Client.connect(f"{b.url}/ws?nickname=y")
        await x.join(channel)
        await y.join(channel)
        assert redis.cli("SCRIPT", "FLUSH") == "OK"
        await x.send({"op": "send", "channel": channel, "message": "after flush"})
        assert (await y.expect("message"))["message"] == "after flush"
        await x.close()
        await y.close()

    run(body())


def test_big_channels_get_count_updates_instead_of_every_notice(redis):
    """Past PRESENCE_NOTICE_LIMIT members, joins and leaves are not shown to everyone
    (N joins would be N² deliveries); a count update follows within about a second."""
    from harness import ChatServer
    a = ChatServer(redis, "quiet-a", env={"PRESENCE_NOTICE_LIMIT": "3"})
    b = ChatServer(redis, "quiet-b", env={"PRESENCE_NOTICE_LIMIT": "3"})
    channel = unique()

    async def body():
        first = [await Client.connect(f"{(a if i % 2 else b).url}/ws?nickname=m{i}") for i in range(3)]
        for c in first:
            await c.join(channel)
        # Up to the limit: everyone sees every join.
        for c in first:
            assert (await c.expect("system", event="join", nickname="m2"))["count"] == 3
        big = await Client.connect(f"{b.url}/ws?nickname=fourth")
        joined = await big.join(channel)
        assert joined["count"] == 4
        own = await big.expect("system", channel=channel)
        assert (own["event"], own["nickname"], own["quiet"]) == ("join", "fourth", True)
        # The others get no notice for it, but a count update.
        for c in first:
            update = await c.recv_until(lambda e: e["type"] == "system" and e["channel"] == channel, timeout=5)
            assert (update["event"], update["count"], update["message"], update["sender"]) == ("count", 4, "Members: 4", "System")
        # Messages flow to everyone as usual.
        await big.send({"op": "send", "channel": channel, "message": "hello big room"})
        for c in first + [big]:
            await c.expect("message", message="hello big room")
        # Leaving from above the limit is quiet too; below it, notices are back.
        await big.close()
        for c in first:
            update = await c.recv_until(lambda e: e["type"] == "system" and e["channel"] == channel, timeout=5)
            assert (update["event"], update["count"]) == ("count", 3)
        await first[2].close()
        notice = await first[0].expect("system", channel=channel)
        assert (notice["event"], notice["nickname"], notice["count"]) == ("leave", "m2", 2)
        assert "quiet" not in notice
        for c in first[:2]:
            await c.close()

    try:
        run(body())
    finally:
        a.stop()
        b.stop()


def test_seed_clients_in_a_big_channel_get_quiet_notices_and_counts_in_the_envelope(redis):
    """Past PRESENCE_NOTICE_LIMIT a seed joiner's own (quiet) notice, rebuilt for it,
    and the count updates reach seed clients in the envelope too."""
    from harness import ChatServer
    a = ChatServer(redis, "quiet-seed-a", env={"PRESENCE_NOTICE_LIMIT": "1"})
    b = ChatServer(redis, "quiet-seed-b", env={"PRESENCE_NOTICE_LIMIT": "1"})
    channel = unique()

    async def body():
        first = await SeedClient.connect(f"{a.url}/chat/join?channel={channel}&nickname=first")
        e = await first.recv()
        assert (e["event"], seed_data(e)) == ("join", ("System", "first joined the chat.")) and "quiet" not in e
        second = await SeedClient.connect(f"{b.url}/chat/join?channel={channel}&nickname=second")
        own = await second.recv()
        assert (own["event"], own["quiet"], own["count"], own["channel"]) == ("join", True, 2, channel)
        assert seed_data(own) == ("System", "second joined the chat.")
        third = await SeedClient.connect(f"{a.url}/chat/join?channel={channel}&nickname=third")
        own = await third.recv()
        assert (own["quiet"], own["count"], seed_data(own)) == (True, 3, ("System", "third joined the chat."))
        for c in (first, second):
            update = await c.recv_until(lambda e: e.get("event") == "count" and e["count"] == 3, timeout=5)
            assert (update["channel"], seed_data(update)) == (channel, ("System", "Members: 3"))
        for c in (first, second, third):
            await c.close()

    try:
        run(body())
    finally:
        a.stop()
        b.stop()


def test_quiet_joins_and_leaves_take_no_room_in_history(redis):
    """A big channel's quiet joins and leaves are not stored: however many come and
    go, the messages stay in history, in replays and in the history API."""
    from harness import ChatServer, http
    server = ChatServer(redis, "quiet-history", env={"PRESENCE_NOTICE_LIMIT": "2", "REPLAY_LIMIT": "8"})
    channel = unique()

    async def body():
        members = [await Client.connect(f"{server.url}/ws?nickname=m{i}") for i in range(3)]
        for c in members:
            await c.join(channel)
        for k in range(5):
            await members[0].send({"op": "send", "channel": channel, "message": f"hello {k}"})
        first = await members[0].expect("message", message="hello 0")
        await members[0].expect("message", message="hello 4")
        for k in range(15):  # people come and go, quietly (the channel is over the notice limit)
            visitor = await Client.connect(f"{server.url}/ws?nickname=v{k}")
            joined = await visitor.join(channel)
            own = await visitor.expect("system", event="join", nickname=f"v{k}")
            assert own["quiet"] is True and own["id"] == joined["id"]  # its place in the channel's order
            await visitor.close()
        newcomer = await Client.connect(f"{server.url}/ws?nickname=newcomer")
        joined = await newcomer.join(channel, history=8)
        replay = [await newcomer.recv() for _ in range(joined["replayed"])]
        assert [e.get("message") for e in replay if e["type"] == "message"] == [f"hello {k}" for k in range(5)]
        resumer = await Client.connect(f"{server.url}/ws?nickname=resumer")
        await resumer.expect("welcome")
        await resumer.send({"op": "join", "channel": channel, "since": first["id"]})
        joined = await resumer.expect("joined")  # no history_truncated before it
        assert joined["replayed"] == 4
        assert [(await resumer.recv())["message"] for _ in range(4)] == [f"hello {k}" for k in range(1, 5)]
        assert int(redis.cli("XLEN", f"chat:{{{channel}}}:stream")) == 7  # two notices, five messages
        for c in members + [newcomer, resumer]:
            await c.close()

    try:
        run(body())
        status, h = http(server, "GET", f"/api/channels/{channel}/history?limit=8")
        assert [e["message"] for e in h["messages"] if e["type"] == "message"] == [f"hello {k}" for k in range(5)]
    finally:
        server.stop()


def test_messages_sent_while_joining_wait_for_the_join_up_to_a_bound(instances):
    """Messages sent before the join is answered go out right after it, in order; past
    64 of them the rest are dropped with rate_limited (Redis is fine: not unavailable)."""
    a, _ = instances
    channel = unique()

    async def body():
        c = await Client.connect(f"{a.url}/ws?nickname=eager")
        await c.expect("welcome")
        ops = [{"op": "join", "channel": channel}] + [{"op": "send", "channel": channel, "message": f"m{k}", "ref": k} for k in range(70)]
        c.send_together(ops)  # all read in one turn, before the join's reply can come back
        errors = [await c.expect("error") for _ in range(6)]
        assert [(e["code"], e["ref"]) for e in errors] == [("rate_limited", k) for k in range(64, 70)]
        await c.expect("joined")
        got = [(await c.expect("message"))["message"] for _ in range(64)]
        assert got == [f"m{k}" for k in range(64)]
        await c.no_event(0.3)
        await c.close()

    run(body())


def test_every_script_is_reloaded_after_redis_forgets_it(instances, redis):
    """Each operation's script (join, publish, history, password, leave) falls back to
    EVAL on NOSCRIPT, and the directory follows the replies."""
    a, b = instances
    channel = unique()

    async def body():
        x = await Client.connect(f"{a.url}/ws?nickname=x")
        y = await Client.connect(f"{b.url}/ws?nickname=y")
        await x.join(channel)
        assert redis.cli("SCRIPT", "FLUSH") == "OK"
        assert (await y.join(channel))["count"] == 2
        assert redis.cli("SCRIPT", "FLUSH") == "OK"
        await x.send({"op": "send", "channel": channel, "message": "after flush"})
        assert (await y.expect("message"))["message"] == "after flush"
        assert redis.cli("SCRIPT", "FLUSH") == "OK"
        status, h = http(a, "GET", f"/api/channels/{channel}/history?limit=10")
        assert status == 200 and [m["message"] for m in h["messages"] if m["type"] == "message"] == ["after flush"]
        assert redis.cli("SCRIPT", "FLUSH") == "OK"
        assert http(a, "PUT", f"/api/channels/{channel}", {"password": "hunter2"}, key=API_KEY)[0] == 200
        assert redis.cli("ZSCORE", "chat:channels:protected", channel) == "2"
        assert redis.cli("SCRIPT", "FLUSH") == "OK"
        await y.send({"op": "leave", "channel": channel})
        await y.expect("left")
        await x.expect("system", event="leave", nickname="y")
        wait_until(lambda: redis.cli("ZSCORE", "chat:channels:protected", channel) == "1", what="directory count after leave")
        await x.close()
        await y.close()

    run(body())
