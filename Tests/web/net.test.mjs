// web/js/net.mjs: the reconnect backoff, the Link (socket, refs) and its liveness check.
import test from "node:test";
import assert from "node:assert/strict";
import { CONNECT_TIMEOUT_MS, Link, livenessTuning, reconnectDelay } from "../../web/js/net.mjs";
import { FakeSocket, clock } from "./fakes.mjs";

test("reconnect backoff: 1 s doubling to 30 s, each between half and all of it", () => {
  const low = () => 0, high = () => 1;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 20].map((a) => reconnectDelay(a, high)),
    [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  assert.deepEqual([0, 1, 5, 20].map((a) => reconnectDelay(a, low)), [500, 1000, 15000, 15000]);
  assert.equal(reconnectDelay(3, () => 0.5), 6000);
});

test("liveness periods come from ?ping=&pong= (seconds), else 25 s and 10 s", () => {
  assert.deepEqual(livenessTuning(""), { pingEvery: 25000, pongWait: 10000 });
  assert.deepEqual(livenessTuning("?ping=1&pong=2"), { pingEvery: 1000, pongWait: 2000 });
  assert.deepEqual(livenessTuning("?ping=nonsense"), { pingEvery: 25000, pongWait: 10000 });
});

function link(c = clock()) {
  const events = [], closes = [];
  const l = new Link({ WebSocket: FakeSocket, now: c.now, pingEvery: 25000, pongWait: 10000,
    onEvent: (ev) => events.push(ev), onClose: (ws, code, reason) => closes.push({ ws, code, reason }) });
  return { l, events, closes, c };
}

test("each open is a new connection with its own refs; sends need an open socket", () => {
  const { l } = link();
  const ws = l.open("ws://h/ws?nickname=a");
  assert.equal(l.connection, 1);
  assert.equal(l.send({ op: "ping" }), 0, "not open yet: nothing sent");
  assert.deepEqual(ws.sent, []);
  ws.accept();
  const ref = l.send({ op: "send", channel: "c", message: "hi" }, { text: "hi" });
  assert.equal(ref, 1);
  assert.deepEqual(ws.sent, [{ op: "send", channel: "c", message: "hi", ref: 1 }]);
  assert.deepEqual(l.take(1), { op: "send", channel: "c", text: "hi" });
  assert.equal(l.take(1), undefined, "an answer's ref is taken once");
  assert.equal(l.take(undefined), undefined);
  l.send({ op: "presence", channel: "c" });
  const ws2 = l.open("ws://h/ws?nickname=a");
  assert.equal(l.connection, 2);
  assert.notEqual(ws.closed, null, "the old socket is closed");
  assert.equal(ws.onclose, null, "and forgotten: its close is not heard");
  assert.equal(l.refs.size, 0, "refs of the old connection are gone");
  ws2.accept();
  assert.equal(l.send({ op: "ping" }), 3, "refs keep counting across connections");
});

test("refs are bounded: the oldest goes past 1,000", () => {
  const { l } = link();
  l.open("u").accept();
  for (let i = 0; i < 1005; i++) l.send({ op: "ping" });
  assert.equal(l.refs.size, 1000);
  assert.equal(l.take(5), undefined);
  assert.ok(l.take(6));
});

test("events are parsed; unreadable frames are skipped; a close names its socket", () => {
  const { l, events, closes, c } = link();
  const ws = l.open("u");
  ws.accept();
  c.advance(500);
  ws.receive("not json");
  ws.receive({ type: "pong" });
  assert.deepEqual(events, [{ type: "pong" }]);
  assert.equal(l.lastReceived, c.now());
  ws.drop(1001, "bye");
  assert.deepEqual(closes, [{ ws, code: 1001, reason: "bye" }]);
  l.drop();   // the page lets go: no close event reaches it
  const ws2 = l.open("u");
  l.drop(1000);
  assert.deepEqual(ws2.closed, { code: 1000 });
  ws2.drop();
  assert.equal(closes.length, 1, "a dropped socket's close is not heard");
});

test("liveness: a hanging connect and an unanswered ping are stalled; quiet sockets get a ping", () => {
  const { l, c } = link();
  const ws = l.open("u");
  assert.equal(l.stalled("connecting"), false);
  c.advance(CONNECT_TIMEOUT_MS + 1);
  assert.equal(l.stalled("connecting"), true, "connect hangs for 15 s");
  ws.accept();
  ws.receive({ type: "welcome" });
  assert.equal(l.stalled("open"), false);
  assert.equal(l.pingDue(false), false, "just heard from the server");
  assert.equal(l.pingDue(true), true, "an overdue send brings the ping forward");
  c.advance(25000);
  assert.equal(l.pingDue(false), true, "25 s of silence");
  l.ping();
  l.ping();
  assert.equal(ws.ops("ping").length, 1, "one ping at a time");
  assert.equal(l.pingDue(true), false, "no ping while one is out");
  c.advance(10000);
  assert.equal(l.stalled("open"), false, "10 s is still within the wait");
  c.advance(1);
  assert.equal(l.stalled("open"), true, "no answer within 10 s");
  assert.equal(l.stalled("waiting"), false, "only a connecting or open socket stalls");
  ws.receive({ type: "pong" });
  assert.equal(l.pingSentAt, 0);
  assert.equal(l.stalled("open"), false, "anything received answers the ping");
});
