// web/js/session/unconfirmed.mjs, storage.mjs and tablock.mjs.
import test from "node:test";
import assert from "node:assert/strict";
import { Unconfirmed } from "../../web/js/session/unconfirmed.mjs";
import { STORAGE_KEY, forgetSession, loadSession, saveSession } from "../../web/js/session/storage.mjs";
import { TabLock } from "../../web/js/session/tablock.mjs";
import { newChannel } from "../../web/js/session/channel.mjs";
import { MemoryStorage } from "./fakes.mjs";

test("unconfirmed sends: confirmed by their echo, bounded to the last 50", () => {
  const u = new Unconfirmed();
  u.add(1, 1, "a", "hi", 0);
  u.add(2, 1, "a", "hi", 0);
  u.add(3, 1, "b", "hi", 0);
  assert.equal(u.confirm("a", "hi"), 1, "the oldest of equal texts first");
  assert.equal(u.confirm("a", "hi"), 2);
  assert.equal(u.confirm("a", "hi"), undefined);
  assert.ok(u.has("b", "hi"));
  u.dropChannel("b");
  assert.ok(!u.has("b", "hi"));
  for (let i = 0; i < 60; i++) u.add(100 + i, 1, "a", `m${i}`, 0);
  assert.equal(u.list.length, 50);
  assert.ok(!u.has("a", "m9") && u.has("a", "m10"));
  u.dropRef(159);
  assert.ok(!u.has("a", "m59"));
  u.clear();
  assert.equal(u.list.length, 0);
});

test("a send not back within 5 s is overdue once per 5 s; after a minute it is given up", () => {
  const u = new Unconfirmed();
  u.add(1, 2, "a", "now", 0);
  u.add(2, 1, "a", "old connection", 0);
  assert.equal(u.sweep(5000, 2, 5000), false, "5 s is not over 5 s");
  assert.equal(u.sweep(5001, 2, 5000), true);
  assert.equal(u.sweep(6000, 2, 5000), false, "counted once, then again 5 s later");
  assert.equal(u.sweep(10002, 2, 5000), true);
  assert.equal(u.sweep(60001, 2, 5000), true);
  assert.ok(!u.has("a", "now"), "on a connection that answers, an echo not matched in a minute is not coming");
  assert.ok(u.has("a", "old connection"), "sends of earlier connections wait for their channel's resume");
});

test("a resume reports the sends an earlier connection lost: certain only after a complete replay", () => {
  const u = new Unconfirmed();
  const ch = newChannel("a", { lastId: "1-0" }, 1);
  u.add(1, 1, "a", "lost", 0);
  u.add(2, 1, "a", "written again", 0);
  u.add(3, 1, "a", "queued again", 0);
  u.add(4, 1, "b", "other channel", 0);
  u.add(5, 2, "a", "written again", 0);
  ch.outbox.push("queued again");
  Object.assign(ch, { countReplay: true, joinRef: 7, truncatedRef: 0 });
  assert.deepEqual(u.takeLost(ch, 2), { texts: ["lost"], certain: true });
  assert.deepEqual(u.takeLost(ch, 2), { texts: [], certain: false }, "reported once");
  assert.ok(u.has("b", "other channel") && u.has("a", "written again"));
  assert.equal(u.confirm("a", "written again"), 5);
  u.add(6, 2, "a", "cut short", 0);
  Object.assign(ch, { truncatedRef: 7 });
  assert.deepEqual(u.takeLost(ch, 3), { texts: ["cut short"], certain: false }, "replay cut short: maybe");
  u.add(7, 3, "a", "fresh tab", 0);
  Object.assign(ch, { countReplay: false, truncatedRef: 0 });
  assert.deepEqual(u.takeLost(ch, 4), { texts: ["fresh tab"], certain: false },
    "joined with history, not since: maybe");
});

test("the stored session: nickname, channels with their last ids, the active one; never a password", () => {
  const s = new MemoryStorage();
  assert.equal(loadSession(s), null);
  const a = newChannel("a", { password: "secret", lastId: "5-1" }, 1);
  const b = newChannel("b", {}, 1);
  saveSession(s, { nickname: "ann", channels: [a, b], active: "b" });
  assert.ok(!s.getItem(STORAGE_KEY).includes("secret"));
  assert.deepEqual(loadSession(s),
    { nickname: "ann", channels: [{ name: "a", lastId: "5-1" }, { name: "b", lastId: "" }], active: "b" });
  forgetSession(s);
  assert.equal(loadSession(s), null);
});

