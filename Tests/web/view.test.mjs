// The pure parts of web/js/view/: tab keys, the composer's hint, the member list's note.
import test from "node:test";
import assert from "node:assert/strict";
import { nextTab, pageTitle } from "../../web/js/view/tabs.mjs";
import { HINT_NO_CHANNEL, HINT_OFFLINE, HINT_PARKED, composerHint } from "../../web/js/view/composer.mjs";
import { membersNote, sortedMembers } from "../../web/js/view/header.mjs";

test("tab keys follow the WAI-ARIA tabs pattern, wrapping around", () => {
  const names = ["a", "b", "c"];
  assert.equal(nextTab(names, "a", "ArrowDown"), 1);
  assert.equal(nextTab(names, "c", "ArrowRight"), 0);
  assert.equal(nextTab(names, "a", "ArrowUp"), 2);
  assert.equal(nextTab(names, "b", "ArrowLeft"), 0);
  assert.equal(nextTab(names, "b", "Home"), 0);
  assert.equal(nextTab(names, "a", "End"), 2);
  assert.equal(nextTab(names, "a", "Enter"), -1);
  assert.equal(nextTab([], "", "ArrowDown"), -1);
});

test("the unread total is in the title", () => {
  assert.equal(pageTitle(0), "Chat");
  assert.equal(pageTitle(3), "(3) Chat");
});

test("the composer's hint says why nothing can be sent, and goes when that is over", () => {
  const joined = { name: "a", phase: "joined" };
  assert.equal(composerHint({ parked: true, open: false, ch: joined }, ""), HINT_PARKED);
  assert.equal(composerHint({ parked: false, open: false, ch: joined }, ""), HINT_OFFLINE);
  assert.equal(composerHint({ parked: false, open: true, ch: undefined }, ""), HINT_NO_CHANNEL);
  assert.equal(composerHint({ open: true, ch: { name: "a", phase: "locked" } }, ""), "#a needs its password first.");
  assert.equal(composerHint({ open: true, ch: { name: "a", phase: "waiting" } }, ""), "Rejoining #a…");
  assert.equal(composerHint({ open: true, ch: { name: "a", phase: "joining" } }, HINT_OFFLINE), "",
    "joining: writing allowed");
  for (const stale of [HINT_OFFLINE, HINT_NO_CHANNEL, HINT_PARKED, "Rejoining #b…", "#b needs its password first."]) {
    assert.equal(composerHint({ open: true, ch: joined }, stale), "", stale);
  }
  assert.equal(composerHint({ open: true, ch: joined }, "You are sending too fast."), null, "other hints stay");
});

test("the member list: a note instead of names while not joined or too big; names sorted", () => {
  assert.equal(membersNote({ phase: "joining" }, false), "Joining…");
  assert.equal(membersNote({ phase: "idle", everJoined: true }, false), "Rejoining…");
  assert.equal(membersNote({ phase: "locked" }, false), "Enter the password to join.");
  assert.equal(membersNote({ phase: "idle" }, true), "Open in another tab.");
  assert.equal(membersNote({ phase: "joined", members: null }, false), "This channel is too big to list everyone.");
  assert.equal(membersNote({ phase: "joined", members: new Set(["a"]) }, false), "");
  assert.deepEqual(sortedMembers(new Set(["bob", "Ann", "émile", "zoe"])), ["Ann", "bob", "émile", "zoe"]);
});
