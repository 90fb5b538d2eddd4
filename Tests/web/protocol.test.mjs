// web/js/protocol.mjs: ids, names, ops, error sentences, lines.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  ERROR_TEXT, channelInput, compareIds, errorText, historyUrl, idAfter, joinOp, lineFor, nickColor,
  nicknameInput, nicknameProblem, parseId, socketUrl, tooLong, validChannel, wellFormed,
} from "../../web/js/protocol.mjs";

test("stream ids are parsed and compared as numbers, not text", () => {
  assert.deepEqual(parseId("1700000000000-12"), [1700000000000, 12]);
  assert.equal(parseId("12"), null);
  assert.equal(parseId("a-1"), null);
  assert.equal(parseId(""), null);
  assert.equal(parseId(undefined), null);
  assert.ok(compareIds("9-0", "10-0") < 0, "9 ms before 10 ms although '9' > '1' as text");
  assert.ok(compareIds("5-10", "5-9") > 0, "sequence compared as a number");
  assert.equal(compareIds("5-3", "5-3"), 0);
  assert.ok(compareIds("", "1-0") < 0, "no id counts as the very first");
  assert.equal(idAfter("5-9"), "5-10");
});

test("every error code of docs/PROTOCOL.md has its own sentence", () => {
  const protocol = readFileSync(new URL("../../docs/PROTOCOL.md", import.meta.url), "utf8");
  const table = protocol.split("### `error`")[1].split("##")[0];
  const codes = [...table.matchAll(/^\| `([a-z_]+)` \| /gm)].map((m) => m[1]);
  assert.ok(codes.length >= 16, `codes found: ${codes}`);
  const ctx = { maxLength: 2000, nickname: "ann" };
  for (const code of codes) {
    assert.ok(ERROR_TEXT[code], `no sentence for ${code}`);
    const text = errorText({ code, channel: "lobby", message: "server words" }, ctx);
    assert.match(text, /^[A-Z#“].*[.)]$/u, `${code}: ${text}`);
    assert.ok(!text.includes("undefined"), `${code}: ${text}`);
  }
});

test("error sentences carry the details that matter", () => {
  const ctx = { maxLength: 500, nickname: "zoë" };
  assert.equal(errorText({ code: "message_too_long" }, ctx), "Messages are at most 500 characters.");
  assert.match(errorText({ code: "nickname_taken", channel: "design" }, ctx), /#design already goes by “zoë”/);
  assert.match(errorText({ code: "wrong_password", channel: "staff" }), /^#staff is protected/);
  assert.match(errorText({ code: "not_joined" }), /#that channel/);
  assert.match(errorText({ code: "invalid_nickname", message: "reserved" }), /cannot be used: reserved\./);
  // Codes this page does not know: the server's own message, else the code.
  assert.equal(errorText({ code: "brand_new", message: "Something new." }), "Something new.");
  assert.equal(errorText({ code: "brand_new" }), "Error: brand_new");
});

test("channel and nickname input is taken as the server takes it", () => {
  assert.equal(channelInput("  #café "), "café");
  assert.equal(channelInput("cafe\u0301"), "caf\u00e9", "NFC");
  assert.equal(nicknameInput(" Ze\u0301 "), "Z\u00e9");
  assert.ok(validChannel("general"));
  assert.ok(validChannel("ré-union_2.0"));
  assert.ok(validChannel("日本語"));
  assert.ok(!validChannel("two words"));
  assert.ok(!validChannel(""));
  assert.ok(validChannel("-ok"), "a dash may start a name");
  assert.ok(!validChannel("\u0301accent-first"), "a combining mark cannot start a name");
  assert.ok(validChannel("é".repeat(64)), "64 characters, counted as code points");
  assert.ok(!validChannel("a".repeat(65)));
  assert.equal(nicknameProblem(""), "Pick a nickname.");
  assert.equal(nicknameProblem("x".repeat(32)), "");
  assert.match(nicknameProblem("x".repeat(33)), /longer than 32 characters/);
  assert.equal(nicknameProblem("😀".repeat(32)), "", "emoji count once each");
});

test("message text: broken emoji halves replaced, length in code points", () => {
  assert.equal(wellFormed("broken \ud83d"), "broken \ufffd");
  assert.equal(wellFormed("fine 😀"), "fine 😀");
  assert.equal(wellFormed("\udc00 end, start \ud83d\ud83d\ude00"), "\ufffd end, start \ufffd😀");
  // The same without String.prototype.toWellFormed (older browsers, node 18).
  const native = String.prototype.toWellFormed;
  delete String.prototype.toWellFormed;
  try {
    assert.equal(wellFormed("broken \ud83d"), "broken \ufffd");
    assert.equal(wellFormed("\udc00 end, start \ud83d\ud83d\ude00"), "\ufffd end, start \ufffd😀");
  } finally {
    if (native) String.prototype.toWellFormed = native;
  }
  assert.ok(!tooLong("😀".repeat(10), 10));
  assert.ok(tooLong("😀".repeat(11), 10));
});

test("a join resumes with since, or asks for history; a password only when given", () => {
  assert.deepEqual(joinOp("a", { since: "5-1", history: 50 }), { op: "join", channel: "a", since: "5-1" });
  assert.deepEqual(joinOp("a", { since: "", history: 50 }), { op: "join", channel: "a", history: 50 });
  assert.deepEqual(joinOp("a", { password: "pw", history: 50 }),
    { op: "join", channel: "a", password: "pw", history: 50 });
});

test("addresses: the socket of the page's own origin, the history before an id", () => {
  assert.equal(socketUrl({ protocol: "http:", host: "h:8080" }, "a b/é"), "ws://h:8080/ws?nickname=a%20b%2F%C3%A9");
  assert.equal(socketUrl({ protocol: "https:", host: "chat.example" }, "x"), "wss://chat.example/ws?nickname=x");
  assert.equal(historyUrl("ré union", "17-4"), "/api/channels/r%C3%A9%20union/history?before=17-5&limit=50");
});

test("events become lines: mine, others', broadcasts, notices, earlier context", () => {
  const ev = { type: "message", sender: "ann", message: "hi", ts: 5 };
  assert.deepEqual(lineFor(ev, "ann"), { kind: "message mine", text: "hi", ts: 5, sender: "ann" });
  assert.deepEqual(lineFor(ev, "bob"), { kind: "message", text: "hi", ts: 5, sender: "ann" });
  assert.equal(lineFor(ev, "bob", "earlier").kind, "message earlier");
  assert.deepEqual(lineFor({ type: "broadcast", sender: "ops", message: "m" }, "ann"),
    { kind: "broadcast", text: "m", ts: undefined, sender: "ops", label: "to everyone" });
  const join = lineFor({ type: "system", event: "join", message: "bob joined the chat." }, "ann");
  assert.equal(join.kind, "system join");
  assert.ok(!("sender" in join), "a notice has no sender");
});

test("nickname colours are stable and differ between names", () => {
  assert.equal(nickColor("ann"), nickColor("ann"));
  assert.notEqual(nickColor("ann"), nickColor("bob"));
  assert.match(nickColor("😀"), /^hsl\(\d{1,3} 60% var\(--nick-lightness\)\)$/);
});