test("a stored session of an older format is taken; a broken one is not", () => {
  const s = new MemoryStorage();
  const channels = ["a", { name: "b", lastId: "bad" }, { name: "c", lastId: "2-0" }, 7, null];
  s.setItem(STORAGE_KEY, JSON.stringify({ nickname: "ann", channels }));
  assert.deepEqual(loadSession(s).channels, [{ name: "a", lastId: "" }, { name: "c", lastId: "2-0" }]);
  const wrongShape = [JSON.stringify({ nickname: 3, channels: [] }), JSON.stringify({ nickname: "x" })];
  for (const broken of ["{", "null", "[]", ...wrongShape]) {
    s.setItem(STORAGE_KEY, broken);
    assert.equal(loadSession(s), null, broken);
  }
  const refusing = {
    getItem() { throw new Error("denied"); },
    setItem() { throw new Error("full"); },
    removeItem() { throw new Error("denied"); },
  };
  assert.equal(loadSession(refusing), null);
  assert.doesNotThrow(() => saveSession(refusing, { nickname: "a", channels: [], active: "" }));
  assert.doesNotThrow(() => forgetSession(refusing));
});

// BroadcastChannels of one browser: a message reaches every other page.
function browser() {
  const pages = [];
  return {
    bus() {
      const b = {
        postMessage: (data) => {
          for (const o of pages) if (o !== b && o.onmessage) o.onmessage({ data: structuredClone(data) });
        },
      };
      pages.push(b);
      return b;
    },
  };
}
function tab(br, pageId, t, state = { active: true }) {
  const log = [];
  const lock = new TabLock(br.bus(), {
    pageId, now: () => t.now, isActive: () => state.active, isSignedIn: () => state.active || state.parked,
    onPark: (why) => {
      log.push(`park: ${why}`);
      state.active = false;
      state.parked = true;
    },
    onSignOut: () => {
      log.push("signout");
      state.active = false;
      state.parked = false;
    },
  });
  return { lock, log, state };
}

test("tabs of one browser: a starting tab hears that another has the session", () => {
  const br = browser(), t = { now: 100 };
  const first = tab(br, "p1", t);
  const second = tab(br, "p2", t, { active: false });
  second.lock.ask();
  assert.equal(second.lock.heardOther, true);
  first.state.active = false;
  second.lock.ask();
  assert.equal(second.lock.heardOther, false, "nobody holds it: nobody answers");
});

test("tabs of one browser: the later take wins, ties by page id; signing out signs out all", () => {
  const br = browser(), t = { now: 100 };
  const a = tab(br, "pa", t), b = tab(br, "pb", t, { active: false });
  a.lock.announce("take");
  assert.deepEqual(b.log, [], "a tab that is not connected has nothing to give up");
  b.state.active = true;
  t.now = 200;
  b.lock.announce("take");
  assert.deepEqual(a.log, ["park: This chat moved to another tab of this browser."]);
  // A take older than our own (a message that crossed ours) parks nobody.
  a.lock.bus.postMessage({ type: "take", from: "pa", at: 150 });
  assert.deepEqual(b.log, [], "an earlier take does not park the later one");
  assert.equal(b.state.active, true);
  // Two tabs restoring in the same millisecond: exactly one keeps it.
  const br2 = browser(), t2 = { now: 500 };
  const x = tab(br2, "x", t2), y = tab(br2, "y", t2);
  x.lock.takenAt = y.lock.takenAt = 500;
  x.lock.announce("take");
  y.lock.announce("take");
  assert.deepEqual([x.state.active, y.state.active], [false, true]);
  y.lock.announce("signout");
  assert.deepEqual(x.log.at(-1), "signout", "the parked tab forgets the session too");
});

test("tabs of one browser: Use it here waits for the other tab to let go", () => {
  const br = browser(), t = { now: 100 };
  const holder = tab(br, "h", t);
  const waiting = tab(br, "w", t, { active: false, parked: true });
  const events = [];
  waiting.lock.waitForRelease(() => events.push("released"));
  holder.lock.onPark = (why) => {
    events.push(why);
    holder.lock.announce("released");
  };
  t.now = 300;
  waiting.lock.announce("take");
  assert.deepEqual(events, ["This chat moved to another tab of this browser.", "released"]);
});
