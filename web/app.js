// The chat-server web client: plain JavaScript, no build step, no dependencies.
// Protocol: docs/PROTOCOL.md (the /ws endpoint). Everything a user or another client
// typed is put into the page with textContent, never as HTML.
"use strict";

(() => {
  const STORAGE_KEY = "chat-server.session";
  const HISTORY_ON_OPEN = 50;       // events shown when a channel opens
  const MAX_LINES = 1000;           // per channel log; older lines are dropped
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const GHOST_RETRY_MS = 5000;      // a rejoin refused with nickname_taken (our old connection) is retried
  const GHOST_RETRIES = 12;

  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $("status"), statusText: $("status-text"), reconnectNow: $("reconnect-now"),
    me: $("me"), signOut: $("sign-out"),
    login: $("login"), loginForm: $("login-form"), nickname: $("nickname"), firstChannel: $("first-channel"), loginError: $("login-error"),
    app: $("app"), tabs: $("tabs"), joinForm: $("join-form"), joinChannel: $("join-channel"), joinPassword: $("join-password"),
    joinPasswordBox: $("join-password-box"), joinError: $("join-error"),
    channelTitle: $("channel-title"), channelLock: $("channel-lock"), membersToggle: $("members-toggle"), memberCount: $("member-count"),
    leave: $("leave"), panels: $("panels"),
    composer: $("composer"), composerInput: $("composer-input"), composerLabel: $("composer-label"), composerHint: $("composer-hint"),
    members: $("members"), membersClose: $("members-close"), membersCount: $("members-count"), memberList: $("member-list"), membersNote: $("members-note"),
  };

  // ---- Messages a person can read, for every error code the server sends.
  const ERROR_TEXT = {
    bad_json: () => "The server could not read a request from this page. Reload the page.",
    bad_request: (e) => `The server refused a malformed request (${e.message}).`,
    unknown_op: () => "This page asked the server for something it does not know. Reload the page.",
    unsupported_data: () => "The server only accepts text messages.",
    invalid_channel: () => "Channel names are 1–64 letters, digits, _ - or . (no spaces).",
    invalid_nickname: (e) => `That nickname cannot be used: ${e.message}. Use 1–32 letters, digits, spaces, _ - or . (some names such as “System” are reserved).`,
    empty_message: () => "Type a message first.",
    message_too_long: () => `Messages are at most ${state.maxLength} characters.`,
    not_joined: (e) => `You are not in #${e.channel || "that channel"}.`,
    already_joined: (e) => `You are already in #${e.channel || "that channel"}.`,
    too_many_channels: () => "You are in too many channels. Leave one first.",
    forbidden: () => "That is not allowed here.",
    nickname_taken: (e) => `Someone in #${e.channel} already goes by “${state.nickname}”. Pick another nickname to join it.`,
    wrong_password: (e) => `#${e.channel} is protected: enter its password (the one given was missing or wrong).`,
    rate_limited: () => "You are sending too fast. Wait a moment and try again.",
    unavailable: () => "The chat service cannot reach its database right now. Try again in a moment.",
  };
  const errorText = (e) => (ERROR_TEXT[e.code] ? ERROR_TEXT[e.code](e) : e.message || `Error: ${e.code}`);

  // ---- State.
  const state = {
    nickname: "",
    ws: null,
    phase: "idle",            // idle | connecting | open | waiting | offline
    attempts: 0,
    retryTimer: 0,
    retryAt: 0,
    countdownTimer: 0,
    signedOut: true,
    maxLength: 2000,
    nextRef: 1,
    refs: new Map(),          // ref → {op, channel}
    channels: new Map(),      // name → Channel
    active: "",
    broadcastsSeen: new Set(),
    membersOpen: false,
  };

  // A channel the user has open (a tab), joined or being (re)joined.
  function makeChannel(name, password) {
    const log = el("ol", { class: "log", role: "log", "aria-live": "polite", "aria-label": `Messages in #${name}`, tabindex: "0" });
    const panel = el("div", { class: "panel", role: "tabpanel", id: panelId(name), "aria-label": `#${name}` }, [log]);
    panel.hidden = true;
    const badge = el("span", { class: "badge", "aria-hidden": "true" });
    badge.hidden = true;
    const unreadLabel = el("span", { class: "visually-hidden" });
    const lock = el("img", { class: "tab-lock", src: "/lock.svg", width: "14", height: "14", alt: "", title: "Protected by a password" });
    lock.hidden = true;
    const tab = el("button", { type: "button", role: "tab", class: "tab", id: tabId(name), "aria-controls": panelId(name), "aria-selected": "false", tabindex: "-1" },
      [el("span", { class: "tab-name" }, `#${name}`), lock, badge, unreadLabel]);
    tab.addEventListener("click", () => activate(name, true));
    const ch = {
      name, password: password || "", lastId: "", joined: false, joining: false, everJoined: false, atEnd: true,
      members: null, count: 0, isProtected: false, unread: 0, ghostRetries: 0,
      panel, log, tab, badge, unreadLabel, lock,
    };
    // Follow new lines while the reader is at the end; stay put while they read back.
    log.addEventListener("scroll", () => { if (!panel.hidden) ch.atEnd = isAtEnd(ch); });
    return ch;
  }
  const panelId = (name) => `panel-${encodeURIComponent(name)}`;
  const tabId = (name) => `tab-${encodeURIComponent(name)}`;

  // ---- DOM helpers: text only.
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (typeof children === "string") node.textContent = children;
    else if (children) for (const c of children) node.append(c);
    return node;
  }

  // ---- Stream ids ("<ms>-<seq>"): compared numerically.
  function compareIds(a, b) {
    const [am, as] = a.split("-").map(Number), [bm, bs] = b.split("-").map(Number);
    return am !== bm ? am - bm : (as || 0) - (bs || 0);
  }

  // ---- Persistence: the nickname, the open channels and the active one (never passwords).
  function save() {
    if (state.signedOut) return;
    const data = { nickname: state.nickname, channels: [...state.channels.keys()], active: state.active };
    try { localStorage.setItem(STORAGE_KEY, JSON.stringify(data)); } catch (_) { /* private mode */ }
  }
  function restore() {
    try { return JSON.parse(localStorage.getItem(STORAGE_KEY) || "null"); } catch (_) { return null; }
  }

  // ---- Connection state shown at the top.
  function setPhase(phase, text) {
    state.phase = phase;
    ui.status.dataset.state = phase;
    ui.statusText.textContent = text;
    ui.reconnectNow.hidden = phase !== "waiting" && phase !== "offline";
    updateComposer();
  }

  function connect() {
    clearTimeout(state.retryTimer);
    clearInterval(state.countdownTimer);
    if (state.ws) { state.ws.onclose = null; state.ws.close(); }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws?nickname=${encodeURIComponent(state.nickname)}`);
    state.ws = ws;
    state.refs.clear();
    setPhase("connecting", state.attempts ? `Reconnecting… (attempt ${state.attempts + 1})` : "Connecting…");
    ws.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch (_) { return; }
      handle(ev);
    };
    ws.onclose = (c) => closed(ws, c);
  }

  function closed(ws, c) {
    if (state.ws !== ws) return;
    state.ws = null;
    for (const ch of state.channels.values()) { ch.joined = false; ch.joining = false; }
    renderHeader();
    if (state.signedOut) return;
    if (state.fatal) {
      const fatal = state.fatal;
      state.fatal = null;
      signOut(fatal);
      return;
    }
    if (c.code === 1008 && c.reason) {
      // A policy close the server explains (flooding, too slow a reader): come back.
      notice(state.active, `Disconnected by the server: ${c.reason}.`, "error");
    }
    scheduleReconnect(c.code === 1001 ? "The server restarted." : "Connection lost.");
  }

  function scheduleReconnect(why) {
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** state.attempts);
    const wait = Math.round(delay / 2 + Math.random() * delay / 2);
    state.attempts += 1;
    state.retryAt = Date.now() + wait;
    state.retryTimer = setTimeout(connect, wait);
    const tick = () => {
      const s = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
      setPhase("waiting", `${why} Reconnecting in ${s} s…`);
    };
    tick();
    clearInterval(state.countdownTimer);
    state.countdownTimer = setInterval(tick, 1000);
  }

  function send(op) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
    const ref = state.nextRef++;
    state.refs.set(ref, { op: op.op, channel: op.channel });
    if (state.refs.size > 1000) state.refs.delete(state.refs.keys().next().value);
    state.ws.send(JSON.stringify({ ...op, ref }));
    return true;
  }

  // ---- Joining and leaving.
  function join(ch) {
    const op = { op: "join", channel: ch.name };
    if (ch.password) op.password = ch.password;
    // Resume exactly after the last event seen; a channel opened fresh shows recent history.
    if (ch.lastId) op.since = ch.lastId; else op.history = HISTORY_ON_OPEN;
    if (send(op)) ch.joining = true;
  }

  function openChannel(name, password) {
    let ch = state.channels.get(name);
    if (!ch) {
      ch = makeChannel(name, password);
      state.channels.set(name, ch);
      ui.tabs.append(ch.tab);
      ui.panels.append(ch.panel);
      if (state.phase === "open") join(ch);
      save();
    }
    activate(name, false);
    return ch;
  }

  function closeChannel(name) {
    const ch = state.channels.get(name);
    if (!ch) return;
    if (ch.joined || ch.joining) send({ op: "leave", channel: name });
    state.channels.delete(name);
    const names = [...state.channels.keys()];
    ch.tab.remove();
    ch.panel.remove();
    if (state.active === name) {
      state.active = "";
      if (names.length) activate(names[0], false);
    }
    renderHeader();
    save();
  }

  function activate(name, focusTab) {
    const ch = state.channels.get(name);
    if (!ch) return;
    for (const other of state.channels.values()) {
      const on = other === ch;
      other.panel.hidden = !on;
      other.tab.setAttribute("aria-selected", on ? "true" : "false");
      other.tab.tabIndex = on ? 0 : -1;
    }
    state.active = name;
    ch.unread = 0;
    renderUnread(ch);
    renderHeader();
    if (ch.atEnd) scrollToEnd(ch);
    if (focusTab) ch.tab.focus();
    save();
  }

  // ---- Incoming events.
  function handle(ev) {
    const pending = ev.ref !== undefined ? state.refs.get(ev.ref) : undefined;
    if (pending) state.refs.delete(ev.ref);
    switch (ev.type) {
      case "welcome": return welcomed(ev);
      case "joined": return joined(ev);
      case "left": return;
      case "presence": {
        const ch = state.channels.get(ev.channel);
        if (ch) { ch.members = ev.truncated ? null : new Set(ev.members); ch.count = ev.count; renderMembers(); }
        return;
      }
      case "message": return channelEvent(ev);
      case "system": return systemEvent(ev);
      case "broadcast": return broadcastEvent(ev);
      case "history_truncated": {
        const ch = state.channels.get(ev.channel);
        if (ch) addLine(ch, { kind: "notice", text: "Some earlier messages are no longer in the history, so they cannot be shown." });
        return;
      }
      case "error": return errorEvent(ev, pending);
      default: return;
    }
  }

  function welcomed(ev) {
    state.attempts = 0;
    clearInterval(state.countdownTimer);
    state.nickname = ev.nickname;
    state.maxLength = ev.maxMessageLength || state.maxLength;
    ui.me.textContent = `You are ${ev.nickname}`;
    ui.me.hidden = false;
    setPhase("open", "Connected");
    for (const ch of state.channels.values()) join(ch);
    save();
  }

  function joined(ev) {
    const ch = state.channels.get(ev.channel);
    if (!ch) return;
    ch.joined = true;
    ch.joining = false;
    ch.everJoined = true;
    ch.ghostRetries = 0;
    ch.count = ev.count;
    ch.members = Array.isArray(ev.members) ? new Set(ev.members) : null;
    ch.isProtected = !!ev.protected;
    ch.lock.hidden = !ch.isProtected;
    if (ch.name === state.active) renderHeader();
  }

  function channelEvent(ev) {
    const ch = state.channels.get(ev.channel);
    if (!ch || !accept(ch, ev)) return;
    const mine = ev.sender === state.nickname && !ev.replay;
    addLine(ch, { kind: mine ? "message mine" : "message", sender: ev.sender, text: ev.message, ts: ev.ts, replay: ev.replay });
    if (!ev.replay || ch.everJoined) countUnread(ch);
  }

  // Ids of one channel grow strictly: anything at or before the last one shown is a repeat.
  function accept(ch, ev) {
    if (!ev.id) return true;
    if (ch.lastId && compareIds(ev.id, ch.lastId) <= 0) return false;
    ch.lastId = ev.id;
    return true;
  }

  function systemEvent(ev) {
    if (ev.event === "shutdown") {
      for (const ch of state.channels.values()) addLine(ch, { kind: "notice", text: "The server is restarting; this page will reconnect by itself." });
      return;
    }
    const ch = state.channels.get(ev.channel);
    if (!ch) return;
    if (ev.event === "count") {
      ch.count = ev.count;
      if (ch.name === state.active) renderHeader();
      return;
    }
    if (!accept(ch, ev)) return;
    if (!ev.replay && (ev.event === "join" || ev.event === "leave")) {
      if (typeof ev.count === "number") ch.count = ev.count;
      if (ch.members && ev.nickname) {
        if (ev.event === "join") ch.members.add(ev.nickname); else ch.members.delete(ev.nickname);
      }
      if (ch.name === state.active) renderHeader();
    }
    if (ev.quiet) return;
    addLine(ch, { kind: `system ${ev.event || ""}`, text: ev.message, ts: ev.ts });
  }

  function broadcastEvent(ev) {
    if (ev.id) {
      if (state.broadcastsSeen.has(ev.id)) return;
      state.broadcastsSeen.add(ev.id);
      if (state.broadcastsSeen.size > 500) state.broadcastsSeen.delete(state.broadcastsSeen.values().next().value);
    }
    for (const ch of state.channels.values()) {
      addLine(ch, { kind: "broadcast", sender: ev.sender, text: ev.message, ts: ev.ts, label: "to everyone" });
      countUnread(ch);
    }
  }

  function errorEvent(ev, pending) {
    const text = errorText(ev);
    const channel = ev.channel || (pending && pending.channel);
    if (pending && pending.op === "join") {
      const ch = state.channels.get(channel);
      if (ch && ev.code === "nickname_taken" && ch.everJoined && ch.ghostRetries < GHOST_RETRIES) {
        // After a network cut our previous connection may still hold the name until the
        // server's heartbeat drops it: try again shortly.
        ch.joining = false;
        ch.ghostRetries += 1;
        if (ch.ghostRetries === 1) addLine(ch, { kind: "notice", text: "Waiting for your previous connection to time out before rejoining…" });
        setTimeout(() => { if (state.channels.get(ch.name) === ch && !ch.joined && state.phase === "open") join(ch); }, GHOST_RETRY_MS);
        return;
      }
      if (ch && (ev.code === "unavailable")) {
        ch.joining = false;
        addLine(ch, { kind: "error", text });
        setTimeout(() => { if (state.channels.get(ch.name) === ch && !ch.joined && state.phase === "open") join(ch); }, GHOST_RETRY_MS);
        return;
      }
      // The join was refused: close its tab and say why where the user joins channels.
      if (ch) {
        ch.joined = false;
        ch.joining = false;
        closeChannel(channel);
      }
      showJoinError(text);
      if (ev.code === "wrong_password") {
        // Ready to try again: the channel is filled in, the password field has focus.
        ui.joinChannel.value = channel || "";
        ui.joinPasswordBox.open = true;
        ui.joinPassword.value = "";
        ui.joinPassword.focus();
      } else {
        ui.joinChannel.focus();
      }
      return;
    }
    if (ev.code === "invalid_nickname") {
      state.fatal = text;    // the server closes next; back to the nickname form
      return;
    }
    const ch = channel && state.channels.get(channel);
    if (ch) addLine(ch, { kind: "error", text });
    else if (state.active) addLine(state.channels.get(state.active), { kind: "error", text });
    if (ev.code === "rate_limited" || ev.code === "message_too_long" || ev.code === "empty_message") ui.composerHint.textContent = text;
  }

  // ---- Rendering.
  function addLine(ch, line) {
    if (!ch) return;
    const li = el("li", { class: `line ${line.kind}` });
    if (line.ts) {
      const d = new Date(line.ts);
      const t = el("time", { datetime: d.toISOString(), title: d.toLocaleString() }, d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
      li.append(t);
    }
    if (line.sender !== undefined) {
      const who = el("span", { class: "sender" }, line.sender);
      who.style.color = nickColor(line.sender);
      li.append(who);
      if (line.label) li.append(el("span", { class: "label" }, line.label));
    }
    li.append(el("span", { class: "text" }, line.text));
    if (line.kind === "error") li.setAttribute("role", "alert");
    ch.log.append(li);
    while (ch.log.childElementCount > MAX_LINES) ch.log.firstElementChild.remove();
    if (ch.atEnd) ch.log.scrollTop = ch.log.scrollHeight;
  }

  function notice(name, text, kind) {
    const ch = state.channels.get(name);
    if (ch) addLine(ch, { kind: kind || "notice", text });
  }

  function isAtEnd(ch) {
    const log = ch.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight < 48;
  }
  function scrollToEnd(ch) {
    ch.atEnd = true;
    ch.log.scrollTop = ch.log.scrollHeight;
  }

  function countUnread(ch) {
    if (ch.name === state.active && document.visibilityState === "visible") return;
    ch.unread += 1;
    renderUnread(ch);
  }
  function renderUnread(ch) {
    ch.badge.hidden = ch.unread === 0;
    ch.badge.textContent = ch.unread > 99 ? "99+" : String(ch.unread);
    ch.unreadLabel.textContent = ch.unread ? `, ${ch.unread} unread` : "";
    let total = 0;
    for (const c of state.channels.values()) total += c.unread;
    document.title = total ? `(${total}) Chat` : "Chat";
  }

  function renderHeader() {
    const ch = state.channels.get(state.active);
    ui.channelTitle.textContent = ch ? `#${ch.name}` : "No channel open";
    ui.channelLock.hidden = !(ch && ch.isProtected);
    ui.leave.hidden = !ch;
    ui.membersToggle.hidden = !ch;
    ui.composerLabel.textContent = ch ? `Message to #${ch.name}` : "Message";
    renderMembers();
    updateComposer();
  }

  function renderMembers() {
    const ch = state.channels.get(state.active);
    const count = ch ? String(ch.count) : "0";
    ui.memberCount.textContent = count;
    ui.membersCount.textContent = count;
    ui.memberList.replaceChildren();
    ui.membersNote.hidden = true;
    if (!ch) return;
    if (!ch.joined) {
      ui.membersNote.hidden = false;
      ui.membersNote.textContent = ch.everJoined ? "Rejoining…" : "Joining…";
      return;
    }
    if (!ch.members) {
      ui.membersNote.hidden = false;
      ui.membersNote.textContent = "This channel is too big to list everyone.";
      return;
    }
    const names = [...ch.members].sort((a, b) => a.localeCompare(b, undefined, { sensitivity: "base" }));
    for (const name of names) {
      const li = el("li", { class: name === state.nickname ? "member me" : "member" }, name);
      if (name === state.nickname) li.append(el("span", { class: "you" }, " (you)"));
      ui.memberList.append(li);
    }
  }

  function updateComposer() {
    const ch = state.channels.get(state.active);
    const ready = state.phase === "open" && ch;
    ui.composerInput.setAttribute("aria-disabled", ready ? "false" : "true");
    if (state.phase !== "open") ui.composerHint.textContent = "Not connected: messages cannot be sent until the connection is back.";
    else if (!ch) ui.composerHint.textContent = "Join a channel to write.";
    else if (ui.composerHint.textContent.startsWith("Not connected") || ui.composerHint.textContent.startsWith("Join a channel")) ui.composerHint.textContent = "";
  }

  // A stable, readable colour per nickname.
  function nickColor(name) {
    let h = 0;
    for (const c of String(name)) h = (h * 31 + c.codePointAt(0)) >>> 0;
    return `hsl(${h % 360} 55% var(--nick-lightness))`;
  }

  // ---- Sending.
  function submitMessage() {
    const text = ui.composerInput.value;
    const ch = state.channels.get(state.active);
    if (!text.trim()) return;
    if (!ch) { ui.composerHint.textContent = "Join a channel to write."; return; }
    if ([...text].length > state.maxLength) { ui.composerHint.textContent = ERROR_TEXT.message_too_long(); return; }
    if (state.phase !== "open") { ui.composerHint.textContent = "Not connected: your message was not sent. It is still in the box."; return; }
    if (send({ op: "send", channel: ch.name, message: text })) {
      ui.composerInput.value = "";
      ui.composerHint.textContent = "";
      autoGrow();
    }
  }

  function autoGrow() {
    const box = ui.composerInput;
    box.style.height = "auto";
    box.style.height = `${Math.min(box.scrollHeight + 2, 160)}px`;
    box.style.overflowY = box.scrollHeight > 160 ? "auto" : "hidden";
  }

  function showJoinError(text) { ui.joinError.textContent = text; }

  // ---- Signing in and out.
  function signIn(nickname, channels, active) {
    state.nickname = nickname;
    state.signedOut = false;
    state.attempts = 0;
    ui.login.hidden = true;
    ui.app.hidden = false;
    ui.signOut.hidden = false;
    for (const name of channels) openChannel(name);
    if (active && state.channels.has(active)) activate(active, false);
    save();
    connect();
    ui.composerInput.focus();
  }

  function signOut(message) {
    state.signedOut = true;
    clearTimeout(state.retryTimer);
    clearInterval(state.countdownTimer);
    if (state.ws) { const ws = state.ws; state.ws = null; ws.onclose = null; ws.close(1000); }
    for (const name of [...state.channels.keys()]) {
      const ch = state.channels.get(name);
      ch.tab.remove(); ch.panel.remove();
    }
    state.channels.clear();
    state.active = "";
    try { localStorage.removeItem(STORAGE_KEY); } catch (_) { /* ignore */ }
    ui.app.hidden = true;
    ui.login.hidden = false;
    ui.signOut.hidden = true;
    ui.me.hidden = true;
    setPhase("idle", "Not connected");
    ui.loginError.textContent = message || "";
    ui.nickname.value = state.nickname;
    ui.nickname.focus();
    document.title = "Chat";
  }

  // ---- Wiring.
  const CHANNEL_RULE = /^[\p{L}\p{N}_.\-][\p{L}\p{M}\p{N}_.\-]{0,63}$/u;

  ui.loginForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const nickname = ui.nickname.value.trim();
    const channel = ui.firstChannel.value.trim();
    if (!nickname) { ui.loginError.textContent = "Pick a nickname."; ui.nickname.focus(); return; }
    if ([...nickname].length > 32) { ui.loginError.textContent = ERROR_TEXT.invalid_nickname({ message: "longer than 32 characters" }); ui.nickname.focus(); return; }
    if (!CHANNEL_RULE.test(channel)) { ui.loginError.textContent = ERROR_TEXT.invalid_channel(); ui.firstChannel.focus(); return; }
    ui.loginError.textContent = "";
    signIn(nickname, [channel], channel);
  });

  ui.joinForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const name = ui.joinChannel.value.trim().replace(/^#/, "");
    if (!name) { showJoinError("Type the name of a channel."); ui.joinChannel.focus(); return; }
    if (!CHANNEL_RULE.test(name)) { showJoinError(ERROR_TEXT.invalid_channel()); ui.joinChannel.focus(); return; }
    if (state.channels.has(name)) { activate(name, false); ui.joinChannel.value = ""; ui.composerInput.focus(); return; }
    showJoinError("");
    openChannel(name, ui.joinPassword.value);
    ui.joinChannel.value = "";
    ui.joinPassword.value = "";
    ui.joinPasswordBox.open = false;
    ui.composerInput.focus();
  });

  ui.composer.addEventListener("submit", (e) => { e.preventDefault(); submitMessage(); });
  ui.composerInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submitMessage(); }
  });
  ui.composerInput.addEventListener("input", autoGrow);

  // Tabs: arrow keys move between channels, Home/End jump (the WAI-ARIA tabs pattern).
  ui.tabs.addEventListener("keydown", (e) => {
    const names = [...state.channels.keys()];
    const i = names.indexOf(state.active);
    let next = -1;
    if (e.key === "ArrowDown" || e.key === "ArrowRight") next = (i + 1) % names.length;
    else if (e.key === "ArrowUp" || e.key === "ArrowLeft") next = (i - 1 + names.length) % names.length;
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = names.length - 1;
    if (next < 0 || !names.length) return;
    e.preventDefault();
    activate(names[next], true);
  });

  ui.leave.addEventListener("click", () => {
    if (state.active) closeChannel(state.active);
    (state.active ? ui.composerInput : ui.joinChannel).focus();
  });
  function showMembers(open) {
    state.membersOpen = open;
    ui.members.classList.toggle("open", open);
    ui.membersToggle.setAttribute("aria-expanded", String(open));
    (open ? ui.membersClose : ui.membersToggle).focus();
  }
  ui.membersToggle.addEventListener("click", () => showMembers(!state.membersOpen));
  ui.membersClose.addEventListener("click", () => showMembers(false));
  ui.members.addEventListener("keydown", (e) => { if (e.key === "Escape" && state.membersOpen) showMembers(false); });
  ui.signOut.addEventListener("click", () => signOut(""));
  ui.reconnectNow.addEventListener("click", () => { if (!state.signedOut) connect(); });
  window.addEventListener("resize", () => {
    const ch = state.channels.get(state.active);
    if (ch && ch.atEnd) scrollToEnd(ch);
  });
  window.addEventListener("online", () => { if (state.phase === "waiting") connect(); });
  document.addEventListener("visibilitychange", () => {
    const ch = state.channels.get(state.active);
    if (document.visibilityState === "visible" && ch) { ch.unread = 0; renderUnread(ch); }
  });

  // A returning visitor continues where they were (same nickname and channels).
  const saved = restore();
  if (saved && saved.nickname && Array.isArray(saved.channels) && saved.channels.length) {
    ui.nickname.value = saved.nickname;
    signIn(saved.nickname, saved.channels.filter((n) => typeof n === "string"), saved.active);
  } else {
    ui.nickname.focus();
  }
  renderHeader();

  // For tests and the curious: a read-only view of the connection.
  window.chatClient = Object.freeze({
    get phase() { return state.phase; },
    get nickname() { return state.nickname; },
    lastId: (name) => (state.channels.get(name) || {}).lastId || "",
  });
})();
