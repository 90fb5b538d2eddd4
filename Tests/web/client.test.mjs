// web/js/session/client.mjs with the events of session/events.mjs and signin.mjs, driven
// through a fake socket and a fake view (no DOM): the decisions of the pure modules,
// performed in the right order — joins, held sends, refusals, resumes, lost sends.
import test from "node:test";
import assert from "node:assert/strict";
import { Client } from "../../web/js/session/client.mjs";
import { STORAGE_KEY } from "../../web/js/session/storage.mjs";
import { FakeSocket, MemoryStorage } from "./fakes.mjs";

class FakeChannelView {
  constructor(name, handlers) {
    Object.assign(this, { name, handlers, lines: [], busy: false, locked: false, isProtected: false });
    Object.assign(this, { selected: false, atEnd: true, removed: false, focus: "" });
  }
  addLine(line) { this.lines.push(line); }
  prepend(lines) { this.lines.unshift(...lines); }
  setBusy(on) { this.busy = on; }
  showLock(on) { this.locked = on; }
  focusLock() { this.focus = "lock"; }
  focusTab() { this.focus = "tab"; }
  setProtected(on) { this.isProtected = on; }
  select(on) { this.selected = on; }
  renderUnread(unread) { this.unread = unread; }
  renderLabel() {}
  scrollToEnd() { this.atEnd = true; }
  remove() { this.removed = true; }
  texts() { return this.lines.map((l) => l.text); }
}

function fakeView() {
  const v = {
    channels: {},
    status: {
      phase: "idle", text: "",
      show(phase, text) {
        this.phase = phase;
        this.text = text;
      },
      countdown() {}, showUseHere(on) { this.useHere = on; }, me() {}, signedIn() {},
    },
    login: {
      shown: true,
      showApp() { this.shown = false; },
      showLogin(message) {
        this.shown = true;
        this.message = message;
      },
    },
    joinForm: { error: "", showError(t) { this.error = t; }, focus() { v.focused = "join"; } },
    header: { render() {} },
    composer: {
      value: "", hint: "", typing: false,
      focus() { v.focused = "composer"; }, writing() { return this.typing && this.value !== ""; },
      setHint(t) { this.hint = t; }, update() {}, autoGrow() {},
    },
    tabs: { title(n) { v.title = n; }, add() {} },
    channel: (name, handlers) => (v.channels[name] = new FakeChannelView(name, handlers)),
  };
  return v;
}

function start(t, { storage = new MemoryStorage() } = {}) {
  const view = fakeView();
  const client = new Client(view, {
    WebSocket: FakeSocket, location: { protocol: "http:", host: "h" }, storage, bus: null, pageId: "p",
    fetch: async () => ({ ok: false }), online: () => true, visible: () => true, reload() {},
    pingEvery: 25000, pongWait: 10000, tabWaitMs: 0,
  });
  t.after(() => client.signOut(""));   // clears every timer
  const socket = () => client.link.ws;
  // The server's side of a connection: welcome, and answers to joins.
  const welcome = (nickname = client.nickname) => {
    socket().accept();
    socket().receive({ type: "welcome", nickname, maxMessageLength: 100 });
  };
  const joinOk = (channel, extra = {}) => {
    const join = socket().ops("join").filter((j) => j.channel === channel).at(-1);
    socket().receive({ type: "joined", channel, ref: join.ref, count: 1, members: [client.nickname], ...extra });
    return join;
  };
  const type = (text) => {
    view.composer.value = text;
    client.submitMessage();
  };
  return { client, view, socket, welcome, joinOk, type, storage };
}

