// The page's session: the connection, the open channels and what every event does to
// them. Decisions come from the pure modules (protocol, net, session/channel,
// session/unconfirmed, session/storage, session/tablock); this class keeps the state,
// runs the timers and tells the view (the object main.mjs builds from view/*.mjs).
// Events are handled in session/events.mjs, sending in sends.mjs, signing in and out
// and the tab lock in signin.mjs.

import { historyUrl, leaveOp, lineFor, presenceOp, socketUrl } from "../protocol.mjs";
import { Link, OVERDUE_MS, reconnectDelay } from "../net.mjs";
import * as C from "./channel.mjs";
import { Unconfirmed } from "./unconfirmed.mjs";
import { saveSession } from "./storage.mjs";
import { TabLock } from "./tablock.mjs";
import { handle } from "./events.mjs";
import { cameBack, park, signIn, signOut, takeOver } from "./signin.mjs";
import { giveBack, resumed, sendMessage, submitMessage } from "./sends.mjs";

export class Client {
  // env: {WebSocket, location, storage, bus, pageId, fetch, online(), visible(), reload(),
  //       pingEvery, pongWait, tabWaitMs}
  constructor(view, env) {
    this.view = view;
    this.env = env;
    this.nickname = "";
    this.phase = "idle";          // idle | connecting | open | waiting | offline
    this.attempts = 0;
    this.retryTimer = 0;
    this.retryAt = 0;
    this.countdownTimer = 0;
    this.stableTimer = 0;
    this.signedOut = true;
    this.parked = false;          // this session is in use in another tab of the browser
    this.fatal = null;
    this.maxLength = 2000;
    this.channels = new Map();    // name → channel (session/channel.mjs state + its `view`)
    this.active = "";
    this.broadcastsSeen = new Set();
    this.saveTimer = 0;
    this.unconfirmed = new Unconfirmed();
    this.restored = null;         // {channel, text} put back into the box as not delivered
    this.link = new Link({
      WebSocket: env.WebSocket, pingEvery: env.pingEvery, pongWait: env.pongWait,
      onEvent: (ev) => this.handle(ev), onClose: (ws, code, reason) => this.lost(ws, code, reason),
    });
    this.tabLock = new TabLock(env.bus, {
      pageId: env.pageId,
      isActive: () => !this.signedOut && !this.parked,
      isSignedIn: () => !this.signedOut,
      onPark: (why) => this.park(why),
      onSignOut: () => this.signOut(""),
    });
  }

  // ---- Signing in and out, one tab per browser (session/signin.mjs).
  signIn(nickname, channels, active, parked) { signIn(this, nickname, channels, active, parked); }
  signOut(message) { signOut(this, message); }
  park(why, handOver) { park(this, why, handOver); }
  takeOver() { takeOver(this); }
  cameBack() { cameBack(this); }

  get ctx() { return { maxLength: this.maxLength, nickname: this.nickname }; }
  activeChannel() { return this.channels.get(this.active); }

  // ---- Persistence (session/storage.mjs): soon after each new id, at once on changes.
  save() {
    if (this.signedOut || this.parked) return;
    clearTimeout(this.saveTimer);
    this.saveTimer = 0;
    const channels = [...this.channels.values()];
    saveSession(this.env.storage, { nickname: this.nickname, channels, active: this.active });
  }
  saveSoon() {
    if (!this.saveTimer) this.saveTimer = setTimeout(() => this.save(), 1000);
  }

  // ---- Connection.
  setPhase(phase, text) {
    this.phase = phase;
    this.view.status.show(phase, text);
    this.updateComposer();
  }

  connect() {
    clearTimeout(this.retryTimer);
    clearInterval(this.countdownTimer);
    this.link.open(socketUrl(this.env.location, this.nickname));
    this.setPhase("connecting", this.attempts ? "Reconnecting…" : "Connecting…");
  }

  lost(ws, code, reason) {
    if (this.link.ws !== ws) return;
    this.link.drop();
    clearTimeout(this.stableTimer);
    for (const ch of this.channels.values()) {
      clearTimeout(ch.retryTimer);
      C.connectionLost(ch);
    }
    this.renderHeader();
    if (this.signedOut) return;
    if (this.fatal) {
      const fatal = this.fatal;
      this.fatal = null;
      this.signOut(fatal);
      return;
    }
    if (code === 1008 && reason) this.notice(this.active, `Disconnected by the server: ${reason}.`, "error");
    this.scheduleReconnect(code === 1001 ? "The server restarted." : "Connection lost.");
  }

