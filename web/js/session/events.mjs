// What each event from the server does to the session (`c`: the Client of client.mjs).
// The decisions are session/channel.mjs's; these perform them.

import { ERROR_TEXT, errorText, lineFor } from "../protocol.mjs";
import { STABLE_MS } from "../net.mjs";
import * as C from "./channel.mjs";

const BROADCASTS_KEPT = 500;

// Every event from the server, by type.
export function handle(c, ev) {
  const pending = c.link.take(ev.ref);
  // Events that came through Redis prove it is back: the "cannot reach its database"
  // hint of an earlier refusal is out of date.
  const throughRedis = ev.type === "joined" || ev.id !== undefined;
  if (throughRedis && c.view.composer.hint === ERROR_TEXT.unavailable()) c.setHint("");
  switch (ev.type) {
    case "welcome": return welcomed(c, ev);
    case "joined": return joinedEvent(c, ev);
    case "left": case "pong": return;
    case "presence": {
      const ch = c.channels.get(ev.channel);
      if (ch && ch.phase === "joined") {
        C.presence(ch, ev);
        if (ch.name === c.active) c.renderHeader();
      }
      return;
    }
    case "message": return channelEvent(c, ev);
    case "system": return systemEvent(c, ev);
    case "broadcast": return broadcastEvent(c, ev);
    case "history_truncated": {
      const ch = c.channels.get(ev.channel);
      if (ch && ev.ref === ch.joinRef) {
        ch.truncatedRef = ev.ref;
        const text = "Earlier messages than these are not shown (beyond the history kept or the replay limit).";
        c.addLine(ch, { kind: "notice", text });
      }
      return;
    }
    case "error":
      if (pending && pending.op === "join") return joinRefused(c, ev, pending, errorText(ev, c.ctx));
      return errorEvent(c, ev, pending);
    default: return;
  }
}

function welcomed(c, ev) {
  clearInterval(c.countdownTimer);
  // The backoff starts over only once a connection has lasted.
  clearTimeout(c.stableTimer);
  c.stableTimer = setTimeout(() => { c.attempts = 0; }, STABLE_MS);
  c.nickname = ev.nickname;
  c.maxLength = ev.maxMessageLength || c.maxLength;
  c.view.status.me(ev.nickname);
  c.setPhase("open", "Connected");
  for (const ch of c.channels.values()) c.join(ch);
  c.save();
}

function joinedEvent(c, ev) {
  const ch = c.channels.get(ev.channel);
  if (!ch || !C.joined(ch, ev, Date.now())) return;   // (the answer to an earlier, abandoned join)
  ch.view.setProtected(ch.isProtected);
  if (!ev.replayed) ch.view.setBusy(false);
  ch.view.renderLabel(ch.isProtected, ch.unread);
  if (ch.name === c.active) c.renderHeader();
  // Messages written while the join was under way go now, after our join notice.
  for (const text of ch.outbox.splice(0)) c.sendMessage(ch, text);
}

function channelEvent(c, ev) {
  const ch = c.channels.get(ev.channel);
  if (!ch || !c.accept(ch, ev)) return;
  if (ev.sender === c.nickname) {
    const ref = c.unconfirmed.confirm(ev.channel, ev.message);
    if (ref !== undefined) c.link.forget(ref);
    // A text given back as undelivered that arrived after all (a slow old connection).
    const r = c.restored, composer = c.view.composer;
    if (r && r.channel === ev.channel && r.text === ev.message && composer.value === r.text) {
      composer.value = "";
      composer.autoGrow();
      c.setHint("Your earlier message arrived after all.");
      c.restored = null;
    }
  }
  c.addLine(ch, lineFor(ev, c.nickname));
  if (!ev.replay || ch.countReplay) c.countUnread(ch);
}

function systemEvent(c, ev) {
  if (ev.event === "shutdown") {
    const text = "The server is restarting; this page will reconnect by itself.";
    for (const ch of c.channels.values()) c.addLine(ch, { kind: "notice", text });
    return;
  }
  const ch = c.channels.get(ev.channel);
  if (!ch) return;
  if (ev.event === "count") {
    if (ch.phase !== "joined") return;
    ch.count = ev.count;
    // Quiet joins and leaves of a big channel name nobody (and may leave the count
    // as it was): ask who is there.
    ch.stale = true;
    c.refreshPresence(ch);
    if (ch.name === c.active) c.renderHeader();
    return;
  }
  if (!c.accept(ch, ev)) return;
  if (!ev.replay && (ev.event === "join" || ev.event === "leave")) {
    if (C.memberNotice(ch, ev)) c.refreshPresence(ch);
    if (ch.name === c.active) c.renderHeader();
  }
  if (ev.quiet) return;
  c.addLine(ch, lineFor(ev, c.nickname));
}