test("sign in: connect with the nickname, join with history, show what comes", (t) => {
  const { client, view, socket, welcome, joinOk, storage } = start(t);
  client.signIn("ann", [{ name: "lobby", atSignIn: true }], "lobby");
  assert.equal(socket().url, "ws://h/ws?nickname=ann");
  assert.equal(view.status.phase, "connecting");
  welcome();
  assert.equal(view.status.phase, "open");
  const join = joinOk("lobby", { id: "10-0" });
  assert.deepEqual({ ...join, ref: 0 }, { op: "join", channel: "lobby", history: 50, ref: 0 });
  assert.equal(client.channels.get("lobby").phase, "joined");
  socket().receive({ type: "message", channel: "lobby", id: "9-0", sender: "bob", message: "history", replay: true });
  socket().receive({ type: "message", channel: "lobby", id: "11-0", sender: "bob", message: "hello" });
  socket().receive({ type: "message", channel: "lobby", id: "11-0", sender: "bob", message: "hello" });
  socket().receive({ type: "message", channel: "lobby", id: "10-5", sender: "bob", message: "late" });
  assert.deepEqual(view.channels.lobby.texts(), ["history", "hello"], "a repeat and anything older are dropped");
  assert.equal(view.channels.lobby.lines[1].kind, "message");
  client.save();
  assert.deepEqual(JSON.parse(storage.getItem(STORAGE_KEY)),
    { nickname: "ann", channels: [{ name: "lobby", lastId: "11-0" }], active: "lobby" });
});

test("messages written while joining go once joined, after the join", (t) => {
  const { client, view, socket, welcome, joinOk, type } = start(t);
  client.signIn("ann", [{ name: "lobby", atSignIn: true }], "lobby");
  welcome();
  type("early");
  assert.equal(view.composer.value, "", "taken from the box");
  assert.deepEqual(socket().ops("send"), [], "held until joined");
  joinOk("lobby");
  assert.deepEqual(socket().ops("send").map((s) => s.message), ["early"]);
  type("x".repeat(101));
  assert.match(view.composer.hint, /at most 100 characters/, "the limit from welcome");
  assert.equal(socket().ops("send").length, 1);
});

test("a refused send comes back into the box and the channel's log", (t) => {
  const { client, view, socket, welcome, joinOk, type } = start(t);
  client.signIn("ann", [{ name: "lobby", atSignIn: true }], "lobby");
  welcome();
  joinOk("lobby");
  type("too fast");
  const sent = socket().last("send");
  socket().receive({ type: "error", code: "rate_limited", ref: sent.ref, channel: "lobby" });
  assert.equal(view.composer.value, "too fast");
  assert.match(view.composer.hint, /too fast/);
  assert.ok(view.channels.lobby.texts().includes("Not sent: “too fast”"));
});

test("wrong_password: the tab stays locked, what was written meanwhile comes back", (t) => {
  const { client, view, socket, welcome, joinOk, type } = start(t);
  client.signIn("ann", [{ name: "lobby", atSignIn: true }], "lobby");
  welcome();
  joinOk("lobby");
  client.joinTyped("club", "");
  type("while joining");
  const join = socket().last("join");
  socket().receive({ type: "error", code: "wrong_password", ref: join.ref, channel: "club" });
  const club = client.channels.get("club");
  assert.equal(club.phase, "locked");
  assert.equal(view.channels.club.locked, true);
  assert.equal(view.channels.club.focus, "lock", "the password field gets the focus");
  assert.equal(view.composer.value, "while joining");
  assert.match(view.composer.hint, /back in the box/);
  assert.deepEqual(socket().ops("send"), [], "never sent");
  // The password typed into the tab joins.
  view.channels.club.handlers.onPassword("open sesame");
  assert.equal(socket().last("join").password, "open sesame");
  joinOk("club", { protected: true });
  assert.equal(view.channels.club.isProtected, true);
});

test("a refused join closes its tab and says why next to the join form", (t) => {
  const { client, view, socket, welcome, joinOk, type } = start(t);
  client.signIn("ann", [{ name: "lobby", atSignIn: true }], "lobby");
  welcome();
  joinOk("lobby");
  client.joinTyped("design", "");
  type("for design");
  socket().receive({ type: "error", code: "nickname_taken", ref: socket().last("join").ref, channel: "design" });
  assert.equal(client.channels.has("design"), false);
  assert.equal(view.channels.design.removed, true);
  assert.equal(view.joinForm.error,
    "Someone in #design already goes by “ann”. Pick another nickname to join it. Not sent: “for design”.");
  assert.equal(view.focused, "join");
  assert.equal(client.active, "lobby");
  assert.equal(view.composer.value, "", "the text does not stay to go to the next channel");
});

test("nickname_taken in the channel picked at sign-in: back to the sign-in form", (t) => {
  const { client, view, socket, welcome } = start(t);
  client.signIn("olga", [{ name: "first", atSignIn: true }], "first");
  welcome();
  socket().receive({ type: "error", code: "nickname_taken", ref: socket().last("join").ref, channel: "first" });
  assert.equal(view.login.shown, true);
  assert.match(view.login.message, /already goes by “olga”/);
  assert.equal(client.signedOut, true);
  assert.equal(client.link.ws, null);
});

