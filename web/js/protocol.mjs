// The /ws protocol as this page speaks it (docs/PROTOCOL.md): stream ids, names, the
// ops it sends, a sentence for every error code, and how an event becomes a line.
// No DOM, no clock: unit-tested with `node --test` (Tests/web/protocol.test.mjs).

export const HISTORY_ON_OPEN = 50;       // events shown when a channel opens for the first time
export const CONTEXT_ON_RETURN = 50;     // earlier events shown above a resumed channel after a reload
export const MAX_NICKNAME = 32;
export const MAX_CHANNEL = 64;

// ---- A sentence for every error code the server sends. `ctx`: {maxLength, nickname}.
export const ERROR_TEXT = {
  bad_json: () => "The server could not read a request from this page. Reload the page.",
  bad_request: (e) => `The server refused a malformed request (${e.message}).`,
  unknown_op: () => "This page asked the server for something it does not know. Reload the page.",
  unsupported_data: () => "The server only accepts text messages.",
  invalid_channel: () => "Channel names are 1–64 letters, digits, _ - or . (no spaces).",
  invalid_nickname: (e) => `That nickname cannot be used: ${e.message}. `
    + "Use 1–32 letters, digits, spaces, _ - or . (some names such as “System” are reserved).",
  empty_message: () => "Type a message first.",
  message_too_long: (e, ctx) => `Messages are at most ${ctx.maxLength} characters.`,
  not_joined: (e) => `You are not in #${e.channel || "that channel"} (yet), so the message was not sent.`,
  already_joined: (e) => `You are already in #${e.channel || "that channel"}.`,
  too_many_channels: () => "You are in too many channels. Leave one first.",
  forbidden: () => "That is not allowed here.",
  nickname_taken: (e, ctx) =>
    `Someone in #${e.channel} already goes by “${ctx.nickname}”. Pick another nickname to join it.`,
  wrong_password: (e) => `#${e.channel} is protected: enter its password (the one given was missing or wrong).`,
  rate_limited: () => "You are sending too fast. Wait a moment and try again.",
  unavailable: () => "The chat service cannot reach its database right now. Try again in a moment.",
};

export function errorText(e, ctx = {}) {
  return ERROR_TEXT[e.code] ? ERROR_TEXT[e.code](e, ctx) : e.message || `Error: ${e.code}`;
}

// ---- Stream ids ("<ms>-<seq>"), compared numerically.
export function parseId(id) {
  const m = /^(\d+)-(\d+)$/.exec(id || "");
  return m ? [Number(m[1]), Number(m[2])] : null;
}

export function compareIds(a, b) {
  const [am, as] = parseId(a) || [0, 0], [bm, bs] = parseId(b) || [0, 0];
  return am !== bm ? am - bm : as - bs;
}

// The smallest id after `id`: `before=` of a history request that includes `id` itself.
export function idAfter(id) {
  const [ms, seq] = parseId(id);
  return `${ms}-${seq + 1}`;
}

// ---- Names, taken in Unicode NFC as the server does (`é` typed as e + accent is one name).
const CHANNEL_RULE = /^[\p{L}\p{N}_.-][\p{L}\p{M}\p{N}_.-]*$/u;
export const validChannel = (name) => CHANNEL_RULE.test(name) && [...name].length <= MAX_CHANNEL;
export const channelInput = (typed) => typed.trim().replace(/^#/, "").normalize("NFC");
export const nicknameInput = (typed) => typed.trim().normalize("NFC");

// Why a typed nickname cannot be sent, or "" (the server checks the rest).
export function nicknameProblem(nickname) {
  if (!nickname) return "Pick a nickname.";
  if ([...nickname].length > MAX_NICKNAME) {
    return ERROR_TEXT.invalid_nickname({ message: `longer than ${MAX_NICKNAME} characters` });
  }
  return "";
}

// ---- Message text. A lone half of a surrogate pair (a broken emoji) is not valid UTF-8:
// the server could not read the message. Replace it, as browsers do when they encode text.
// (Where toWellFormed is missing — older browsers, node 18 — each lone half is replaced here.)
export const wellFormed = (text) => (text.toWellFormed ? text.toWellFormed()
  : [...text].map((c) => (c.length === 1 && (c.charCodeAt(0) & 0xf800) === 0xd800 ? "\ufffd" : c)).join(""));
export const tooLong = (text, maxLength) => [...text].length > maxLength;

// ---- Ops the page sends (each also gets a `ref` when sent).
export function joinOp(name, { password, since, history }) {
  const op = { op: "join", channel: name };
  if (password) op.password = password;
  if (since) op.since = since;
  else op.history = history;
  return op;
}
export const sendOp = (channel, message) => ({ op: "send", channel, message });
export const leaveOp = (channel) => ({ op: "leave", channel });
export const presenceOp = (channel) => ({ op: "presence", channel });

export const socketUrl = (loc, nickname) =>
  `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}/ws?nickname=${encodeURIComponent(nickname)}`;

export const historyUrl = (channel, lastId, limit = CONTEXT_ON_RETURN) =>
  `/api/channels/${encodeURIComponent(channel)}/history?before=${idAfter(lastId)}&limit=${limit}`;

// ---- An event as a line of a channel's log: {kind, text, ts, sender?, label?}.
export function lineFor(ev, nickname, extraClass) {
  let kind;
  if (ev.type === "message") kind = ev.sender === nickname ? "message mine" : "message";
  else if (ev.type === "broadcast") kind = "broadcast";
  else kind = `system ${ev.event || ""}`;
  const line = { kind: extraClass ? `${kind} ${extraClass}` : kind, text: ev.message, ts: ev.ts };
  if (ev.type !== "system") line.sender = ev.sender;
  if (ev.type === "broadcast") line.label = "to everyone";
  return line;
}

// A stable, readable colour per nickname.
export function nickColor(name) {
  let h = 0;
  for (const c of String(name)) h = (h * 31 + c.codePointAt(0)) >>> 0;
  return `hsl(${h % 360} 60% var(--nick-lightness))`;
}
