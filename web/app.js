// The chat-server web client: plain JavaScript, no build step, no dependencies.
// Protocol: docs/PROTOCOL.md (the /ws endpoint); behaviour: docs/WEB-CLIENT.md.
// Everything a user or another client typed is put into the page with textContent,
// never as HTML.
"use strict";

(() => {
  const STORAGE_KEY = "chat-server.session";
  const HISTORY_ON_OPEN = 50;       // events shown when a channel opens for the first time
  const CONTEXT_ON_RETURN = 50;     // earlier events shown above a resumed channel after a reload
  const MAX_LINES = 1000;           // per channel log; older lines are dropped
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const STABLE_MS = 10000;          // a connection this old resets the reconnect backoff
  const RETRY_MIN_MS = 5000;        // a rejoin refused for a passing reason is retried
  const RETRY_MAX_MS = 60000;
  const GHOST_RETRIES = 12;         // nickname_taken on a rejoin: our old connection, for about a minute
  const CONNECT_TIMEOUT_MS = 15000;
  // Liveness: a ping after this much silence from our side; no answer in PONG_WAIT → reconnect.
  const tuning = new URLSearchParams(location.search);
  const PING_EVERY_MS = 1000 * (Number(tuning.get("ping")) || 25);
  const PONG_WAIT_MS = 1000 * (Number(tuning.get("pong")) || 10);
  // How long a starting tab listens for another tab of this browser holding the session.
  const TAB_WAIT_MS = 1000 * (Number(tuning.get("tabwait")) || 0.2);
  const TEMPORARY = new Set(["rate_limited", "unavailable", "nickname_taken"]);

  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $("status"), statusText: $("status-text"), countdown: $("status-countdown"), reconnectNow: $("reconnect-now"),
    useHere: $("use-here"),
    me: $("me"), signOut: $("sign-out"),
    login: $("login"), loginForm: $("login-form"), nickname: $("nickname"), firstChannel: $("first-channel"), loginError: $("login-error"),
    app: $("app"), sidebar: document.querySelector(".sidebar"), conversation: document.querySelector(".conversation"),
    tabs: $("tabs"), joinToggle: $("join-toggle"), joinForm: $("join-form"), joinChannel: $("join-channel"),
    joinPassword: $("join-password"), joinPasswordBox: $("join-password-box"), joinError: $("join-error"),
    channelTitle: $("channel-title"), channelLock: $("channel-lock"), membersToggle: $("members-toggle"), memberCount: $("member-count"),
    leave: $("leave"), panels: $("panels"),
    composer: $("composer"), composerInput: $("composer-input"), composerLabel: $("composer-label"), composerHint: $("composer-hint"),
    members: $("members"), membersClose: $("members-close"), membersCount: $("members-count"), memberList: $("member-list"),
    membersNote: $("members-note"),
  };
  const narrow = window.matchMedia("(max-width: 760px)");

  // ---- A sentence for every error code the server sends.
  const ERROR_TEXT = {
    bad_json: () => "The server could not read a request from this page. Reload the page.",
    bad_request: (e) => `The server refused a malformed request (${e.message}).`,
    unknown_op: () => "This page asked the server for something it does not know. Reload the page.",
    unsupported_data: () => "The server only accepts text messages.",
    invalid_channel: () => "Channel names are 1–64 letters, digits, _ - or . (no spaces).",
    invalid_nickname: (e) => `That nickname cannot be used: ${e.message}. Use 1–32 letters, digits, spaces, _ - or . (some names such as “System” are reserved).`,
    empty_message: () => "Type a message first.",
    message_too_long: () => `Messages are at most ${state.maxLength} characters.`,
    not_joined: (e) => `You are not in #${e.channel || "that channel"} (yet), so the message was not sent.`,
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
    stableTimer: 0,
    signedOut: true,
    parked: false,            // this session is in use in another tab of the browser
    fatal: null,
    maxLength: 2000,
    nextRef: 1,
    refs: new Map(),          // ref → {op, channel, text}
    channels: new Map(),      // name → channel (a tab)
    active: "",
    broadcastsSeen: new Set(),
    membersOpen: false,
    connectStarted: 0,
    lastReceived: 0,
    pingSentAt: 0,
    saveTimer: 0,
    connection: 0,            // counts connections, to tell old sends from new
    unconfirmed: [],          // sends not yet seen coming back: {ref, connection, channel, text, at}
    restored: null,           // {channel, text} put back into the box as not delivered
  };

  // A channel the user has open (a tab). Its `phase`: idle (no request out), joining,
  // joined, waiting (a retry is scheduled), locked (needs its password).
  function makeChannel(name, opts) {
    const log = el("ol", { class: "log", role: "log", "aria-live": "polite", "aria-labelledby": tabId(name), tabindex: "0" });
    const lockForm = el("form", { class: "lock-form", novalidate: "" });
    const lockInputId = `lock-${encodeURIComponent(name)}`;
    const lockInput = el("input", { id: lockInputId, type: "password", maxlength: "128", autocomplete: "off" });
    lockForm.append(el("label", { for: lockInputId }, `Password for #${name} (empty: try without)`),
      el("div", { class: "row" }, [lockInput, el("button", { type: "submit", class: "primary" }, "Join")]));
    lockForm.hidden = true;
    const panel = el("div", { class: "panel", role: "tabpanel", id: panelId(name), "aria-labelledby": tabId(name) }, [lockForm, log]);
    panel.hidden = true;
    const badge = el("span", { class: "badge", "aria-hidden": "true" });
    badge.hidden = true;
    const tabLabel = el("span", { class: "visually-hidden" });
    const lock = el("img", { class: "tab-lock", src: "/lock.svg", width: "14", height: "14", alt: "", title: "Protected by a password" });
    lock.hidden = true;
    const tab = el("button", { type: "button", role: "tab", class: "tab", id: tabId(name), "aria-controls": panelId(name), "aria-selected": "false", tabindex: "-1" },
      [el("span", { class: "tab-name" }, `#${name}`), lock, badge, tabLabel]);
    const ch = {
      name, phase: "idle", password: opts.password || "", lastId: opts.lastId || "", restored: !!opts.restored,
      atSignIn: !!opts.atSignIn,   // the first channel, picked on the sign-in form
      everJoined: false, joinRef: 0, joinNoticeId: "", countReplay: false, retryTimer: 0, retries: 0, noted: "",
      askedOn: opts.restored ? 0 : state.connection, typedPassword: !!opts.password, withPassword: false,
      truncatedRef: 0, stale: false, outbox: [], draft: "",
      members: null, count: 0, isProtected: false, unread: 0, atEnd: true, lastPresence: 0, presenceTimer: 0, tooBig: false,
      panel, log, tab, badge, tabLabel, lock, lockForm, lockInput,
    };
    tab.addEventListener("click", () => activate(name, true));
    // Follow new lines while the reader is at the end; stay put while they read back.
    log.addEventListener("scroll", () => { if (!panel.hidden) ch.atEnd = isAtEnd(ch); });
    lockForm.addEventListener("submit", (e) => {
      e.preventDefault();
      // Empty: try without one (the password may have been removed meanwhile).
      ch.password = lockInput.value;
      ch.typedPassword = !!lockInput.value;
      lockInput.value = "";
      lockForm.hidden = true;
      ch.phase = "idle";
      join(ch);
      ui.composerInput.focus();
    });
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

  // ---- Stream ids ("<ms>-<seq>"), compared numerically.
  function parseId(id) {
    const m = /^(\d+)-(\d+)$/.exec(id || "");
    return m ? [Number(m[1]), Number(m[2])] : null;
  }
  function compareIds(a, b) {
    const [am, as] = parseId(a) || [0, 0], [bm, bs] = parseId(b) || [0, 0];
    return am !== bm ? am - bm : as - bs;
  }

  // ---- Persistence: nickname, open channels with the last id seen, the active one.
  // Passwords are never stored.
  function save() {
    if (state.signedOut || state.parked) return;
    clearTimeout(state.saveTimer);
    state.saveTimer = 0;
    const channels = [...state.channels.values()].map((c) => ({ name: c.name, lastId: c.lastId }));
    const data = { nickname: state.nickname, channels, active: state.active };
    try { localStorage.setItem(STORAGE_KEY, JSON.stringify(data)); } catch (_) { /* private mode */ }
  }
  function saveSoon() {
    if (!state.saveTimer) state.saveTimer = setTimeout(save, 1000);
  }
  function restore() {
    try {
      const data = JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
      if (!data || typeof data.nickname !== "string" || !Array.isArray(data.channels)) return null;
      data.channels = data.channels
        .map((c) => (typeof c === "string" ? { name: c, lastId: "" } : c))
        .filter((c) => c && typeof c.name === "string" && (!c.lastId || parseId(c.lastId)));
      return data;
    } catch (_) { return null; }
  }

  // ---- Connection state at the top. Screen readers hear phase changes, not the countdown.
  function setPhase(phase, text) {
    const changed = state.phase !== phase || ui.statusText.textContent !== text;
    state.phase = phase;
    ui.status.dataset.state = phase;
    if (changed) ui.statusText.textContent = text;
    ui.countdown.textContent = "";
    ui.reconnectNow.hidden = phase !== "waiting" && phase !== "offline";
    updateComposer();
  }

  function connect() {
    clearTimeout(state.retryTimer);
    clearInterval(state.countdownTimer);
    dropSocket();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws?nickname=${encodeURIComponent(state.nickname)}`);
    state.ws = ws;
    state.connection += 1;
    state.refs.clear();
    state.connectStarted = Date.now();
    state.pingSentAt = 0;
    setPhase("connecting", state.attempts ? "Reconnecting…" : "Connecting…");
    ws.onmessage = (m) => {
      state.lastReceived = Date.now();
      state.pingSentAt = 0;
      let ev;
      try { ev = JSON.parse(m.data); } catch (_) { return; }
      handle(ev);
    };
    ws.onclose = (c) => lost(ws, c.code, c.reason);
  }

  // Forgets the socket without waiting for its close handshake.
  function dropSocket() {
    const ws = state.ws;
    if (!ws) return;
    state.ws = null;
    ws.onclose = null;
    ws.onmessage = null;
    try { ws.close(); } catch (_) { /* already closed */ }
  }

  function lost(ws, code, reason) {
    if (state.ws !== ws) return;
    dropSocket();
    clearTimeout(state.stableTimer);
    for (const ch of state.channels.values()) {
      clearTimeout(ch.retryTimer);
      ch.retries = 0;
      if (ch.phase !== "locked") ch.phase = "idle";
    }
    renderHeader();
    if (state.signedOut) return;
    if (state.fatal) {
      const fatal = state.fatal;
      state.fatal = null;
      signOut(fatal);
      return;
    }
    if (code === 1008 && reason) notice(state.active, `Disconnected by the server: ${reason}.`, "error");
    scheduleReconnect(code === 1001 ? "The server restarted." : "Connection lost.");
  }

  function scheduleReconnect(why) {
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** state.attempts);
    const wait = Math.round(delay / 2 + Math.random() * delay / 2);
    state.attempts += 1;
    state.retryAt = Date.now() + wait;
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(connect, wait);
    if (navigator.onLine === false) setPhase("offline", "Offline: waiting for the network.");
    else setPhase("waiting", `${why} Reconnecting…`);
    const tick = () => {
      ui.countdown.textContent = `in ${Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000))} s`;
    };
    tick();
    clearInterval(state.countdownTimer);
    state.countdownTimer = setInterval(tick, 1000);
  }

  // Liveness: browsers do not ping, and a socket whose network vanished (a phone asleep,
  // a changed network) can look open for many minutes. Ping when quiet; no answer → reconnect.
  function checkAlive() {
    const now = Date.now();
    if (state.phase === "connecting" && state.ws && now - state.connectStarted > CONNECT_TIMEOUT_MS) {
      return lost(state.ws, 0, "");
    }
    if (state.phase !== "open" || !state.ws) return;
    if (state.pingSentAt && now - state.pingSentAt > PONG_WAIT_MS && state.lastReceived < state.pingSentAt) {
      return lost(state.ws, 0, "");
    }
    // Our own sends do not postpone the check (a dead socket swallows them), but a send
    // that has not come back within 5 s brings it forward.
    let overdue = false;
    for (const u of state.unconfirmed) {
      if (u.connection === state.connection && now - u.at > 5000) { overdue = true; u.at = now; }
    }
    // On a connection that answers, an echo not matched in a minute is not coming.
    state.unconfirmed = state.unconfirmed.filter((u) => u.connection !== state.connection || now - u.sent < 60000);
    if (!state.pingSentAt && (now - state.lastReceived >= PING_EVERY_MS || overdue)) probe();
  }
  function probe() {
    if (state.phase === "open" && state.ws && !state.pingSentAt && send({ op: "ping" })) state.pingSentAt = Date.now();
  }
  setInterval(checkAlive, 1000);

  function send(op, extra) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return 0;
    const ref = state.nextRef++;
    state.refs.set(ref, { op: op.op, channel: op.channel, ...(extra || {}) });
    if (state.refs.size > 1000) state.refs.delete(state.refs.keys().next().value);
    state.ws.send(JSON.stringify({ ...op, ref }));
    return ref;
  }

  // ---- Joining and leaving.
  function join(ch) {
    if (ch.phase === "joining" || ch.phase === "joined" || ch.phase === "locked") return;
    clearTimeout(ch.retryTimer);
    const op = { op: "join", channel: ch.name };
    // A password the user typed goes with that join (it may create the protection). A
    // rejoin goes without it first and adds it only after `wrong_password`: a channel
    // that became public (and, after a restart, empty) must not be protected again.
    if (ch.password && (ch.typedPassword || ch.withPassword)) op.password = ch.password;
    ch.withPassword = false;
    // Resume exactly after the last event shown; a channel opened fresh shows recent history.
    if (ch.lastId) op.since = ch.lastId; else op.history = HISTORY_ON_OPEN;
    const ref = send(op, { withPassword: !!op.password });
    if (!ref) { ch.phase = "idle"; return; }
    ch.joinRef = ref;
    ch.phase = "joining";
    ch.countReplay = !!ch.lastId;   // a resume: what was missed is unread; history of a new tab is not
    ch.truncatedRef = 0;
    ch.log.setAttribute("aria-busy", "true");
    if (ch.name === state.active) renderHeader();
  }

  function retryLater(ch, text, flat) {
    ch.phase = "waiting";
    ch.log.removeAttribute("aria-busy");
    ch.retries += 1;
    if (ch.noted !== text) { ch.noted = text; addLine(ch, { kind: "notice", text }); }
    const wait = flat ? RETRY_MIN_MS : Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(ch.retries - 1, 4));
    clearTimeout(ch.retryTimer);
    ch.retryTimer = setTimeout(() => {
      if (state.channels.get(ch.name) === ch && ch.phase === "waiting" && state.phase === "open") { ch.phase = "idle"; join(ch); }
    }, wait);
    if (ch.name === state.active) renderHeader();
  }

  function openChannel(name, opts) {
    let ch = state.channels.get(name);
    if (!ch) {
      ch = makeChannel(name, opts || {});
      state.channels.set(name, ch);
      ui.tabs.append(ch.tab);
      ui.panels.append(ch.panel);
      if (ch.restored && ch.lastId) { ch.log.setAttribute("aria-busy", "true"); loadContext(ch); }
      if (state.phase === "open") join(ch);
      save();
    }
    return ch;
  }

  function closeChannel(name) {
    const ch = state.channels.get(name);
    if (!ch) return;
    // Whatever the server may hold for us is left; a `not_joined` answer is harmless.
    if (ch.phase === "joining" || ch.phase === "joined") send({ op: "leave", channel: name });
    clearTimeout(ch.retryTimer);
    clearTimeout(ch.presenceTimer);
    state.unconfirmed = state.unconfirmed.filter((u) => u.channel !== name);
    state.channels.delete(name);
    ch.tab.remove();
    ch.panel.remove();
    if (state.active === name) {
      state.active = "";
      const first = state.channels.keys().next();
      if (!first.done) activate(first.value, false);
    }
    renderUnread();
    renderHeader();
    save();
  }

  function activate(name, focusTab) {
    const ch = state.channels.get(name);
    if (!ch) return;
    // A text given back to the box belongs to its channel: leaving that channel puts
    // it back into its draft rather than carrying it to the next one.
    const r = state.restored, before = state.channels.get(state.active);
    if (r && before && before !== ch && r.channel === before.name && ui.composerInput.value === r.text) {
      before.draft = before.draft ? `${r.text}\n${before.draft}` : r.text;
      ui.composerInput.value = "";
      state.restored = null;
      setHint("");
      autoGrow();
    }
    for (const other of state.channels.values()) {
      const on = other === ch;
      other.panel.hidden = !on;
      other.tab.setAttribute("aria-selected", on ? "true" : "false");
      other.tab.tabIndex = on ? 0 : -1;
    }
    state.active = name;
    ch.unread = 0;
    if (ch.draft && !ui.composerInput.value) { ui.composerInput.value = ch.draft; ch.draft = ""; autoGrow(); }
    renderUnread();
    renderHeader();
    if (ch.atEnd) scrollToEnd(ch);
    if (focusTab) ch.tab.focus();
    refreshPresence(ch);
    save();
  }

  // After a reload: the events up to the last one seen, above what the resume brings.
  // Public channels only (the history of a protected one needs the API key).
  async function loadContext(ch) {
    const [ms, seq] = parseId(ch.lastId);
    const before = `${ms}-${seq + 1}`;
    try {
      const r = await fetch(`/api/channels/${encodeURIComponent(ch.name)}/history?before=${before}&limit=${CONTEXT_ON_RETURN}`);
      if (!r.ok) return;
      const body = await r.json();
      if (state.channels.get(ch.name) !== ch || !Array.isArray(body.messages)) return;
      const lines = body.messages.filter((ev) => !ev.quiet).map((ev) => render(lineFor(ev, "earlier")));
      if (!lines.length) return;
      ch.log.prepend(...lines);
      if (ch.atEnd) scrollToEnd(ch);
    } catch (_) { /* no context then */ }
  }

  // ---- Incoming events.
  function handle(ev) {
    const pending = ev.ref !== undefined ? state.refs.get(ev.ref) : undefined;
    if (pending) state.refs.delete(ev.ref);
    // Events that came through Redis prove it is back: the "cannot reach its database"
    // hint of an earlier refusal is out of date.
    if ((ev.type === "joined" || ev.id !== undefined) && ui.composerHint.textContent === ERROR_TEXT.unavailable()) setHint("");
    switch (ev.type) {
      case "welcome": return welcomed(ev);
      case "joined": return joined(ev);
      case "left": case "pong": return;
      case "presence": {
        const ch = state.channels.get(ev.channel);
        if (ch && ch.phase === "joined") {
          ch.members = ev.truncated ? null : new Set(ev.members);
          ch.tooBig = !!ev.truncated;
          ch.stale = false;
          ch.count = ev.count;
          if (ch.name === state.active) renderHeader();
        }
        return;
      }
      case "message": return channelEvent(ev);
      case "system": return systemEvent(ev);
      case "broadcast": return broadcastEvent(ev);
      case "history_truncated": {
        const ch = state.channels.get(ev.channel);
        if (ch && ev.ref === ch.joinRef) {
          ch.truncatedRef = ev.ref;
          addLine(ch, { kind: "notice", text: "Earlier messages than these are not shown (beyond the history kept or the replay limit)." });
        }
        return;
      }
      case "error": return errorEvent(ev, pending);
      default: return;
    }
  }

  function welcomed(ev) {
    clearInterval(state.countdownTimer);
    // The backoff starts over only once a connection has lasted.
    clearTimeout(state.stableTimer);
    state.stableTimer = setTimeout(() => { state.attempts = 0; }, STABLE_MS);
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
    if (!ch || ev.ref !== ch.joinRef) return;   // the answer to an earlier, abandoned join
    ch.phase = "joined";
    ch.everJoined = true;
    ch.retries = 0;
    ch.noted = "";
    ch.count = ev.count;
    ch.members = Array.isArray(ev.members) ? new Set(ev.members) : null;
    ch.tooBig = !ch.members;
    ch.isProtected = !!ev.protected;
    ch.typedPassword = false;     // from now on a rejoin tries without it first
    if (!ch.isProtected) ch.password = "";
    ch.lock.hidden = !ch.isProtected;
    ch.joinNoticeId = ev.id || "";
    ch.lastPresence = Date.now();
    ch.stale = false;
    if (!ev.replayed) ch.log.removeAttribute("aria-busy");
    renderTabLabel(ch);
    if (ch.name === state.active) renderHeader();
    // Messages written while the join was under way go now, after our join notice.
    for (const text of ch.outbox.splice(0)) sendMessage(ch, text);
  }

  // Ids of one channel grow strictly: anything at or before the last one shown is a
  // repeat. Nothing is taken for a channel between a join and its `joined`.
  function accept(ch, ev) {
    if (ch.phase !== "joined") return false;
    if (!ev.id) return true;
    if (ch.lastId && compareIds(ev.id, ch.lastId) <= 0) return false;
    ch.lastId = ev.id;
    saveSoon();
    if (ev.id === ch.joinNoticeId) {
      ch.log.removeAttribute("aria-busy");
      resumed(ch);
    }
    return true;
  }

  // Our own join notice comes after the replay of everything since the last id, so a
  // message sent on an earlier connection that has not come back by now never arrived
  // — when the join resumed with `since` and the replay was complete. Each such text is
  // shown in the channel, and the last one goes back into the box.
  function resumed(ch) {
    const lost = state.unconfirmed.filter((u) => u.channel === ch.name && u.connection < state.connection);
    if (!lost.length) return;
    state.unconfirmed = state.unconfirmed.filter((u) => !lost.includes(u));
    const certain = ch.countReplay && ch.truncatedRef !== ch.joinRef;
    const again = (t) => ch.outbox.includes(t) || state.unconfirmed.some((u) => u.channel === ch.name && u.text === t);
    const texts = lost.map((u) => u.text).filter((t) => !again(t));
    for (const t of texts) {
      addLine(ch, { kind: "error", text: certain ? `Not delivered (the connection dropped): “${t}”` : `Maybe not delivered (the connection dropped): “${t}”` });
    }
    if (certain && texts.length) giveBack(ch, texts, "Your message did not arrive before the connection dropped: it is back in the box.", false);
  }

  // Puts undelivered texts back (nothing typed is lost): each is shown in the channel's
  // log (unless the caller already did), and they go into the box when it is this
  // channel's and free, otherwise into the channel's draft, for when it is opened.
  function giveBack(ch, texts, hint, showLines = true) {
    if (!texts.length) return;
    if (showLines) for (const t of texts) addLine(ch, { kind: "error", text: `Not sent: “${t}”` });
    const text = texts.join("\n");
    if (ch.name === state.active && !ui.composerInput.value) {
      ui.composerInput.value = text;
      autoGrow();
      state.restored = { channel: ch.name, text };
      if (hint) setHint(hint);
    } else {
      ch.draft = ch.draft ? `${ch.draft}\n${text}` : text;
    }
  }

  function channelEvent(ev) {
    const ch = state.channels.get(ev.channel);
    if (!ch || !accept(ch, ev)) return;
    if (ev.sender === state.nickname) {
      const i = state.unconfirmed.findIndex((u) => u.channel === ev.channel && u.text === ev.message);
      if (i >= 0) { state.refs.delete(state.unconfirmed[i].ref); state.unconfirmed.splice(i, 1); }
      // A text given back as undelivered that arrived after all (a slow old connection).
      const r = state.restored;
      if (r && r.channel === ev.channel && r.text === ev.message && ui.composerInput.value === r.text) {
        ui.composerInput.value = "";
        autoGrow();
        setHint("Your earlier message arrived after all.");
        state.restored = null;
      }
    }
    addLine(ch, lineFor(ev));
    if (!ev.replay || ch.countReplay) countUnread(ch);
  }

  function systemEvent(ev) {
    if (ev.event === "shutdown") {
      for (const ch of state.channels.values()) addLine(ch, { kind: "notice", text: "The server is restarting; this page will reconnect by itself." });
      return;
    }
    const ch = state.channels.get(ev.channel);
    if (!ch) return;
    if (ev.event === "count") {
      if (ch.phase !== "joined") return;
      ch.count = ev.count;
      // Quiet joins and leaves of a big channel name nobody (and may leave the count
      // as it was): ask who is there.
      ch.stale = true;
      refreshPresence(ch);
      if (ch.name === state.active) renderHeader();
      return;
    }
    if (!accept(ch, ev)) return;
    if (!ev.replay && (ev.event === "join" || ev.event === "leave")) {
      if (typeof ev.count === "number") ch.count = ev.count;
      if (ch.members && ev.nickname && !ev.quiet) {
        if (ev.event === "join") ch.members.add(ev.nickname); else ch.members.delete(ev.nickname);
      }
      if (ch.members && ch.members.size !== ch.count) refreshPresence(ch);
      if (ch.name === state.active) renderHeader();
    }
    if (ev.quiet) return;
    addLine(ch, lineFor(ev));
  }

  // The member list of the channel on screen, asked for at most every 5 s when the
  // notices cannot keep it right (big channels, counts that disagree).
  function refreshPresence(ch) {
    if (ch.name !== state.active || ch.phase !== "joined") return;
    if (!ch.stale && ch.members && ch.members.size === ch.count) return;
    // Paced by size (a list of hundreds of names is not asked for every few seconds by
    // every member); too big to list: once a minute (it may have shrunk).
    const pace = ch.tooBig ? 60000 : ch.count > 100 ? 30000 : 5000;
    const wait = ch.lastPresence + pace - Date.now();
    if (wait > 0) {
      if (!ch.presenceTimer) ch.presenceTimer = setTimeout(() => { ch.presenceTimer = 0; refreshPresence(ch); }, wait);
      return;
    }
    ch.lastPresence = Date.now();
    send({ op: "presence", channel: ch.name });
  }

  function broadcastEvent(ev) {
    if (ev.id) {
      if (state.broadcastsSeen.has(ev.id)) return;
      state.broadcastsSeen.add(ev.id);
      if (state.broadcastsSeen.size > 500) state.broadcastsSeen.delete(state.broadcastsSeen.values().next().value);
    }
    // Shown in every open tab (it is for everyone); it raises no unread badge.
    for (const ch of state.channels.values()) addLine(ch, lineFor(ev));
  }

  function errorEvent(ev, pending) {
    const text = errorText(ev);
    // Leaving something the server no longer had; a ping or presence refused in passing.
    if (pending && (pending.op === "leave" || pending.op === "ping" || pending.op === "presence")) return;
    if (pending && pending.op === "join") return joinRefused(ev, pending, text);
    if (ev.code === "invalid_nickname") {
      state.fatal = text;    // the server closes next; back to the nickname form
      return;
    }
    const name = ev.channel || (pending && pending.channel);
    const ch = (name && state.channels.get(name)) || state.channels.get(state.active);
    if (pending && pending.op === "send") {
      state.unconfirmed = state.unconfirmed.filter((u) => u.ref !== ev.ref);
      // The message was not delivered: give its text back.
      const target = pending.channel && state.channels.get(pending.channel);
      if (ch) addLine(ch, { kind: "error", text });
      if (pending.text && target) giveBack(target, [pending.text]);
      setHint(text);
      return;
    }
    if (ch) addLine(ch, { kind: "error", text, alert: true });
  }

  function joinRefused(ev, pending, text) {
    const ch = state.channels.get(pending.channel);
    if (!ch || ev.ref !== ch.joinRef) return;          // a join that was abandoned meanwhile
    if (ev.code === "already_joined") {                // the server has us: take it as joined
      ch.phase = "joined";
      ch.everJoined = true;
      ch.stale = true;
      ch.lastPresence = 0;
      ch.log.removeAttribute("aria-busy");
      refreshPresence(ch);
      if (ch.name === state.active) renderHeader();
      for (const t of ch.outbox.splice(0)) sendMessage(ch, t);
      return;
    }
    if (ev.code === "wrong_password" && ch.password && !ch.typedPassword && !pending.withPassword) {
      // A rejoin of a protected channel went without the password (see join): now with it.
      ch.phase = "idle";
      ch.withPassword = true;
      join(ch);
      return;
    }
    if (ev.code === "wrong_password") {
      // Whatever was written while this join was under way was not sent: give it back.
      // (Someone typing in the composer right now keeps the focus: their next keys must
      // not land in the password field, and Enter send the message's text as a password.)
      const writing = document.activeElement === ui.composerInput && ui.composerInput.value !== "";
      giveBack(ch, ch.outbox.splice(0), "Not sent: you were not in the channel yet. Your message is back in the box.");
      // The tab stays, with a password field in it.
      ch.phase = "locked";
      ch.password = "";
      ch.typedPassword = false;
      ch.log.removeAttribute("aria-busy");
      ch.lockForm.hidden = false;
      ch.isProtected = true;
      ch.lock.hidden = false;
      renderTabLabel(ch);
      addLine(ch, { kind: "error", text, alert: true });
      if (ch.name === state.active) {
        renderHeader();
        if (!writing) ch.lockInput.focus();
      }
      return;
    }
    // A channel that was open before (this connection or before a reload) waits out
    // passing refusals: our own earlier connection still holding the nickname, a
    // burst of password checks, Redis away.
    // (A join the user asked for on an earlier connection counts as open: its refusal
    // may come from that very connection, not yet timed out.)
    const wasOpen = ch.everJoined || ch.restored || ch.askedOn < state.connection;
    if (wasOpen && TEMPORARY.has(ev.code) && (ev.code !== "nickname_taken" || ch.retries < GHOST_RETRIES)) {
      const ghost = ev.code === "nickname_taken";
      const why = ghost ? "Waiting for your previous connection to time out before rejoining…"
        : ev.code === "unavailable" ? `${text} Rejoining by itself.` : "Rejoining in a moment…";
      // A join refused for the nickname got past the password check, so the channel has
      // members: the retry may carry the password without any risk of protecting it.
      if (ghost && pending.withPassword) ch.withPassword = true;
      return retryLater(ch, why, ghost);   // (what was written meanwhile waits in the outbox)
    }
    // Refused: the tab goes, and the join form says why — with anything written for it,
    // which must not stay in the box to be sent to the next channel on screen.
    const held = ch.outbox.splice(0);
    ch.phase = "idle";
    const userAction = !wasOpen;
    const unsent = held.length ? ` Not sent: ${held.map((t) => `“${t}”`).join(", ")}.` : "";
    if (ev.code === "nickname_taken" && ch.atSignIn && !ch.everJoined) {
      // The nickname just picked is in use in the channel picked with it: back to the
      // sign-in form, where it can be changed, with the reason (as for a reserved name).
      signOut(text + unsent);
      return;
    }
    closeChannel(ch.name);
    showJoinError((wasOpen ? `#${ch.name}: ${text}` : text) + unsent);
    if (userAction) ui.joinChannel.focus();
  }

  // ---- Rendering.
  function lineFor(ev, extraClass) {
    let kind;
    if (ev.type === "message") kind = ev.sender === state.nickname ? "message mine" : "message";
    else if (ev.type === "broadcast") kind = "broadcast";
    else kind = `system ${ev.event || ""}`;
    const line = { kind: extraClass ? `${kind} ${extraClass}` : kind, text: ev.message, ts: ev.ts };
    if (ev.type !== "system") { line.sender = ev.sender; if (ev.type === "broadcast") line.label = "to everyone"; }
    return line;
  }

  function render(line) {
    const li = el("li", { class: `line ${line.kind}` });
    if (line.ts) {
      const d = new Date(line.ts);
      li.append(el("time", { datetime: d.toISOString(), title: d.toLocaleString() }, d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })));
    }
    if (line.sender !== undefined) {
      const who = el("span", { class: "sender", dir: "auto" }, line.sender);
      who.style.color = nickColor(line.sender);
      li.append(who);
      if (line.label) li.append(el("span", { class: "label" }, line.label));
    }
    li.append(el("span", { class: "text", dir: "auto" }, line.text));
    if (line.alert) li.setAttribute("role", "alert");
    return li;
  }

  function addLine(ch, line) {
    if (!ch) return;
    ch.log.append(render(line));
    while (ch.log.childElementCount > MAX_LINES) ch.log.firstElementChild.remove();
    if (ch.atEnd && !ch.panel.hidden) ch.log.scrollTop = ch.log.scrollHeight;
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
    renderUnread();
  }
  function renderUnread() {
    let total = 0;
    for (const ch of state.channels.values()) {
      ch.badge.hidden = ch.unread === 0;
      ch.badge.textContent = ch.unread > 99 ? "99+" : String(ch.unread);
      renderTabLabel(ch);
      total += ch.unread;
    }
    document.title = total ? `(${total}) Chat` : "Chat";
  }
  function renderTabLabel(ch) {
    const parts = [];
    if (ch.isProtected) parts.push("protected");
    if (ch.unread) parts.push(`${ch.unread} unread`);
    ch.tabLabel.textContent = parts.length ? `, ${parts.join(", ")}` : "";
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
    if (ch.phase !== "joined") {
      ui.membersNote.hidden = false;
      ui.membersNote.textContent = state.parked ? "Open in another tab." : ch.phase === "locked" ? "Enter the password to join."
        : ch.everJoined ? "Rejoining…" : "Joining…";
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

  function setHint(text) {
    if (ui.composerHint.textContent === text) return;
    ui.composerHint.textContent = text;
    keepEndInView();
  }

  const HINT_OFFLINE = "Not connected: messages cannot be sent until the connection is back.";
  const HINT_NO_CHANNEL = "Join a channel to write.";
  const HINT_PARKED = "This chat is in use in another tab: choose “Use it here” to write here.";
  function updateComposer() {
    const ch = state.channels.get(state.active);
    const ready = state.phase === "open" && ch && (ch.phase === "joined" || ch.phase === "joining");
    ui.composerInput.setAttribute("aria-disabled", ready ? "false" : "true");
    if (state.parked) setHint(HINT_PARKED);
    else if (state.phase !== "open") setHint(HINT_OFFLINE);
    else if (!ch) setHint(HINT_NO_CHANNEL);
    else if (!ready) setHint(ch.phase === "locked" ? `#${ch.name} needs its password first.` : `Rejoining #${ch.name}…`);
    else if ([HINT_OFFLINE, HINT_NO_CHANNEL, HINT_PARKED].includes(ui.composerHint.textContent) || /^(Rejoining #|#.* needs its password)/.test(ui.composerHint.textContent)) setHint("");
  }

  // A stable, readable colour per nickname.
  function nickColor(name) {
    let h = 0;
    for (const c of String(name)) h = (h * 31 + c.codePointAt(0)) >>> 0;
    return `hsl(${h % 360} 60% var(--nick-lightness))`;
  }

  // ---- Sending.
  function submitMessage() {
    // A lone half of a surrogate pair (a broken emoji) is not valid UTF-8: the server
    // could not read the message. Replace it, as browsers do when they encode text.
    const text = ui.composerInput.value.toWellFormed ? ui.composerInput.value.toWellFormed() : ui.composerInput.value;
    const ch = state.channels.get(state.active);
    if (!text.trim()) { if (text) setHint("The message is empty."); return; }
    if (!ch) { setHint(HINT_NO_CHANNEL); return; }
    if ([...text].length > state.maxLength) { setHint(ERROR_TEXT.message_too_long()); return; }
    if (state.phase !== "open") { setHint("Not connected: your message was not sent. It is still in the box."); return; }
    if (ch.phase !== "joined" && ch.phase !== "joining") { updateComposer(); return; }
    if (ch.phase === "joining") {
      // Held here until the join is through (and given back if it is refused).
      if (ch.outbox.length >= 20) { setHint("Still joining: wait a moment."); return; }
      ch.outbox.push(text);
    } else if (!sendMessage(ch, text)) {
      return;
    }
    ui.composerInput.value = "";
    setHint("");
    autoGrow();
  }

  function sendMessage(ch, text) {
    const ref = send({ op: "send", channel: ch.name, message: text }, { text });
    if (!ref) return false;
    state.unconfirmed.push({ ref, connection: state.connection, channel: ch.name, text, at: Date.now(), sent: Date.now() });
    if (state.unconfirmed.length > 50) state.unconfirmed.shift();
    return true;
  }

  function autoGrow() {
    const box = ui.composerInput;
    const max = parseFloat(getComputedStyle(box).maxHeight) || 160;
    box.style.height = "auto";
    box.style.height = `${Math.min(box.scrollHeight + 2, max)}px`;
    box.style.overflowY = box.scrollHeight + 2 > max ? "auto" : "hidden";
    keepEndInView();
  }

  // The composer or a hint below the log grew: the log is shorter, so keep its newest
  // lines in view if that is where the reader was.
  function keepEndInView() {
    const ch = state.channels.get(state.active);
    if (ch && ch.atEnd) scrollToEnd(ch);
  }

  function showJoinError(text) {
    ui.joinError.textContent = text;
    if (text && narrow.matches) showJoinForm(true);
  }

  // ---- Signing in and out.
  function signIn(nickname, channels, active, parked) {
    state.nickname = nickname;
    state.signedOut = false;
    state.parked = false;
    state.attempts = 0;
    ui.login.hidden = true;
    ui.app.hidden = false;
    ui.signOut.hidden = false;
    for (const c of channels) openChannel(c.name, c);
    const first = state.channels.keys().next();
    activate(active && state.channels.has(active) ? active : first.value, false);
    if (parked) {
      park("This chat is open in another tab of this browser.", false);
    } else {
      save();
      connect();
      // Channels picked now are asked for on this connection (refusals are final).
      for (const ch of state.channels.values()) if (!ch.restored) ch.askedOn = state.connection;
      announce("take");
    }
    ui.composerInput.focus();
  }

  // ---- One session per browser: a second tab would fight the first over the nickname
  // (nickname_taken) and the stored channel list, so only one tab is connected; the
  // other offers to take over.
  const pageId = Math.random().toString(36).slice(2);
  const tabs = "BroadcastChannel" in window ? new BroadcastChannel("chat-server") : null;
  let heardOther = false;
  let takenAt = 0;
  function announce(type) {
    if (type === "take") takenAt = Date.now();
    if (tabs) tabs.postMessage({ type, from: pageId, at: takenAt });
  }
  if (tabs) {
    tabs.onmessage = (m) => {
      const msg = m.data || {};
      if (msg.from === pageId) return;
      const active = !state.signedOut && !state.parked;
      if (msg.type === "hello" && active) tabs.postMessage({ type: "here", from: pageId, to: msg.from });
      else if (msg.type === "here" && msg.to === pageId) heardOther = true;
      else if (msg.type === "take" && active && (msg.at > takenAt || (msg.at === takenAt && msg.from > pageId))) {
        // The later take wins (two tabs restoring at once must not park each other).
        park("This chat moved to another tab of this browser.");
      } else if (msg.type === "signout" && !state.signedOut) signOut("");
    };
  }

  function park(why, handOver = true) {
    if (handOver) save();                // the other tab continues from our last ids
    state.parked = true;
    clearTimeout(state.retryTimer);
    clearTimeout(state.stableTimer);
    clearInterval(state.countdownTimer);
    dropSocket();
    for (const ch of state.channels.values()) {
      clearTimeout(ch.retryTimer);
      if (ch.phase !== "locked") ch.phase = "idle";
      giveBack(ch, ch.outbox.splice(0), "");   // not sent from here later, by surprise
    }
    setPhase("idle", why);
    ui.useHere.hidden = false;
    renderHeader();
    if (handOver) announce("released");
  }

  // Taking over: the other tab parks and saves its session (channels joined or left
  // there since); this page then starts again from that stored session.
  ui.useHere.addEventListener("click", () => {
    if (!state.parked) return;
    ui.useHere.hidden = true;
    setPhase("connecting", "Taking over…");
    const reload = () => location.reload();
    const timer = setTimeout(reload, 500);
    if (tabs) tabs.addEventListener("message", (m) => { if ((m.data || {}).type === "released") { clearTimeout(timer); reload(); } });
    announce("take");
  });

  function signOut(message) {
    if (!state.signedOut) announce("signout");   // the session is forgotten in every tab
    state.signedOut = true;
    clearTimeout(state.retryTimer);
    clearTimeout(state.stableTimer);
    clearInterval(state.countdownTimer);
    clearTimeout(state.saveTimer);
    state.saveTimer = 0;
    if (state.ws) { const ws = state.ws; state.ws = null; ws.onclose = null; ws.onmessage = null; ws.close(1000); }
    for (const ch of state.channels.values()) {
      clearTimeout(ch.retryTimer);
      clearTimeout(ch.presenceTimer);
      ch.tab.remove();
      ch.panel.remove();
    }
    state.channels.clear();
    state.active = "";
    state.unconfirmed = [];
    state.refs.clear();
    state.restored = null;
    try { localStorage.removeItem(STORAGE_KEY); } catch (_) { /* ignore */ }
    ui.app.hidden = true;
    ui.login.hidden = false;
    ui.signOut.hidden = true;
    ui.useHere.hidden = true;
    state.parked = false;
    ui.me.hidden = true;
    setPhase("idle", "Not connected");
    ui.loginError.textContent = message || "";
    ui.nickname.value = state.nickname;
    ui.nickname.focus();
    document.title = "Chat";
  }

  // ---- Wiring.
  const CHANNEL_RULE = /^[\p{L}\p{N}_.\-][\p{L}\p{M}\p{N}_.\-]*$/u;
  const validChannel = (name) => CHANNEL_RULE.test(name) && [...name].length <= 64;

  ui.loginForm.addEventListener("submit", (e) => {
    e.preventDefault();
    // NFC, as the server takes names: `é` typed as e + accent is the same name.
    const nickname = ui.nickname.value.trim().normalize("NFC");
    const channel = ui.firstChannel.value.trim().replace(/^#/, "").normalize("NFC");
    if (!nickname) { ui.loginError.textContent = "Pick a nickname."; ui.nickname.focus(); return; }
    if ([...nickname].length > 32) { ui.loginError.textContent = ERROR_TEXT.invalid_nickname({ message: "longer than 32 characters" }); ui.nickname.focus(); return; }
    if (!validChannel(channel)) { ui.loginError.textContent = ERROR_TEXT.invalid_channel(); ui.firstChannel.focus(); return; }
    ui.loginError.textContent = "";
    signIn(nickname, [{ name: channel, atSignIn: true }], channel);
  });

  ui.joinForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const name = ui.joinChannel.value.trim().replace(/^#/, "").normalize("NFC");
    const password = ui.joinPassword.value;
    if (!name) { showJoinError("Type the name of a channel."); ui.joinChannel.focus(); return; }
    if (!validChannel(name)) { showJoinError(ERROR_TEXT.invalid_channel()); ui.joinChannel.focus(); return; }
    showJoinError("");
    ui.joinChannel.value = "";
    ui.joinPassword.value = "";
    ui.joinPasswordBox.open = false;
    const existing = state.channels.get(name);
    if (existing && existing.phase === "locked" && password) {
      existing.password = password;
      existing.typedPassword = true;
      existing.lockForm.hidden = true;
      existing.phase = "idle";
      join(existing);
    } else if (!existing) {
      openChannel(name, { password });
    }
    activate(name, false);
    if (narrow.matches) showJoinForm(false);
    ui.composerInput.focus();
  });

  ui.composer.addEventListener("submit", (e) => { e.preventDefault(); submitMessage(); });
  ui.composerInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); submitMessage(); }
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
  const orient = () => ui.tabs.setAttribute("aria-orientation", narrow.matches ? "horizontal" : "vertical");
  narrow.addEventListener("change", () => { orient(); if (!narrow.matches) { showMembers(false, false); showJoinForm(true); } else showJoinForm(false); });
  orient();

  ui.leave.addEventListener("click", () => {
    if (state.active) closeChannel(state.active);
    (state.active ? ui.composerInput : ui.joinChannel).focus();
  });

  // Small screens: the member list is an overlay (the rest inert while it is open) and
  // the join form folds away.
  function showMembers(open, moveFocus = true) {
    state.membersOpen = open;
    ui.members.classList.toggle("open", open);
    ui.membersToggle.setAttribute("aria-expanded", String(open));
    const modal = open && narrow.matches;
    ui.sidebar.inert = modal;
    ui.conversation.inert = modal;
    if (moveFocus) (open ? ui.membersClose : ui.membersToggle).focus();
  }
  function showJoinForm(open) {
    ui.joinForm.classList.toggle("folded", !open);
    ui.joinToggle.setAttribute("aria-expanded", String(open));
  }
  ui.membersToggle.addEventListener("click", () => showMembers(!state.membersOpen));
  ui.membersClose.addEventListener("click", () => showMembers(false));
  ui.joinToggle.addEventListener("click", () => {
    const open = ui.joinForm.classList.contains("folded");
    showJoinForm(open);
    if (open) ui.joinChannel.focus();
  });
  showJoinForm(!narrow.matches);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && state.membersOpen) showMembers(false); });

  ui.signOut.addEventListener("click", () => signOut(""));
  ui.reconnectNow.addEventListener("click", () => { if (!state.signedOut && !state.parked) connect(); });
  // Coming back (network, a phone waking up, a tab restored): check the connection now.
  const wake = () => {
    if (state.signedOut || state.parked) return;
    if (state.phase === "waiting" || state.phase === "offline") return connect();
    state.pingSentAt = 0;   // a ping pending from before a freeze is not an unanswered one
    probe();
  };
  window.addEventListener("online", wake);
  window.addEventListener("offline", () => {
    if (state.phase === "waiting") setPhase("offline", "Offline: waiting for the network.");
    else probe();
  });
  window.addEventListener("pageshow", (e) => {
    if (!e.persisted || state.signedOut || state.parked) return;
    // Back from the back/forward cache: another tab may have the session by now.
    heardOther = false;
    announce("hello");
    setTimeout(() => {
      if (heardOther) park("This chat is open in another tab of this browser.", false);
      else { announce("take"); wake(); }
    }, TAB_WAIT_MS);
  });
  window.addEventListener("pagehide", save);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return save();
    const ch = state.channels.get(state.active);
    if (ch) { ch.unread = 0; renderUnread(); }
    wake();
  });
  window.addEventListener("resize", () => {
    const ch = state.channels.get(state.active);
    if (ch && ch.atEnd) scrollToEnd(ch);
  });

  // A returning visitor continues where they were: same nickname, same channels, each
  // resumed after the last event this browser showed.
  // (If another tab of this browser already has this session, this one waits.)
  const saved = restore();
  if (saved && saved.nickname && saved.channels.length) {
    ui.nickname.value = saved.nickname;
    ui.login.hidden = true;
    announce("hello");
    setTimeout(() => {
      signIn(saved.nickname, saved.channels.map((c) => ({ ...c, restored: true })), saved.active, heardOther);
      renderHeader();
    }, tabs ? TAB_WAIT_MS : 0);
  } else {
    ui.nickname.focus();
  }
  renderHeader();

  // For tests and the curious: a read-only view of the connection.
  window.chatClient = Object.freeze({
    get phase() { return state.phase; },
    get parked() { return state.parked; },
    get nickname() { return state.nickname; },
    lastId: (name) => (state.channels.get(name) || {}).lastId || "",
    channelPhase: (name) => (state.channels.get(name) || {}).phase || "",
  });
})();