test("after a drop: rejoin with since; a send the old connection lost comes back", (t) => {
  const { client, view, socket, welcome, joinOk, type } = start(t);
  client.signIn("ann", [{ name: "lobby", atSignIn: true }], "lobby");
  welcome();
  joinOk("lobby", { id: "10-0" });
  socket().receive({ type: "system", event: "join", channel: "lobby", id: "10-0", nickname: "ann", count: 1 });
  type("into the void");
  socket().drop(1001);
  assert.equal(view.status.phase, "waiting");
  assert.equal(client.channels.get("lobby").phase, "idle");
  client.reconnectNow();
  welcome();
  const rejoin = socket().last("join");
  assert.equal(rejoin.since, "10-0");
  assert.equal(rejoin.history, undefined);
  // The replay: someone else's message, then our own join notice: "into the void" never arrived.
  socket().receive({ type: "joined", channel: "lobby", ref: rejoin.ref, count: 1, members: ["ann"], id: "12-0",
    replayed: true });
  socket().receive({ type: "message", channel: "lobby", id: "11-0", sender: "bob", message: "meanwhile",
    replay: true });
  assert.equal(view.composer.value, "", "not yet: the replay is not over");
  socket().receive({ type: "system", event: "join", channel: "lobby", id: "12-0", nickname: "ann", count: 1 });
  assert.ok(view.channels.lobby.texts().includes("Not delivered (the connection dropped): “into the void”"));
  assert.equal(view.composer.value, "into the void");
  assert.equal(view.channels.lobby.busy, false);
  assert.equal(client.channels.get("lobby").unread, 0, "the page is visible on this channel");
});

test("a rejoin refused by our own ghost connection waits and says so once", (t) => {
  const { client, view, socket, welcome, joinOk } = start(t);
  client.signIn("ann", [{ name: "lobby", atSignIn: true }], "lobby");
  welcome();
  joinOk("lobby");
  socket().drop(1006);
  client.reconnectNow();
  welcome();
  socket().receive({ type: "error", code: "nickname_taken", ref: socket().last("join").ref, channel: "lobby" });
  const ch = client.channels.get("lobby");
  assert.equal(ch.phase, "waiting");
  assert.equal(view.channels.lobby.removed, false, "the tab stays");
  assert.deepEqual(view.channels.lobby.texts(),
    ["Waiting for your previous connection to time out before rejoining…"]);
  assert.ok(ch.retryTimer, "a retry is scheduled");
});

test("a ping is sent after silence and a dead connection is dropped", (t) => {
  const { client, view, socket, welcome, joinOk } = start(t);
  client.signIn("ann", [{ name: "lobby", atSignIn: true }], "lobby");
  welcome();
  joinOk("lobby");
  client.link.lastReceived -= 25000;
  client.checkAlive();
  assert.equal(socket().ops("ping").length, 1);
  client.link.pingSentAt -= 10001;
  const dead = socket();
  client.checkAlive();
  assert.notEqual(client.link.ws, dead);
  assert.equal(client.link.ws, null);
  assert.equal(view.status.phase, "waiting");
});

test("a broadcast shows in every tab once, and raises no unread badge", (t) => {
  const { client, view, socket, welcome, joinOk } = start(t);
  client.signIn("ann", [{ name: "a", atSignIn: true }, { name: "b" }], "a");
  welcome();
  joinOk("a");
  joinOk("b");
  const ev = { type: "broadcast", id: "1-0", sender: "ops", message: "maintenance" };
  socket().receive(ev);
  socket().receive(ev);
  assert.deepEqual(view.channels.a.texts(), ["maintenance"]);
  assert.deepEqual(view.channels.b.texts(), ["maintenance"]);
  assert.equal(client.channels.get("b").unread, 0);
  socket().receive({ type: "message", channel: "b", id: "2-0", sender: "bob", message: "hi" });
  assert.equal(client.channels.get("b").unread, 1, "a message in a background tab is unread");
  assert.equal(view.title, 1);
  client.activate("b", false);
  assert.equal(client.channels.get("b").unread, 0);
  assert.equal(view.title, 0);
});