  scheduleReconnect(why) {
    const wait = reconnectDelay(this.attempts);
    this.attempts += 1;
    this.retryAt = Date.now() + wait;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), wait);
    if (!this.env.online()) this.setPhase("offline", "Offline: waiting for the network.");
    else this.setPhase("waiting", `${why} Reconnecting…`);
    const tick = () => this.view.status.countdown(`in ${Math.max(0, Math.ceil((this.retryAt - Date.now()) / 1000))} s`);
    tick();
    clearInterval(this.countdownTimer);
    this.countdownTimer = setInterval(tick, 1000);
  }

  // Liveness, every second: browsers do not ping, and a socket whose network vanished
  // can look open for many minutes. Ping when quiet; no answer → reconnect.
  checkAlive() {
    const now = Date.now();
    if (this.link.stalled(this.phase, now)) return this.lost(this.link.ws, 0, "");
    if (this.phase !== "open" || !this.link.ws) return;
    // Our own sends do not postpone the check (a dead socket swallows them), but a send
    // that has not come back within 5 s brings it forward.
    const overdue = this.unconfirmed.sweep(now, this.link.connection, OVERDUE_MS);
    if (this.link.pingDue(overdue, now)) this.probe();
  }
  probe() {
    if (this.phase === "open") this.link.ping();
  }

  // Coming back (network, a phone waking up, a tab restored): check the connection now.
  wake() {
    if (this.signedOut || this.parked) return;
    if (this.phase === "waiting" || this.phase === "offline") return this.connect();
    this.link.pingSentAt = 0;   // a ping pending from before a freeze is not an unanswered one
    this.probe();
  }
  wentOffline() {
    if (this.phase === "waiting") this.setPhase("offline", "Offline: waiting for the network.");
    else this.probe();
  }
  reconnectNow() {
    if (!this.signedOut && !this.parked) this.connect();
  }

  // ---- Joining and leaving.
  join(ch) {
    const op = C.joinRequest(ch);
    if (!op) return;
    clearTimeout(ch.retryTimer);
    const ref = this.link.send(op, { withPassword: !!op.password });
    if (!ref) {
      ch.phase = "idle";
      return;
    }
    C.joinSent(ch, ref);
    ch.view.setBusy(true);
    if (ch.name === this.active) this.renderHeader();
  }

  retryLater(ch, text, flat) {
    ch.phase = "waiting";
    ch.view.setBusy(false);
    const wait = C.retryWait(ch, flat);
    if (ch.noted !== text) {
      ch.noted = text;
      ch.view.addLine({ kind: "notice", text });
    }
    clearTimeout(ch.retryTimer);
    ch.retryTimer = setTimeout(() => {
      if (this.channels.get(ch.name) === ch && ch.phase === "waiting" && this.phase === "open") {
        ch.phase = "idle";
        this.join(ch);
      }
    }, wait);
    if (ch.name === this.active) this.renderHeader();
  }

  openChannel(name, opts) {
    let ch = this.channels.get(name);
    if (!ch) {
      ch = C.newChannel(name, opts || {}, this.link.connection);
      const c = ch;
      ch.view = this.view.channel(name, {
        onSelect: () => this.activate(name, true),
        onPassword: (password) => {
          C.typedPassword(c, password);
          this.join(c);
          this.view.composer.focus();
        },
      });
      this.channels.set(name, ch);
      this.view.tabs.add(ch.view);
      if (ch.restored && ch.lastId) {
        ch.view.setBusy(true);
        this.loadContext(ch);
      }
      if (this.phase === "open") this.join(ch);
      this.save();
    }
    return ch;
  }

  // The join form: a new channel, or the password of one waiting for it.
  joinTyped(name, password) {
    const existing = this.channels.get(name);
    if (existing && existing.phase === "locked" && password) {
      C.typedPassword(existing, password);
      existing.view.showLock(false);
      this.join(existing);
    } else if (!existing) {
      this.openChannel(name, { password });
    }
    this.activate(name, false);
  }

  closeChannel(name) {
    const ch = this.channels.get(name);
    if (!ch) return;
    // Whatever the server may hold for us is left; a `not_joined` answer is harmless.
    if (ch.phase === "joining" || ch.phase === "joined") this.link.send(leaveOp(name));
    clearTimeout(ch.retryTimer);
    clearTimeout(ch.presenceTimer);
    this.unconfirmed.dropChannel(name);
    this.channels.delete(name);
    ch.view.remove();
    if (this.active === name) {
      this.active = "";
      const first = this.channels.keys().next();
      if (!first.done) this.activate(first.value, false);
    }
    this.renderUnread();
    this.renderHeader();
    this.save();
  }

  // The Leave button: true when a channel was left.
  leave() {
    if (!this.active) return false;
    this.closeChannel(this.active);
    return true;
  }

  activate(name, focusTab) {
    const ch = this.channels.get(name);
    if (!ch) return;
    const composer = this.view.composer;
    // A text given back to the box belongs to its channel: leaving that channel puts
    // it back into its draft rather than carrying it to the next one.
    const r = this.restored, before = this.activeChannel();
    if (r && before && before !== ch && r.channel === before.name && composer.value === r.text) {
      before.draft = before.draft ? `${r.text}\n${before.draft}` : r.text;
      composer.value = "";
      this.restored = null;
      this.setHint("");
      composer.autoGrow();
    }
    for (const other of this.channels.values()) other.view.select(other === ch);
    this.active = name;
    ch.unread = 0;
    if (ch.draft && !composer.value) {
      composer.value = ch.draft;
      ch.draft = "";
      composer.autoGrow();
    }
    this.renderUnread();
    this.renderHeader();
    if (ch.view.atEnd) ch.view.scrollToEnd();
    if (focusTab) ch.view.focusTab();
    this.refreshPresence(ch);
    this.save();
  }

  // After a reload: the events up to the last one seen, above what the resume brings.
  // Public channels only (the history of a protected one needs the API key).
  async loadContext(ch) {
    try {
      const r = await this.env.fetch(historyUrl(ch.name, ch.lastId));
      if (!r.ok) return;
      const body = await r.json();
      if (this.channels.get(ch.name) !== ch || !Array.isArray(body.messages)) return;
      const lines = body.messages.filter((ev) => !ev.quiet).map((ev) => lineFor(ev, this.nickname, "earlier"));
      if (lines.length) ch.view.prepend(lines);
    } catch (_) { /* no context then */ }
  }

  // The member list of the channel on screen, asked for when the notices cannot keep
  // it right (big channels, counts that disagree), paced by session/channel.mjs.
  refreshPresence(ch) {
    if (ch.name !== this.active) return;
    const wait = C.presenceWait(ch, Date.now());
    if (wait === null) return;
    if (wait > 0) {
      if (!ch.presenceTimer) {
        ch.presenceTimer = setTimeout(() => {
          ch.presenceTimer = 0;
          this.refreshPresence(ch);
        }, wait);
      }
      return;
    }
    ch.lastPresence = Date.now();
    this.link.send(presenceOp(ch.name));
  }

  // ---- Incoming events (session/events.mjs).
  handle(ev) { handle(this, ev); }

  // Whether to show an event of a channel (session/channel.mjs accept), saving new ids.
  accept(ch, ev) {
    const verdict = C.accept(ch, ev);
    if (!verdict) return false;
    if (verdict === "take") return true;
    this.saveSoon();
    if (verdict === "resumed") {
      ch.view.setBusy(false);
      this.resumed(ch);
    }
    return true;
  }

  // ---- Sending, and giving back what did not go (session/sends.mjs).
  submitMessage() { submitMessage(this); }
  sendMessage(ch, text) { return sendMessage(this, ch, text); }
  giveBack(ch, texts, hint, showLines) { giveBack(this, ch, texts, hint, showLines); }
  resumed(ch) { resumed(this, ch); }

  // ---- Rendering (the view does the DOM).
  addLine(ch, line) { if (ch) ch.view.addLine(line); }
  notice(name, text, kind) { this.addLine(this.channels.get(name), { kind: kind || "notice", text }); }
  setHint(text) { this.view.composer.setHint(text); }
  showJoinError(text) { this.view.joinForm.showError(text); }

  countUnread(ch) {
    if (ch.name === this.active && this.env.visible()) return;
    ch.unread += 1;
    this.renderUnread();
  }
  renderUnread() {
    let total = 0;
    for (const ch of this.channels.values()) {
      ch.view.renderUnread(ch.unread, ch.isProtected);
      total += ch.unread;
    }
    this.view.tabs.title(total);
  }
  renderHeader() {
    this.view.header.render(this.activeChannel(), { parked: this.parked, nickname: this.nickname });
    this.updateComposer();
  }
  updateComposer() {
    this.view.composer.update({ parked: this.parked, open: this.phase === "open", ch: this.activeChannel() });
  }
  // The composer or a hint below the log grew: keep the newest lines in view if that
  // is where the reader was.
  keepEndInView() {
    const ch = this.activeChannel();
    if (ch && ch.view.atEnd) ch.view.scrollToEnd();
  }
  // The page came into view: the channel on screen has been read.
  seen() {
    const ch = this.activeChannel();
    if (!ch) return;
    ch.unread = 0;
    this.renderUnread();
  }
}