function broadcastEvent(c, ev) {
  if (ev.id) {
    if (c.broadcastsSeen.has(ev.id)) return;
    c.broadcastsSeen.add(ev.id);
    if (c.broadcastsSeen.size > BROADCASTS_KEPT) c.broadcastsSeen.delete(c.broadcastsSeen.values().next().value);
  }
  // Shown in every open tab (it is for everyone); it raises no unread badge.
  for (const ch of c.channels.values()) c.addLine(ch, lineFor(ev, c.nickname));
}

// An error that is not the answer to a join.
function errorEvent(c, ev, pending) {
  const text = errorText(ev, c.ctx);
  // Leaving something the server no longer had; a ping or presence refused in passing.
  if (pending && (pending.op === "leave" || pending.op === "ping" || pending.op === "presence")) return;
  if (ev.code === "invalid_nickname") {
    c.fatal = text;    // the server closes next; back to the nickname form
    return;
  }
  const name = ev.channel || (pending && pending.channel);
  const ch = (name && c.channels.get(name)) || c.activeChannel();
  if (pending && pending.op === "send") {
    c.unconfirmed.dropRef(ev.ref);
    // The message was not delivered: give its text back.
    const target = pending.channel && c.channels.get(pending.channel);
    if (ch) c.addLine(ch, { kind: "error", text });
    if (pending.text && target) c.giveBack(target, [pending.text]);
    c.setHint(text);
    return;
  }
  if (ch) c.addLine(ch, { kind: "error", text, alert: true });
}

// A join refused: session/channel.mjs refusal() decides, this performs it.
function joinRefused(c, ev, pending, text) {
  const ch = c.channels.get(pending.channel);
  if (!ch) return;
  const decision = C.refusal(ch, ev, pending, c.link.connection, text);
  switch (decision.act) {
    case "ignore": return;                      // a join that was abandoned meanwhile
    case "joined":                              // the server has us: take it as joined
      C.alreadyJoined(ch);
      ch.view.setBusy(false);
      c.refreshPresence(ch);
      if (ch.name === c.active) c.renderHeader();
      for (const t of ch.outbox.splice(0)) c.sendMessage(ch, t);
      return;
    case "rejoin": return c.join(ch);           // now with the password
    case "lock": {
      // Whatever was written while this join was under way was not sent: give it back.
      // (Someone typing in the composer right now keeps the focus: their next keys must
      // not land in the password field, and Enter send the message's text as a password.)
      const writing = c.view.composer.writing();
      const hint = "Not sent: you were not in the channel yet. Your message is back in the box.";
      c.giveBack(ch, ch.outbox.splice(0), hint);
      // The tab stays, with a password field in it.
      C.locked(ch);
      ch.view.setBusy(false);
      ch.view.showLock(true);
      ch.view.setProtected(true);
      ch.view.renderLabel(ch.isProtected, ch.unread);
      c.addLine(ch, { kind: "error", text, alert: true });
      if (ch.name === c.active) {
        c.renderHeader();
        if (!writing) ch.view.focusLock();
      }
      return;
    }
    case "retry": return c.retryLater(ch, decision.why, decision.flat);   // (what was written waits in the outbox)
    default: {
      // Refused: the tab goes, and the join form says why — with anything written for it,
      // which must not stay in the box to be sent to the next channel on screen.
      const held = ch.outbox.splice(0);
      const unsent = held.length ? ` Not sent: ${held.map((t) => `“${t}”`).join(", ")}.` : "";
      if (decision.act === "signOut") {
        // The nickname just picked is in use in the channel picked with it: back to the
        // sign-in form, where it can be changed, with the reason (as for a reserved name).
        c.signOut(text + unsent);
        return;
      }
      c.closeChannel(ch.name);
      c.showJoinError((decision.wasOpen ? `#${ch.name}: ${text}` : text) + unsent);
      if (!decision.wasOpen) c.view.joinForm.focus();
    }
  }
}
