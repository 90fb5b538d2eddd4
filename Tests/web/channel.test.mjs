// web/js/session/channel.mjs: a channel's state and the join policy.
import test from "node:test";
import assert from "node:assert/strict";
import * as C from "../../web/js/session/channel.mjs";

function joinedAs(ch, ref, ev = {}) {
  C.joinSent(ch, ref);
  return C.joined(ch, { ref, count: 1, members: ["me"], ...ev }, 0);
}

test("a new channel asks for history; one with a last id resumes after it", () => {
  const fresh = C.newChannel("a", {}, 1);
  assert.deepEqual(C.joinRequest(fresh), { op: "join", channel: "a", history: 50 });
  const back = C.newChannel("b", { lastId: "9-1", restored: true }, 1);
  assert.deepEqual(C.joinRequest(back), { op: "join", channel: "b", since: "9-1" });
  assert.equal(back.askedOn, 0, "restored: asked for before any connection of this page");
  C.joinSent(back, 7);
  assert.equal(back.phase, "joining");
  assert.equal(back.countReplay, true, "what a resume replays was missed: it counts as unread");
  C.joinSent(fresh, 8);
  assert.equal(fresh.countReplay, false, "history of a new tab is not unread");
});

test("no second join while one is out, joined or waiting for a password", () => {
  const ch = C.newChannel("a", {}, 1);
  for (const phase of ["joining", "joined", "locked"]) {
    ch.phase = phase;
    assert.equal(C.joinRequest(ch), null, phase);
  }
  ch.phase = "waiting";
  assert.ok(C.joinRequest(ch), "a scheduled retry may go early (a new connection)");
});

test("a typed password goes with its join; a rejoin tries without it first", () => {
  const ch = C.newChannel("club", { password: "s3cret" }, 1);
  assert.equal(C.joinRequest(ch).password, "s3cret", "typed: may create the protection");
  assert.ok(joinedAs(ch, 1, { protected: true }));
  assert.equal(ch.isProtected, true);
  C.connectionLost(ch);
  const rejoin = C.joinRequest(ch);
  assert.equal(rejoin.password, undefined, "a channel that became public must not be protected again");
  C.joinSent(ch, 2);
  const r = C.refusal(ch, { ref: 2, code: "wrong_password" }, { withPassword: false }, 2, "t");
  assert.deepEqual(r, { act: "rejoin" });
  assert.equal(C.joinRequest(ch).password, "s3cret", "after wrong_password: with it");
  C.joinSent(ch, 3);
  assert.deepEqual(C.refusal(ch, { ref: 3, code: "wrong_password" }, { withPassword: true }, 2, "t"), { act: "lock" },
    "refused with the password too: it changed");
});

test("a public channel forgets the password it was joined with", () => {
  const ch = C.newChannel("open", { password: "x" }, 1);
  joinedAs(ch, 1, { protected: false });
  assert.equal(ch.password, "");
  C.connectionLost(ch);
  assert.equal(C.joinRequest(ch).password, undefined);
});

test("joined: only the answer to the current join counts", () => {
  const ch = C.newChannel("a", {}, 1);
  C.joinSent(ch, 4);
  assert.equal(C.joined(ch, { ref: 3, count: 2, members: ["x", "y"] }, 0), false, "an abandoned join's answer");
  assert.equal(ch.phase, "joining");
  assert.equal(C.joined(ch, { ref: 4, count: 2, members: ["x", "y"], id: "5-0" }, 123), true);
  assert.equal(ch.phase, "joined");
  assert.deepEqual([...ch.members], ["x", "y"]);
  assert.equal(ch.joinNoticeId, "5-0");
  assert.equal(ch.lastPresence, 123);
  const big = C.newChannel("big", {}, 1);
  C.joinSent(big, 1);
  C.joined(big, { ref: 1, count: 5000 }, 0);
  assert.equal(big.members, null);
  assert.equal(big.tooBig, true, "no member list: too big to list");
});

test("events: none before joined, repeats dropped, own join notice ends the replay", () => {
  const ch = C.newChannel("a", { lastId: "10-0" }, 1);
  C.joinSent(ch, 1);
  assert.equal(C.accept(ch, { id: "11-0" }), "", "between join and joined nothing is taken");
  C.joined(ch, { ref: 1, count: 1, members: ["me"], id: "20-0" }, 0);
  assert.equal(C.accept(ch, { id: "9-5" }), "", "older than the last shown");
  assert.equal(C.accept(ch, { id: "10-0" }), "", "the last shown itself");
  assert.equal(C.accept(ch, { id: "10-1" }), "new");
  assert.equal(ch.lastId, "10-1");
  assert.equal(C.accept(ch, { id: "10-1" }), "", "a repeat");
  assert.equal(C.accept(ch, { id: "20-0" }), "resumed");
  assert.equal(C.accept(ch, {}), "take", "events without an id (pong-like notices) are taken");
  assert.equal(ch.lastId, "20-0");
});

test("join and leave notices keep members and count; a mismatch asks for the list", () => {
  const ch = C.newChannel("a", {}, 1);
  joinedAs(ch, 1, { count: 2, members: ["me", "bob"] });
  assert.equal(C.memberNotice(ch, { event: "join", nickname: "cy", count: 3 }), false);
  assert.deepEqual([...ch.members].sort(), ["bob", "cy", "me"]);
  assert.equal(C.memberNotice(ch, { event: "leave", nickname: "bob", count: 2 }), false);
  assert.deepEqual([...ch.members].sort(), ["cy", "me"]);
  // A quiet notice names nobody: the count moves, the list does not.
  assert.equal(C.memberNotice(ch, { event: "join", nickname: "dee", quiet: true, count: 3 }), true);
  assert.deepEqual([...ch.members].sort(), ["cy", "me"]);
  C.presence(ch, { members: ["cy", "dee", "me"], count: 3 });
  assert.equal(ch.members.size, 3);
  C.presence(ch, { truncated: true, count: 900 });
  assert.equal(ch.members, null);
  assert.equal(ch.tooBig, true);
});

test("presence is asked for only when needed, paced by the channel's size", () => {
  const ch = C.newChannel("a", {}, 1);
  assert.equal(C.presenceWait(ch, 0), null, "not joined");
  joinedAs(ch, 1, { count: 1, members: ["me"] });
  ch.lastPresence = 1000;
  assert.equal(C.presenceWait(ch, 2000), null, "list and count agree");
  ch.stale = true;
  assert.equal(C.presenceWait(ch, 2000), 4000, "5 s after the last ask");
  assert.ok(C.presenceWait(ch, 7000) <= 0, "due");
  ch.count = 101;
  assert.equal(C.presenceWait(ch, 2000), 29000, "over 100 members: every 30 s");
  ch.tooBig = true;
  assert.equal(C.presenceWait(ch, 2000), 59000, "too big to list: once a minute");
  C.alreadyJoined(ch);
  const now = 1_700_000_000_000;
  assert.ok(C.presenceWait(ch, now) <= 0, "already_joined: asked at once (whatever the size)");
});

test("retries: 5 s doubling to a minute; a ghost nickname every 5 s", () => {
  const ch = C.newChannel("a", {}, 1);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(() => C.retryWait(ch, false)),
    [5000, 10000, 20000, 40000, 60000, 60000, 60000]);
  assert.equal(ch.retries, 7);
  assert.equal(C.retryWait(ch, true), 5000);
});

test("refusals of a join the user just asked for are final", () => {
  const ch = C.newChannel("new", {}, 3);
  C.joinSent(ch, 1);
  for (const code of ["nickname_taken", "rate_limited", "unavailable", "invalid_channel", "too_many_channels"]) {
    ch.phase = "joining";
    assert.deepEqual(C.refusal(ch, { ref: 1, code }, {}, 3, "t"), { act: "close", wasOpen: false }, code);
    assert.equal(ch.phase, "idle");
  }
  assert.deepEqual(C.refusal(ch, { ref: 9, code: "rate_limited" }, {}, 3, "t"), { act: "ignore" }, "an abandoned join");
  assert.deepEqual(C.refusal(ch, { ref: 1, code: "already_joined" }, {}, 3, "t"), { act: "joined" });
});

test("the channel picked at sign-in refused for the nickname: back to the sign-in form", () => {
  const ch = C.newChannel("lobby", { atSignIn: true }, 1);
  C.joinSent(ch, 1);
  assert.deepEqual(C.refusal(ch, { ref: 1, code: "nickname_taken" }, {}, 1, "t"), { act: "signOut" });
  const other = C.newChannel("lobby", { atSignIn: true }, 1);
  C.joinSent(other, 1);
  assert.deepEqual(C.refusal(other, { ref: 1, code: "invalid_channel" }, {}, 1, "t"), { act: "close", wasOpen: false });
});

test("a channel that was open waits out passing refusals, a ghost for about a minute", () => {
  const ch = C.newChannel("a", {}, 1);
  joinedAs(ch, 1);
  C.connectionLost(ch);
  C.joinSent(ch, 2);
  assert.deepEqual(C.refusal(ch, { ref: 2, code: "unavailable" }, {}, 2, "No database."),
    { act: "retry", why: "No database. Rejoining by itself.", flat: false });
  assert.deepEqual(C.refusal(ch, { ref: 2, code: "rate_limited" }, {}, 2, "t"),
    { act: "retry", why: "Rejoining in a moment…", flat: false });
  const ghost = C.refusal(ch, { ref: 2, code: "nickname_taken" }, { withPassword: true }, 2, "t");
  const why = "Waiting for your previous connection to time out before rejoining…";
  assert.deepEqual(ghost, { act: "retry", why, flat: true });
  assert.equal(ch.withPassword, true, "past the password check: the retry may carry it");
  ch.retries = C.GHOST_RETRIES;
  assert.deepEqual(C.refusal(ch, { ref: 2, code: "nickname_taken" }, {}, 2, "t"), { act: "close", wasOpen: true },
    "after about a minute it is someone else");
  ch.retries = 0;
  assert.deepEqual(C.refusal(ch, { ref: 2, code: "invalid_channel" }, {}, 2, "t"), { act: "close", wasOpen: true });
  // Restored from storage, or asked for on an earlier connection: open too.
  const restored = C.newChannel("r", { restored: true, lastId: "1-0" }, 5);
  C.joinSent(restored, 3);
  assert.equal(C.refusal(restored, { ref: 3, code: "nickname_taken" }, {}, 5, "t").act, "retry");
  const earlier = C.newChannel("e", {}, 4);
  C.joinSent(earlier, 4);
  assert.equal(C.refusal(earlier, { ref: 4, code: "nickname_taken" }, {}, 5, "t").act, "retry",
    "its refusal may come from our own earlier connection");
});

test("locked until a password is typed; a lost connection keeps it locked", () => {
  const ch = C.newChannel("club", { password: "bad" }, 1);
  C.joinSent(ch, 1);
  assert.deepEqual(C.refusal(ch, { ref: 1, code: "wrong_password" }, { withPassword: true }, 1, "t"), { act: "lock" });
  C.locked(ch);
  assert.equal(ch.password, "");
  assert.equal(ch.isProtected, true);
  C.connectionLost(ch);
  assert.equal(ch.phase, "locked");
  assert.equal(C.joinRequest(ch), null);
  C.typedPassword(ch, "good");
  assert.equal(C.joinRequest(ch).password, "good");
  C.typedPassword(ch, "");
  assert.equal(C.joinRequest(ch).password, undefined, "empty: try without (it may have been removed)");
});
